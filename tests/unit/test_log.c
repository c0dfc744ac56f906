/*
 * Unit tests: the log (log.c): one call is one printable line whatever
 * the message holds; the rate limiter, on a fake clock; lines that a full
 * syslog socket does not take are counted and reported.
 *
 * Each case runs in a child of its own (t.c), so it may point stderr at a
 * pipe and read back what the log wrote.
 */
#include "log.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

static int log_pipe = -1; /* the read end; the write end is our stderr */

/* From now on the log's lines go into a pipe that log_text() reads. */
static void capture_stderr(void)
{
    int p[2];

    T_ASSERT(pipe2(p, O_CLOEXEC) == 0);
    T_ASSERT(dup2(p[1], STDERR_FILENO) == STDERR_FILENO);
    close(p[1]);
    T_ASSERT(fd_set_nonblock(p[0]) == 0);
    log_pipe = p[0];
    log_init("usherd");
    log_set_level(LOG_LVL_DEBUG);
}

/* What the log wrote since the last call (a static buffer). */
static const char *log_text(void)
{
    static char buf[8192];
    ssize_t n = read(log_pipe, buf, sizeof(buf) - 1);

    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

/* --- one printable line per call ------------------------------------------------- */

static void test_control_bytes_cannot_split_or_forge_a_line(void)
{
    /* A value that reached a message unescaped: its control bytes and bytes
     * above 0x7e are escaped at the last moment, its backslashes are not
     * (values escaped where they enter a message keep their one level). */
    capture_stderr();
    log_warnx("pidfile %s", "/run/a\x1b[2J\nusherd: forged\r\x7f\xe9\\x41");
    T_EQ_STR(log_text(), "usherd: warning: pidfile /run/a\\x1b[2J\\x0ausherd: "
                         "forged\\x0d\\x7f\\xe9\\x41\n");
}

static void test_escaped_values_are_not_escaped_twice(void)
{
    char value[64];

    capture_stderr();
    str_escape(value, sizeof(value), "a\\b\n", 4);
    log_info("service=x stderr: %s", value);
    T_EQ_STR(log_text(), "usherd: service=x stderr: a\\\\b\\x0a\n");
}

static void test_long_lines_are_cut_marked_and_ended(void)
{
    /* Longer than a line may be, escapes and all: cut, "...", one newline. */
    char big[3000];
    const char *text, *body;
    size_t body_len;

    capture_stderr();
    memset(big, '\x1b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_warnx("%s", big);
    text = log_text();
    T_ASSERT(strlen(text) < 2048);
    T_ASSERT(strlen(text) > 2000);
    T_EQ_STR(text + strlen(text) - 4, "...\n");
    T_ASSERT(strchr(text, '\n') == text + strlen(text) - 1);
    T_ASSERT(strchr(text, '\x1b') == NULL);
    /* No escape is cut in half before the mark. */
    body = text + strlen("usherd: warning: ");
    body_len = strlen(body) - strlen("...\n");
    T_EQ_INT(body_len % 4, 0);
    for (size_t i = 0; i < body_len; i += 4)
        T_ASSERT(strncmp(body + i, "\\x1b", 4) == 0);
}

static void test_errno_text_is_appended(void)
{
    capture_stderr();
    errno = ENOENT;
    log_warn("unable to open %s", "x");
    T_EQ_STR(log_text(), "usherd: warning: unable to open x: No such file or directory\n");
}

/* --- the rate limiter, on a fake clock --------------------------------------------- */

static void test_ratelimit_one_line_a_second_then_the_count(void)
{
    /* A flood: one line, then silence until a second has passed; the next
     * line says how many were held back. */
    struct log_ratelimit rl = {0};
    unsigned long n = 99;

    T_ASSERT(log_ratelimit(&rl, 5000, &n));
    T_EQ_INT(n, 0);
    for (int64_t t = 5001; t < 6000; t += 100)
        T_ASSERT(!log_ratelimit(&rl, t, &n));
    T_ASSERT(!log_ratelimit(&rl, 5999, &n));
    T_ASSERT(log_ratelimit(&rl, 6000, &n));
    T_EQ_INT(n, 11);
    T_ASSERT(!log_ratelimit(&rl, 6001, &n));
}

static void test_ratelimit_count_survives_a_quiet_spell(void)
{
    /* The site goes quiet after suppressing: the count waits for the next
     * line, an hour later, rather than being lost. */
    struct log_ratelimit rl = {0};
    unsigned long n;

    T_ASSERT(log_ratelimit(&rl, 1000, &n));
    T_ASSERT(!log_ratelimit(&rl, 1200, &n));
    T_ASSERT(!log_ratelimit(&rl, 1300, &n));
    T_ASSERT(log_ratelimit(&rl, 1000 + 3600 * 1000, &n));
    T_EQ_INT(n, 2);
    T_ASSERT(log_ratelimit(&rl, 1000 + 3601 * 1000, &n));
    T_EQ_INT(n, 0);
}

static void test_ratelimit_limiters_are_independent(void)
{
    /* One limiter per site and service: a flood in one leaves the other's
     * first line through at the same instant. */
    struct log_ratelimit missing = {0}, noperm = {0};
    unsigned long n;

    T_ASSERT(log_ratelimit(&missing, 7000, &n));
    T_ASSERT(!log_ratelimit(&missing, 7001, &n));
    T_ASSERT(log_ratelimit(&noperm, 7001, &n));
    T_EQ_INT(n, 0);
    T_ASSERT(!log_ratelimit(&noperm, 7002, &n));
    T_ASSERT(log_ratelimit(&missing, 8000, &n));
    T_EQ_INT(n, 1);
}

static void test_ratelimit_clock_at_zero(void)
{
    /* A fresh limiter lets the first line through whatever the clock says. */
    struct log_ratelimit rl = {0};
    unsigned long n;

    T_ASSERT(log_ratelimit(&rl, 0, &n));
    T_ASSERT(!log_ratelimit(&rl, 10, &n));
    T_ASSERT(log_ratelimit(&rl, 1000, &n));
    T_EQ_INT(n, 1);
}

static void test_suppressed_note(void)
{
    char buf[32];

    T_EQ_STR(log_suppressed_note(buf, sizeof(buf), 0), "");
    T_EQ_STR(log_suppressed_note(buf, sizeof(buf), 1), " (1 more suppressed)");
    T_EQ_STR(log_suppressed_note(buf, sizeof(buf), 4294967295UL), " (4294967295 more suppressed)");
}

/* --- lost syslog lines ----------------------------------------------------------------- */

static void test_full_syslog_socket_lines_counted_and_reported(void)
{
    /* A syslog socket nobody reads: lines past its queue are lost, each
     * counted; once it is read, the next line is preceded by one saying
     * how many, and log_lines_lost() agrees. */
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char dir[] = "/tmp/usher-log-XXXXXX", text[256], err[256], buf[4096];
    struct log_target target;
    int fd, sent = 0, got = 0;
    unsigned long before;
    ssize_t n;

    capture_stderr();
    T_ASSERT(mkdtemp(dir) != NULL);
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/log.sock", dir);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    T_ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
    snprintf(text, sizeof(text), "syslog:unix:%s", sun.sun_path);
    T_EQ_INT(log_target_parse(text, &target, err, sizeof(err)), 0);
    T_EQ_INT(log_use(&target, LOG_DAEMON), 0);
    before = log_lines_lost();
    while (log_lines_lost() == before && sent < 100000) {
        log_info("line %d", sent);
        sent++;
    }
    for (int i = 0; i < 20; i++, sent++)
        log_info("line %d", sent);
    while ((n = recv(fd, buf, sizeof(buf) - 1, 0)) > 0)
        got++;
    T_ASSERT(got > 0 && got < sent);
    T_EQ_INT(log_lines_lost() - before, (unsigned long)(sent - got));
    log_info("after");
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    T_ASSERT(n > 0);
    buf[n] = '\0';
    T_CONTAINS(buf, "]: warning: ");
    snprintf(text, sizeof(text),
             "]: warning: %d log lines lost (log target syslog:unix:%s was full)", sent - got,
             sun.sun_path);
    T_CONTAINS(buf, text);
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    T_ASSERT(n > 0);
    buf[n] = '\0';
    T_CONTAINS(buf, "]: after");
    T_EQ_INT(log_lines_lost() - before, (unsigned long)(sent - got));
    T_EQ_STR(log_text(), ""); /* a full socket is no outage: nothing on stderr */
    unlink(sun.sun_path);
    rmdir(dir);
}

static const struct t_case cases[] = {
    T_CASE(test_control_bytes_cannot_split_or_forge_a_line),
    T_CASE(test_escaped_values_are_not_escaped_twice),
    T_CASE(test_long_lines_are_cut_marked_and_ended),
    T_CASE(test_errno_text_is_appended),
    T_CASE(test_ratelimit_one_line_a_second_then_the_count),
    T_CASE(test_ratelimit_count_survives_a_quiet_spell),
    T_CASE(test_ratelimit_limiters_are_independent),
    T_CASE(test_ratelimit_clock_at_zero),
    T_CASE(test_suppressed_note),
    T_CASE(test_full_syslog_socket_lines_counted_and_reported),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
