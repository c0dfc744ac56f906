/*
 * Logging to syslog (SPEC 9, 11): RFC 3164 messages on a Unix datagram
 * socket ("<PRI>Mmm dd hh:mm:ss usherd[PID]: text") and over UDP (the host
 * name after the time stamp); PRI = facility * 8 + severity; warnings and
 * errors keep their word; nothing goes to stderr; an unreachable target is
 * reported once on stderr while usherd keeps serving, and its return is
 * logged with the number of lines lost; a reload moves the log.
 *
 * The syslog servers are the harness's collectors (h_syslog_start), one
 * message per line in a file.
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOCAL3 (19 * 8)
#define DAEMON (3 * 8)

/* A collector on DIR/NAME (Unix) or on a UDP port ("udp"), logging into DIR/NAME.log. */
static struct h_syslog *collector(const char *kind_or_name)
{
    char addr[400], file[400];

    if (strcmp(kind_or_name, "udp") == 0)
        snprintf(addr, sizeof(addr), "udp://127.0.0.1:0");
    else
        snprintf(addr, sizeof(addr), "unix:%s/%s", h_tmpdir(), kind_or_name);
    snprintf(file, sizeof(file), "%s/%s.log", h_tmpdir(), kind_or_name);
    return h_syslog_start(addr, file);
}

/* A foreground usherd logging to `target` with `facility` (NULL: none set):
 * echo on TCP and on DIR/echo.sock.  Waits for its "ready" in `file`. */
static struct h_daemon *start_logging(const char *target, const char *facility,
                                      const struct h_syslog *wait_in)
{
    char conf[1024];
    struct h_daemon *d;

    snprintf(conf, sizeof(conf),
             "[global]\nlog = %s\n%s%s%s[echo]\nlisten = tcp://127.0.0.1:0 unix:@DIR@/echo.sock\n"
             "builtin = echo\n",
             target, facility ? "log_facility = " : "", facility ? facility : "",
             facility ? "\n" : "");
    d = h_spawn(conf, NULL);
    if (wait_in != NULL && !h_wait_file(wait_in->file, "]: ready: ", 1, 10000))
        T_FAIL("no ready line in the syslog within 10 s; stderr:\n%s\nsyslog:\n%s", h_log(d),
               h_read_file(wait_in->file));
    return d;
}

/* Does every line of `text` match `pattern` (extended regex)?  Fails on the first that does not. */
static int check_lines(const char *text, const char *pattern)
{
    char *copy = strdup(text), *save = NULL;
    regex_t re;
    int n = 0;

    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
        T_FAIL("bad pattern %s", pattern);
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (regexec(&re, line, 0, NULL, 0) != 0)
            T_FAIL("syslog line \"%s\" does not match %s", line, pattern);
        n++;
    }
    regfree(&re);
    free(copy);
    return n;
}

/* "Mmm dd" of today, as RFC 3164 writes it ("Nov  1"). */
static void today(char *buf, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;

    localtime_r(&now, &tm);
    strftime(buf, cap, "%b %e", &tm);
}

/* A short echo connection (each logs one line when it ends). */
static void one_connection(const struct h_daemon *d)
{
    char addr[400], buf[8];
    int fd;

    snprintf(addr, sizeof(addr), "unix:%s/echo.sock", d->dir);
    fd = h_connect(addr);
    T_EQ_INT(h_stream_exchange(fd, "ping", 4, buf, sizeof(buf), 5000), 4);
    close(fd);
}

/* --- format -------------------------------------------------------------------- */

