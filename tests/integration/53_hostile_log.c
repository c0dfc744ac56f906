/*
 * A log that outside bytes cannot forge (SPEC 9): what a program writes
 * to its stderr, the name a Unix peer binds to and the values of a config
 * file reach the log escaped (printable ASCII as is, "\\" for a backslash,
 * "\xhh" for every other byte), one record per event, with no terminal
 * escape and no carriage return left.  Run-time warnings are rate-limited
 * per site and service, so one service's failures never hide another's,
 * and what was held back is counted on the next line.
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
     * "peer=@hostile\x1b[2J\x0ausherd: forged\\PID in=2 out=2" in one line;
     * no line starts with "usherd: forged"; the log is printable. */
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
    T_CONTAINS(log, h_fmt("proto=unixgram peer=@hostile\\x1b[2J\\x0ausherd: forged\\\\%ld in=2 "
                          "out=2\n",
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

static const struct t_case cases[] = {
    T_CASE(test_child_stderr_is_escaped),
    T_CASE(test_abstract_peer_name_is_escaped),
    T_CASE(test_config_value_is_escaped_at_check),
    T_CASE(test_config_value_is_escaped_at_reload),
    T_CASE(test_one_service_failing_never_hides_another),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
