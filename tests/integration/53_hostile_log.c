/*
 * A log that outside bytes cannot forge (SPEC 9): what a program writes
 * to its stderr, the name a Unix peer binds to and the values of a config
 * file reach the log escaped (printable ASCII as is, "\\" for a backslash,
 * "\xhh" for every other byte), one record per event, with no terminal
 * escape and no carriage return left.  Run-time warnings are rate-limited
 * per site and service, so one service's failures never hide another's,
 * and what was held back is counted on the next line.  A syslog target
 * that does not take every line never loses one uncounted: a full socket
 * and a UDP collector that is not there are both reported, with how many
 * lines were lost, once lines get through again.
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Fails the test if some line of `text` holds a byte outside printable ASCII. */
static void assert_printable(const char *text)
{
    for (const char *c = text; *c; c++)
        if (*c != '\n' && ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e))
            T_FAIL("byte 0x%02x at offset %td of the log:\n%s", (unsigned char)*c, c - text, text);
}

/* How many lines of `text` start with `prefix`. */
static int lines_starting(const char *text, const char *prefix)
{
    int n = 0;

    for (const char *line = text; *line;
         line = strchrnul(line, '\n') + (*strchrnul(line, '\n') != 0))
        if (strncmp(line, prefix, strlen(prefix)) == 0)
            n++;
    return n;
}

/* --- a program's stderr ----------------------------------------------------------- */

static void test_child_stderr_is_escaped(void)
{
    /* Scenario: an exec service (stderr = log) whose program writes to
     * stderr "a", ESC "[31m", "b", CR, "c", a backslash, "d", 0xe9, "e",
     * NUL, "f", a newline, then "forged: line" and a newline.  Asserted:
     * the log has "usherd: service=hostile pid=PID stderr:
     * a\x1b[31mb\x0dc\\d\xe9e\x00f" and, as a record of its own (a newline
     * ends a line of the program's), "... stderr: forged: line"; no line
     * starts with "forged"; the log is printable ASCII throughout. */
    struct h_daemon *d =
        h_start("[hostile]\nlisten = tcp://127.0.0.1:0\nstderr = log\n"
                "exec = /bin/sh -c 'printf \"a\\033[31mb\\rc\\\\\\\\d\\351e\\000f\\nforged: "
                "line\\n\" >&2'\n",
                NULL);
    int fd = h_connect(h_addr(d, "hostile", "tcp://127"));
    char buf[64], *line, *log;
    long long pid;

    h_recv_all(fd, buf, sizeof(buf));
    close(fd);
    line = h_wait_conn_line(d, "hostile", "end=exit:0", 5000);
    pid = h_log_field(line, "pid");
    if (!h_wait_log(d, h_fmt("service=hostile pid=%lld stderr: forged: line\n", pid), 3000))
        T_FAIL("no second stderr line:\n%s", h_log(d));
    log = h_log(d);
    T_CONTAINS(log, h_fmt("\nusherd: service=hostile pid=%lld stderr: "
                          "a\\x1b[31mb\\x0dc\\\\d\\xe9e\\x00f\n",
                          pid));
    T_EQ_INT(lines_starting(log, "forged"), 0);
    assert_printable(log);
    free(log);
}

/* --- a Unix peer's name ------------------------------------------------------------ */