static void test_unix_target_gets_rfc3164_messages(void)
{
    /* Scenario: log = syslog:unix:PATH (a test socket), log_facility =
     * local3; a connection; SIGTERM.  Asserted: every message matches
     * "<158>Mmm dd hh:mm:ss usherd[PID]: TEXT" (local3 * 8 + info 6, PID
     * usherd's, today's date), among them the listening lines with their
     * addresses, the connection line and "stopped". */
    struct h_syslog *s = collector("log.sock");
    struct h_daemon *d = start_logging(s->target, "local3", s);
    char pattern[256], day_before[16], day_after[16], *text;
    long pid = d->pid; /* d->pid is 0 once it is reaped */
    int n;

    today(day_before, sizeof(day_before));
    one_connection(d);
    T_EQ_INT(h_stop(d), 0);
    T_ASSERT(h_wait_file(s->file, "]: stopped", 1, 2000));
    today(day_after, sizeof(day_after));
    snprintf(pattern, sizeof(pattern),
             "^<%d>[A-Z][a-z]{2} [ 123][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] usherd\\[%ld\\]: "
             "[^ ].*$",
             LOCAL3 + 6, pid);
    text = h_read_file(s->file);
    n = check_lines(text, pattern);
    t_note("%d messages, first: %.*s", n, (int)strcspn(text, "\n"), text);
    if (strncmp(text + strcspn(text, ">") + 1, day_before, strlen(day_before)) != 0 &&
        strncmp(text + strcspn(text, ">") + 1, day_after, strlen(day_after)) != 0)
        T_FAIL("the first message is not dated today (%s): %s", day_after, text);
    T_CONTAINS(h_file_line(s->file, "listening service=echo addr=tcp://127.0.0.1:"),
               "]: listening service=echo addr=tcp://127.0.0.1:");
    T_ASSERT(h_file_line(s->file, "]: listening service=echo addr=unix:") != NULL);
    T_ASSERT(h_file_line(s->file, "]: service=echo proto=unix ") != NULL);
    T_ASSERT(h_file_line(s->file, "]: stopped") != NULL);
    free(text);
}

static void test_udp_target_adds_host_name(void)
{
    /* Scenario: log = syslog:udp://127.0.0.1:PORT (a test UDP socket),
     * log_facility = local3.  Asserted: every message matches
     * "<158>Mmm dd hh:mm:ss HOSTNAME usherd[PID]: TEXT", HOSTNAME this
     * host's name and PID usherd's; the listening lines are there. */
    struct h_syslog *s = collector("udp");
    struct h_daemon *d = start_logging(s->target, "local3", s);
    char host[256], pattern[512];

    T_ASSERT(gethostname(host, sizeof(host)) == 0);
    snprintf(pattern, sizeof(pattern),
             "^<%d>[A-Z][a-z]{2} [ 123][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] %s "
             "usherd\\[%ld\\]: [^ ].*$",
             LOCAL3 + 6, host, (long)d->pid);
    t_note("%d messages from %s", check_lines(h_read_file(s->file), pattern), s->addr);
    T_ASSERT(h_file_line(s->file, "]: listening service=echo addr=tcp://127.0.0.1:") != NULL);
    T_ASSERT(h_file_line(s->file, "]: listening service=echo addr=unix:") != NULL);
}

static void test_default_facility_is_daemon(void)
{
    /* Scenario: log = syslog:unix:PATH and no log_facility.  Asserted: the
     * info messages carry <30> (daemon 3 * 8 + info 6). */
    struct h_syslog *s = collector("log.sock");
    struct h_daemon *d = start_logging(s->target, NULL, s);
    char prefix[16];

    (void)d;
    snprintf(prefix, sizeof(prefix), "<%d>", DAEMON + 6);
    T_ASSERT(strncmp(h_file_line(s->file, "]: listening service=echo addr=tcp"), prefix,
                     strlen(prefix)) == 0);
    T_ASSERT(strncmp(h_file_line(s->file, "]: ready: "), prefix, strlen(prefix)) == 0);
}

static void test_errors_have_severity_err_and_keep_their_word(void)
{
    /* Scenario: local3; the file is replaced by one with an unknown key on
     * line 3; SIGHUP.  Asserted: "<155>... usherd[PID]: error: reload
     * failed: the configuration in force stays" and "<155>... error:
     * FILE:3: unknown key 'bogus'" (local3 * 8 + err 3). */
    struct h_syslog *s = collector("log.sock");
    struct h_daemon *d = start_logging(s->target, "local3", s);
    char text[1024], want[PATH_MAX + 100], real[PATH_MAX], *line;

    snprintf(text, sizeof(text), "[global]\nlog = %s\nbogus = 1\n", s->target);
    h_write_file(d->conf_path, text);
    h_kill(d, SIGHUP);
    T_ASSERT(realpath(d->conf_path, real) != NULL);
    snprintf(want, sizeof(want), "]: error: %s:3: unknown key 'bogus'", real);
    if (!h_wait_file(s->file, want, 1, 5000))
        T_FAIL("no \"%s\" in the syslog:\n%s", want, h_read_file(s->file));
    line = h_file_line(s->file, "]: error: reload failed: the configuration in force stays");
    T_ASSERT(line != NULL);
    T_ASSERT(strncmp(line, "<155>", 5) == 0);
    T_ASSERT(strncmp(h_file_line(s->file, want), "<155>", 5) == 0);
}

