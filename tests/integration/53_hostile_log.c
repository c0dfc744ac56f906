/*
 * A log that outside bytes cannot forge (SPEC 9): what a program writes
 * to its stderr, the name a Unix peer binds to and the values of a config
 * file reach the log escaped (printable ASCII as is, "\\" for a backslash,
 * "\xhh" for every other byte), one record per event, with no terminal
 * escape and no carriage return left.
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

static const struct t_case cases[] = {
    T_CASE(test_child_stderr_is_escaped),
    T_CASE(test_abstract_peer_name_is_escaped),
    T_CASE(test_config_value_is_escaped_at_check),
    T_CASE(test_config_value_is_escaped_at_reload),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