static void test_abstract_peer_name_is_escaped(void)
{
    /* Scenario: a unixgram echo service, usherd at -v (each request logged
     * with its peer); a client bound to the abstract name "hostile" ESC
     * "[2J" newline "usherd: forged" backslash PID sends a request.
     * Asserted: it gets its echo; the log has
     * "peer=@hostile\x1b[2J\x0ausherd:\x20forged\\PID in=2 out=2" in one
     * line (a name the client chose is one word of its field: its space is
     * escaped too); no line starts with "usherd: forged"; the log is
     * printable. */
    struct h_daemon *d =
        h_start("[ug]\nlisten = unixgram:@DIR@/ug.sock\nbuiltin = echo\n", "-v", NULL);
    const char *addr = h_addr(d, "ug", "unixgram:");
    struct sockaddr_un me = {.sun_family = AF_UNIX}, them = {.sun_family = AF_UNIX};
    char name[64], buf[16], *log;
    int fd, len;

    len = snprintf(name, sizeof(name), "hostile\x1b[2J\nusherd: forged\\%ld", (long)getpid());
    memcpy(me.sun_path + 1, name, (size_t)len); /* sun_path[0] = 0: abstract */
    str_copy(them.sun_path, sizeof(them.sun_path), addr + strlen("unixgram:"));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    T_ASSERT(fd >= 0);
    if (bind(fd, (struct sockaddr *)&me,
             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len)) < 0)
        T_FAIL("bind to the abstract name: %s", strerror(errno));
    T_ASSERT(connect(fd, (struct sockaddr *)&them, sizeof(them)) == 0);
    T_ASSERT(send(fd, "hi", 2, 0) == 2);
    T_EQ_INT(h_recv_within(fd, buf, sizeof(buf), 3000), 2);
    close(fd);
    if (!h_wait_log(d, " in=2 out=2", 3000))
        T_FAIL("no request line:\n%s", h_log(d));
    log = h_log(d);
    T_CONTAINS(log, h_fmt("proto=unixgram peer=@hostile\\x1b[2J\\x0ausherd:\\x20forged\\\\%ld "
                          "in=2 out=2\n",
                          (long)getpid()));
    T_EQ_INT(lines_starting(log, "usherd: forged"), 0);
    assert_printable(log);
    free(log);
}

/* --- values of a config file --------------------------------------------------------- */

/* A service whose builtin is ESC "[31mecho", a backslash, CR, "é" (UTF-8) and "x". */
static const char bad_builtin[] =
    "[bad]\nlisten = tcp://127.0.0.1:0\nbuiltin = \x1b[31mecho\\\r\xc3\xa9x\n";
static const char bad_builtin_said[] =
    ":3: builtin: unknown service '\\x1b[31mecho\\\\\\x0d\\xc3\\xa9x'";

static void test_config_value_is_escaped_at_check(void)
{
    /* Scenario: usherd -t on a file whose builtin value holds ESC, a
     * backslash, CR and a UTF-8 "é".  Asserted: exit 2; the output has
     * the error with the value escaped; it is printable. */
    char *out;

    T_EQ_INT(h_usherd_run(bad_builtin, &out, "-t", NULL), 2);
    assert_printable(out);
    T_CONTAINS(out, bad_builtin_said);
    free(out);
}

static void test_config_value_is_escaped_at_reload(void)
{
    /* Scenario: a running usherd; its file is replaced by the one above;
     * SIGHUP.  Asserted: the log has "reload failed" and "usherd: error:
     * FILE:3: builtin: unknown service '\x1b[31mecho\\\x0d\xc3\xa9x' ..." in one
     * line; the log is printable. */
    struct h_daemon *d = h_start("[ok]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", NULL);
    char *log;

    h_write_file(d->conf_path, bad_builtin);
    h_kill(d, SIGHUP);
    if (!h_wait_log(d, bad_builtin_said, 5000))
        T_FAIL("no escaped error after the reload:\n%s", h_log(d));
    log = h_log(d);
    T_CONTAINS(log, "usherd: error: reload failed: the configuration in force stays\n");
    assert_printable(log);
    free(log);
}

/* --- rate limits per site and service ---------------------------------------------- */

/* A connection to `addr` that the daemon takes and closes (its program did not start). */
static void knock(const struct h_daemon *d, const char *svc, int nth)
{
    char buf[16];
    int fd = h_connect(h_addr(d, svc, "tcp://127"));

    h_recv_all(fd, buf, sizeof(buf));
    close(fd);
    if (!h_wait_log_count(d, h_fmt("usherd: service=%s proto=tcp ", svc), nth, 5000))
        T_FAIL("connection %d of %s not logged:\n%s", nth, svc, h_log(d));
}

/* The N of "(N more suppressed)" summed over the lines holding `needle`; *lines gets their count.
 */