static void test_warnings_have_severity_warning_and_keep_their_word(void)
{
    /* Scenario: local3, no pidfile; a reload to a file that sets one (a
     * change that waits for the next start: usherd warns).  Asserted: the
     * warning arrives as "<156>... usherd[PID]: warning: pidfile: ..."
     * (local3 * 8 + warning 4). */
    struct h_syslog *s = collector("log.sock");
    struct h_daemon *d = start_logging(s->target, "local3", s);
    char text[1024], *line;

    snprintf(text, sizeof(text),
             "[global]\nlog = %s\nlog_facility = local3\npidfile = %s/later.pid\n"
             "[echo]\nlisten = tcp://127.0.0.1:0 unix:%s/echo.sock\nbuiltin = echo\n",
             s->target, d->dir, d->dir);
    h_write_file(d->conf_path, text);
    h_kill(d, SIGHUP);
    if (!h_wait_file(s->file, "]: warning: pidfile: ", 1, 5000))
        T_FAIL("no pidfile warning in the syslog:\n%s", h_read_file(s->file));
    line = h_file_line(s->file, "]: warning: pidfile: ");
    T_ASSERT(strncmp(line, "<156>", 5) == 0);
}

static void test_nothing_goes_to_stderr(void)
{
    /* Scenario: a foreground usherd logging to a reachable syslog socket;
     * start, a connection, SIGUSR1, SIGTERM.  Asserted: its stderr stays
     * empty; the syslog has the connection and the stats. */
    struct h_syslog *s = collector("log.sock");
    struct h_daemon *d = start_logging(s->target, NULL, s);
    char *err;

    one_connection(d);
    h_kill(d, SIGUSR1);
    T_ASSERT(h_wait_file(s->file, "]: stats service=echo ", 1, 5000));
    T_EQ_INT(h_stop(d), 0);
    T_ASSERT(h_file_line(s->file, "]: service=echo proto=unix ") != NULL);
    err = h_log(d);
    T_EQ_STR(err, "");
    free(err);
}

/* --- an unreachable target ----------------------------------------------------- */

static void test_unreachable_target_at_start_warns_once_and_serves(void)
{
    /* Scenario: log = syslog:unix:PATH where nothing listens; five
     * connections (each would log a line).  Asserted: stderr has exactly
     * one line, "usherd: warning: log target syslog:unix:PATH unreachable:
     * No such file or directory; messages are lost until it is back"; the
     * connections were served; SIGTERM: exit 0. */
    char target[400], want[600], sock[400];
    struct h_daemon *d;
    int64_t until;
    int fd = -1;

    snprintf(target, sizeof(target), "syslog:unix:%s/nobody.sock", h_tmpdir());
    d = start_logging(target, NULL, NULL);
    snprintf(sock, sizeof(sock), "unix:%s/echo.sock", d->dir);
    /* Nothing says "ready" where we can read it: wait for the socket. */
    for (until = h_now_ms() + 5000 * (int64_t)t_scale(); fd < 0; usleep(5000)) {
        fd = h_connect_raw(sock);
        if (fd < 0 && h_now_ms() > until)
            T_FAIL("%s not served within 5 s; stderr:\n%s", sock, h_log(d));
    }
    close(fd);
    for (int i = 0; i < 5; i++)
        one_connection(d);
    snprintf(want, sizeof(want),
             "usherd: warning: log target %s unreachable: No such file or directory; messages "
             "are lost until it is back\n",
             target);
    T_EQ_STR(h_log(d), want);
    T_EQ_INT(h_stop(d), 0);
    T_EQ_STR(h_log(d), want);
}

static void test_lost_target_is_reported_once_and_its_return_logged(void)
{
    /* Scenario: usherd logs to a syslog socket; the syslog daemon goes away
     * (socket closed and removed); five connections; it comes back on the
     * same path; connections go on until usherd notices (it retries at
     * most once a second).  Asserted: stderr got exactly one warning,
     * "usherd: warning: log target TARGET unreachable: ...; messages are
     * lost until it is back"; the syslog then gets "<28>... warning: log
     * target TARGET reachable again; N lines were lost" with N >= 5. */
    struct h_syslog *s = collector("log.sock");
    struct h_daemon *d = start_logging(s->target, NULL, s);
    char want[600], needle[600], *line;
    long lost = -1;
    int64_t until;

    h_syslog_stop(s);
    for (int i = 0; i < 5; i++)
        one_connection(d);
    snprintf(want, sizeof(want), "usherd: warning: log target %s unreachable: ", s->target);
    if (!h_wait_log(d, want, 2000))
        T_FAIL("no \"%s\" on stderr:\n%s", want, h_log(d));
    T_EQ_INT(h_count_log(d, "unreachable"), 1);
    T_CONTAINS(h_log(d), "; messages are lost until it is back\n");
    s = collector("log.sock");
    snprintf(needle, sizeof(needle), "]: warning: log target %s reachable again; ", s->target);
    for (until = h_now_ms() + 5000 * (int64_t)t_scale(); h_count_file(s->file, needle) == 0;) {
        if (h_now_ms() > until)
            T_FAIL("no \"%s\" within 5 s of its return:\n%s", needle, h_read_file(s->file));
        one_connection(d);
        usleep(20000); /* pacing: a line every 20 ms until the retry */
    }
    line = h_file_line(s->file, needle);
    T_ASSERT(strncmp(line, "<28>", 4) == 0);
    T_ASSERT(sscanf(strstr(line, needle) + strlen(needle), "%ld lines were lost", &lost) == 1);
    t_note("%s", strstr(line, "log target"));
    T_ASSERT(lost >= 5);
    T_EQ_INT(h_count_log(d, "unreachable"), 1);
    T_ASSERT(h_alive(d));
}

static void test_reload_moves_the_log_to_a_new_target(void)
{
    /* Scenario: usherd logs to syslog socket A; the file is changed to log
     * to B; SIGHUP; a connection.  Asserted: B receives the connection line,
     * A does not. */
    struct h_syslog *a = collector("a.sock"), *b = collector("b.sock");
    struct h_daemon *d = start_logging(a->target, NULL, a);
    char text[1024];

    snprintf(text, sizeof(text),
             "[global]\nlog = %s\n[echo]\nlisten = tcp://127.0.0.1:0 unix:%s/echo.sock\n"
             "builtin = echo\n",
             b->target, d->dir);
    h_write_file(d->conf_path, text);
    h_kill(d, SIGHUP);
    /* The summary still goes to A: the log moves once the reload is done. */
    if (!h_wait_file(a->file, "]: reloaded ", 1, 5000))
        T_FAIL("no reloaded line in A:\n%s", h_read_file(a->file));
    one_connection(d);
    if (!h_wait_file(b->file, "]: service=echo proto=unix ", 1, 5000))
        T_FAIL("B got no connection line:\n%s", h_read_file(b->file));
    T_EQ_INT(h_count_file(a->file, "]: service=echo proto=unix "), 0);
}

static const struct t_case cases[] = {
    T_CASE(test_unix_target_gets_rfc3164_messages),
    T_CASE(test_udp_target_adds_host_name),
    T_CASE(test_default_facility_is_daemon),
    T_CASE(test_errors_have_severity_err_and_keep_their_word),
    T_CASE(test_warnings_have_severity_warning_and_keep_their_word),
    T_CASE(test_nothing_goes_to_stderr),
    T_CASE(test_unreachable_target_at_start_warns_once_and_serves),
    T_CASE(test_lost_target_is_reported_once_and_its_return_logged),
    T_CASE(test_reload_moves_the_log_to_a_new_target),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