static long suppressed_sum(const char *log, const char *needle, int *lines)
{
    long sum = 0;

    *lines = 0;
    for (const char *p = strstr(log, needle); p != NULL; p = strstr(p + 1, needle)) {
        const char *eol = strchrnul(p, '\n'), *open = strstr(p, " (");
        long n;
        (*lines)++;
        if (open != NULL && open < eol && sscanf(open, " (%ld more suppressed)", &n) == 1)
            sum += n;
    }
    return sum;
}

static void test_one_service_failing_never_hides_another(void)
{
    /* Scenario: two exec services whose programs exist and run when usherd
     * starts; then one program is removed (exec fails: ENOENT) and the
     * other made non-executable (EACCES); a connection to each, at once.
     * Asserted: both warnings are logged ("service=missing pid=N: unable
     * to execute ...: No such file or directory" and "service=noperm
     * pid=N: unable to execute ...: Permission denied"), though they come
     * within the same second.  Then more connections to "missing" until usherd writes
     * a line of it that ends in "(N more suppressed)": every connection is
     * either a line of its own or counted in one, none lost, and
     * "noperm"'s limiter was not touched by them. */
    const char *dir = h_tmpdir();
    char *missing = h_fmt("%s/missing.sh", dir), *noperm = h_fmt("%s/noperm.sh", dir), *log;
    struct h_daemon *d;
    int knocks = 0, lines;
    int64_t until;
    long held;

    h_write_file(missing, "#!/bin/sh\nexit 0\n");
    h_write_file(noperm, "#!/bin/sh\nexit 0\n");
    T_ASSERT(chmod(missing, 0755) == 0 && chmod(noperm, 0755) == 0);
    d = h_start(h_fmt("[missing]\nlisten = tcp://127.0.0.1:0\nexec = %s\n"
                      "[noperm]\nlisten = tcp://127.0.0.1:0\nexec = %s\n",
                      missing, noperm),
                NULL);
    T_ASSERT(unlink(missing) == 0);
    T_ASSERT(chmod(noperm, 0644) == 0);
    knock(d, "missing", ++knocks);
    knock(d, "noperm", 1);
    if (!h_wait_log(d, h_fmt(": unable to execute %s: Permission denied", noperm), 3000))
        T_FAIL("noperm's failure hidden behind missing's:\n%s", h_log(d));
    T_ASSERT(h_log_line(d, h_fmt(": unable to execute %s: No such file or directory", missing)));
    T_CONTAINS(h_log_line(d, "Permission denied"), "usherd: warning: service=noperm pid=");
    T_CONTAINS(h_log_line(d, "No such file"), "usherd: warning: service=missing pid=");
    /* A flood from one service, until its next second's line says what it held back. */
    for (until = h_now_ms() + 5000 * (int64_t)t_scale();
         h_count_log(d, "No such file or directory (") == 0;) {
        if (h_now_ms() > until)
            T_FAIL("no \"(N more suppressed)\" within 5 s:\n%s", h_log(d));
        knock(d, "missing", ++knocks);
        usleep(20000); /* pacing: a knock every 20 ms until the second is over */
    }
    log = h_log(d);
    held = suppressed_sum(log, "No such file or directory", &lines);
    t_note("%d connections to missing: %d lines, %ld suppressed", knocks, lines, held);
    T_CONTAINS(h_log_line(d, "No such file or directory ("), " more suppressed)");
    T_ASSERT(held >= 1);
    T_EQ_INT(lines + held, knocks);
    T_EQ_INT(h_count_log(d, "Permission denied"), 1);
    T_EQ_INT(h_count_log(d, "Permission denied ("), 0);
    free(log);
}

/* --- lost syslog lines are counted ---------------------------------------------------- */

/* The next datagram on `fd` within `ms` into buf (NUL-terminated); false if none came. */
static bool next_message(int fd, char *buf, size_t cap, int ms)
{
    ssize_t n = h_recv_within(fd, buf, cap - 1, ms);

    if (n < 0)
        return false;
    buf[n] = '\0';
    return true;
}

/* Read messages from `fd` until one contains `needle` (10 s bound); returns it (malloc'd). */
static char *message_with(int fd, const char *needle)
{
    char buf[4096];
    int64_t until = h_now_ms() + 10000 * (int64_t)t_scale();

    while (h_now_ms() < until)
        if (next_message(fd, buf, sizeof(buf), 500) && strstr(buf, needle) != NULL)
            return h_fmt("%s", buf);
    T_FAIL("no syslog message with \"%s\" within 10 s", needle);
}

/* A daytime connection to `addr`: the daemon sends the time and closes. */
static void daytime(const char *addr)
{
    char buf[128];
    int fd = h_connect(addr);

    h_recv_all(fd, buf, sizeof(buf));
    close(fd);
}

/* Wait until usherd `pid` holds `fds` descriptors again: every connection
 * closed, so every connection line written (or lost) before its close. */
static void wait_fds(pid_t pid, int fds)
{
    int64_t until = h_now_ms() + 5000 * (int64_t)t_scale();

    while (h_count_fds(pid) != fds) {
        if (h_now_ms() > until)
            T_FAIL("usherd holds %d descriptors, not %d, 5 s on", h_count_fds(pid), fds);
        usleep(2000);
    }
}

static void test_full_syslog_socket_loses_no_line_uncounted(void)
{
    /* Scenario: log = syslog:unix:PATH, a socket of the test's that it
     * stops reading after "ready"; 60 daytime connections, each logging a
     * line (the socket queue holds about ten); then the test reads all
     * that is queued (R connection lines) and makes one more connection.
     * Asserted: that connection's line is preceded by "warning: N log
     * lines lost (log target syslog:unix:PATH was full)" with N = 60 - R
     * exactly, N > 0; SIGUSR1's "stats log_lines_lost=N"; nothing on
     * stderr (a full socket is no outage). */
    char *path = h_fmt("%s/full.sock", h_tmpdir()), buf[4096], *listening, *addr;
    int rfd = h_listen_socket(h_fmt("unixgram:%s", path), NULL, 0), fds, got = 0;
    struct h_daemon *d = h_spawn(h_fmt("[global]\nlog = syslog:unix:%s\n"
                                       "[day]\nlisten = tcp://127.0.0.1:0\nbuiltin = daytime\n",
                                       path),
                                 NULL);
    const int conns = 60;
    long lost = -1, stats = -1;

    listening = message_with(rfd, "]: listening service=day addr=");
    addr = h_fmt("%.*s", (int)strcspn(h_after(listening, "addr="), " \n"),
                 h_after(listening, "addr="));
    free(message_with(rfd, "]: ready: "));
    fds = h_count_fds(d->pid);
    for (int i = 0; i < conns; i++)
        daytime(addr);
    wait_fds(d->pid, fds);
    while (next_message(rfd, buf, sizeof(buf), 0))
        got += strstr(buf, "]: service=day proto=tcp ") != NULL;
    t_note("%d of %d connection lines were taken", got, conns);
    T_ASSERT(got < conns);
    daytime(addr);
    T_ASSERT(next_message(rfd, buf, sizeof(buf), 5000));
    T_CONTAINS(buf, h_fmt(" log lines lost (log target syslog:unix:%s was full)", path));
    T_ASSERT(sscanf(h_after(buf, "]: "), "warning: %ld log lines lost", &lost) == 1);
    T_EQ_INT(lost, conns - got);
    T_ASSERT(next_message(rfd, buf, sizeof(buf), 5000));
    T_CONTAINS(buf, "]: service=day proto=tcp ");
    h_kill(d, SIGUSR1);
    T_ASSERT(sscanf(h_after(message_with(rfd, "]: stats log_lines_lost="), "log_lines_lost="),
                    "%ld", &stats) == 1);
    T_EQ_INT(stats, lost);
    T_EQ_STR(h_log(d), "");
}

static void test_udp_collector_missing_then_back_is_counted(void)
{
    /* Scenario: log = syslog:udp://127.0.0.1:PORT where nothing listens
     * (each datagram draws an ICMP port unreachable, which a later send
     * returns as ECONNREFUSED); daytime connections, one every 20 ms,
     * for 1.5 s past the first warning (so usherd's retry, once a second,
     * meets the absent collector too); then a collector on PORT, and
     * connections until it gets usherd's note.  Asserted: stderr has
     * exactly one "log target ... unreachable: Connection refused" line;
     * the collector gets "warning: log target syslog:udp://127.0.0.1:PORT
     * reachable again; at least N lines were lost" with N no less than the
     * connections made before the collector came, and no more than every
     * line usherd wrote until the note; SIGUSR1: "stats log_lines_lost=N"
     * (nothing lost since). */
    int port = h_free_port("udp"), tport = h_free_port("tcp"), before = 0, after = 0;
    char *target = h_fmt("syslog:udp://127.0.0.1:%d", port);
    char *addr = h_fmt("tcp://127.0.0.1:%d", tport), *needle, *line;
    struct h_daemon *d = h_spawn(h_fmt("[global]\nlog = %s\n[day]\nlisten = %s\n"
                                       "builtin = daytime\n",
                                       target, addr),
                                 NULL);
    struct h_syslog *s;
    int64_t until, down_at;
    long lost = -1, stats = -1;
    int fd = -1;

    for (until = h_now_ms() + 5000 * (int64_t)t_scale(); fd < 0; usleep(5000)) {
        fd = h_connect_raw(addr);
        if (fd < 0 && h_now_ms() > until)
            T_FAIL("%s not served within 5 s; stderr:\n%s", addr, h_log(d));
    }
    close(fd);
    needle = h_fmt("usherd: warning: log target %s unreachable: Connection refused; messages "
                   "are lost until it is back\n",
                   target);
    for (until = h_now_ms() + 5000 * (int64_t)t_scale(); h_count_log(d, needle) == 0; before++) {
        if (h_now_ms() > until)
            T_FAIL("no \"%s\" on stderr:\n%s", needle, h_log(d));
        daytime(addr);
    }
    for (down_at = h_now_ms(); h_now_ms() - down_at < 1500; before++) {
        daytime(addr);
        usleep(20000); /* pacing: past one retry of usherd's, not a line per microsecond */
    }
    s = h_syslog_start(h_fmt("udp://127.0.0.1:%d", port), h_fmt("%s/udp.log", h_tmpdir()));
    needle = h_fmt("]: warning: log target %s reachable again; at least ", target);
    for (until = h_now_ms() + 5000 * (int64_t)t_scale(); h_count_file(s->file, needle) == 0;
         after++) {
        if (h_now_ms() > until)
            T_FAIL("no \"%s\" within 5 s:\n%s", needle, h_read_file(s->file));
        daytime(addr);
        usleep(20000);
    }
    line = h_file_line(s->file, needle);
    T_ASSERT(sscanf(strstr(line, needle) + strlen(needle), "%ld lines were lost", &lost) == 1);
    t_note("%d connections before the collector, %d after; %ld lines reported lost", before, after,
           lost);
    T_ASSERT(lost >= before);
    T_ASSERT(lost <= 3 + before + after); /* starting, listening, ready, and the connections */
    h_kill(d, SIGUSR1);
    if (!h_wait_file(s->file, "]: stats log_lines_lost=", 1, 5000))
        T_FAIL("no stats line:\n%s", h_read_file(s->file));
    T_ASSERT(sscanf(h_after(h_file_line(s->file, "]: stats log_lines_lost="), "log_lines_lost="),
                    "%ld", &stats) == 1);
    T_EQ_INT(stats, lost);
    T_EQ_INT(h_count_log(d, "unreachable"), 1);
}

static const struct t_case cases[] = {
    T_CASE(test_child_stderr_is_escaped),
    T_CASE(test_abstract_peer_name_is_escaped),
    T_CASE(test_config_value_is_escaped_at_check),
    T_CASE(test_config_value_is_escaped_at_reload),
    T_CASE(test_one_service_failing_never_hides_another),
    T_CASE(test_full_syslog_socket_loses_no_line_uncounted),
    T_CASE(test_udp_collector_missing_then_back_is_counted),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
