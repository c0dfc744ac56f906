/*
 * wait = yes (SPEC 5, inetd semantics): the child gets the listening socket
 * itself (UDP, unixgram, TCP), usherd stops watching it until the child
 * exits and then watches it again; a reload and a stop with such a child
 * running.
 *
 * The child is tests/lib/exec_probe.c: "udp [MS]" answers one datagram
 * with "pid=N PROTO=P fds=0,1,2 got=REQUEST" and then lingers MS ms;
 * "accept" takes one connection and writes "pid=N PROTO=P fds=... listening=1".
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* [NAME] wait = yes on LISTEN running "PROBE ARGS", plus `extra` keys. */
static char *wait_conf(const char *name, const char *listen, const char *args, const char *extra)
{
    return h_fmt("[%s]\nlisten = %s\nwait = yes\nexec = %s %s\n%s", name, listen,
                 h_exec_probe(false), args, extra ? extra : "");
}

/* Send `req` on the connected datagram socket `fd`; the reply, or NULL after `ms`. */
static char *ask(int fd, const char *req, int ms)
{
    char buf[1024];
    ssize_t n;

    if (send(fd, req, strlen(req), 0) != (ssize_t)strlen(req))
        T_FAIL("send: %s", strerror(errno));
    n = h_recv_within(fd, buf, sizeof(buf) - 1, ms);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    return strdup(buf);
}

/* The pid in a probe's "pid=N ..." answer. */
static long pid_of(const char *reply)
{
    if (strncmp(reply, "pid=", 4) != 0)
        T_FAIL("not a probe's answer: \"%s\"", reply);
    return strtol(reply + 4, NULL, 10);
}

/* The rest of a probe's answer after its pid ("PROTO=UDP fds=0,1,2 got=x"). */
static const char *after_pid(const char *reply)
{
    const char *sp = strchr(reply, ' ');

    return sp ? sp + 1 : "";
}

static void test_udp_wait_serves_repeated_requests(void)
{
    /* Scenario: a wait = yes service on udp://127.0.0.1:0; five requests one
     * after another.  Asserted: each gets its answer, from a child of its
     * own (five different pids) that had exactly fds 0, 1, 2 and PROTO=UDP;
     * five exits are logged as proto=udp peer=- ... end=exit:0. */
    struct h_daemon *d = h_start(wait_conf("dg", "udp://127.0.0.1:0", "udp", NULL), NULL);
    int fd = h_connect(h_addr(d, "dg", "udp://127"));
    long pids[5];

    for (int i = 0; i < 5; i++) {
        char *req = h_fmt("request %d", i), *reply = ask(fd, req, 5000);
        if (reply == NULL)
            T_FAIL("no answer to request %d:\n%s", i, h_log(d));
        T_EQ_STR(after_pid(reply), h_fmt("PROTO=UDP fds=0,1,2 got=%s", req));
        pids[i] = pid_of(reply);
        for (int j = 0; j < i; j++)
            if (pids[j] == pids[i])
                T_FAIL("requests %d and %d answered by one child", j, i);
    }
    if (!h_wait_log_count(d, "usherd: service=dg proto=udp peer=- ", 5, 5000))
        T_FAIL("not five exit lines:\n%s", h_log(d));
    T_EQ_INT(h_count_log(d, "end=exit:0 "), 5);
}

static void test_listener_not_watched_while_child_runs(void)
{
    /* Scenario: the child answers one datagram, then lingers 1 s without
     * reading; a second datagram is sent as soon as the first answer comes.
     * Asserted: the second is answered only after the first child has gone
     * (>= ~0.8 s later) by a new child: while a child holds the socket,
     * usherd starts no other for it, readable as the socket is. */
    struct h_daemon *d = h_start(wait_conf("dg", "udp://127.0.0.1:0", "udp 1000", NULL), NULL);
    int fd = h_connect(h_addr(d, "dg", "udp://127"));
    char *first = ask(fd, "first", 5000), *second;
    int64_t t0 = h_now_ms(), took;

    if (first == NULL)
        T_FAIL("no answer to the first datagram:\n%s", h_log(d));
    second = ask(fd, "second", 5000);
    took = h_now_ms() - t0;
    if (second == NULL)
        T_FAIL("no answer to the second datagram:\n%s", h_log(d));
    if (took < 800)
        T_FAIL("second answered after %lld ms, while the first child still held the socket "
               "(pids %ld, %ld)",
               (long long)took, pid_of(first), pid_of(second));
    T_ASSERT(pid_of(first) != pid_of(second));
    T_EQ_STR(after_pid(second), "PROTO=UDP fds=0,1,2 got=second");
}

static void test_unixgram_wait_child_answers(void)
{
    /* Scenario: wait = yes on unixgram:DIR/dg.sock; a client bound to an
     * address of its own sends two datagrams.  Asserted: each is answered
     * by a child that saw PROTO=UNIX and exactly fds 0, 1, 2. */
    struct h_daemon *d = h_start(wait_conf("ug", "unixgram:@DIR@/dg.sock", "udp", NULL), NULL);
    int fd = h_connect(h_addr(d, "ug", "unixgram:"));

    for (int i = 0; i < 2; i++) {
        char *req = h_fmt("u%d", i), *reply = ask(fd, req, 5000);
        if (reply == NULL)
            T_FAIL("no answer to datagram %d:\n%s", i, h_log(d));
        T_EQ_STR(after_pid(reply), h_fmt("PROTO=UNIX fds=0,1,2 got=%s", req));
    }
}

static void test_tcp_wait_child_gets_listening_socket(void)
{
    /* Scenario: wait = yes on tcp://127.0.0.1:0; the child accepts one
     * connection itself.  Asserted: it was given the listening socket
     * (SO_ACCEPTCONN) as its fds 0-2 only, PROTO=TCP; a second connection
     * is accepted by a second child once the first has exited. */
    struct h_daemon *d = h_start(wait_conf("tw", "tcp://127.0.0.1:0", "accept", NULL), NULL);
    const char *addr = h_addr(d, "tw", "tcp://127");
    char line[256];
    long first = 0;

    for (int i = 0; i < 2; i++) {
        int fd = h_connect(addr);
        h_recv_line(fd, line, sizeof(line));
        T_EQ_STR(after_pid(line), "PROTO=TCP fds=0,1,2 listening=1");
        if (i == 0)
            first = pid_of(line);
        else
            T_ASSERT(pid_of(line) != first);
        close(fd);
    }
    if (!h_wait_log_count(d, "usherd: service=tw proto=tcp peer=- ", 2, 5000))
        T_FAIL("not two exit lines:\n%s", h_log(d));
}

static void test_reload_while_child_holds_listener(void)
{
    /* Scenario: a wait = yes UDP child is lingering (2 s) with the listening
     * socket; SIGHUP with the service's config changed (an env entry), its
     * listen address the same.  Asserted: the reload succeeds, and once the
     * child has exited usherd watches the kept socket again: the next
     * datagram is answered, by a new child. */
    struct h_daemon *d = h_start(wait_conf("dg", "udp://127.0.0.1:0", "udp 2000", NULL), NULL);
    int fd = h_connect(h_addr(d, "dg", "udp://127"));
    char *first = ask(fd, "first", 5000), *second;

    if (first == NULL)
        T_FAIL("no answer to the first datagram:\n%s", h_log(d));
    h_write_file(d->conf_path, wait_conf("dg", "udp://127.0.0.1:0", "udp", "env = NEW=1\n"));
    h_kill(d, SIGHUP);
    if (!h_wait_log(d, "reloaded ", 5000))
        T_FAIL("no reload logged:\n%s", h_log(d));
    T_ASSERT(strstr(h_log_line(d, "reloaded "), "listeners kept 1") != NULL);
    second = ask(fd, "second", 8000);
    if (second == NULL)
        T_FAIL("the listener was not watched again after its child exited:\n%s", h_log(d));
    T_ASSERT(pid_of(second) != pid_of(first));
    T_EQ_STR(after_pid(second), "PROTO=UDP fds=0,1,2 got=second");
}

/*
 * SIGHUP (the file as it is, or `changed` written first) while a wait = yes
 * UDP child lingers 1.5 s holding the socket; a datagram sent right after
 * the reload.  Asserted: it is answered only once the first child's exit is
 * logged, by a new child: the reload does not give the socket, which the
 * program still holds, to a second instance.
 */
static void reload_keeps_listener_with_its_child(const char *changed)
{
    struct h_daemon *d = h_start(wait_conf("dg", "udp://127.0.0.1:0", "udp 1500", NULL), NULL);
    int fd = h_connect(h_addr(d, "dg", "udp://127"));
    char *first = ask(fd, "first", 5000), *second;

    if (first == NULL)
        T_FAIL("no answer to the first datagram:\n%s", h_log(d));
    if (changed != NULL)
        h_write_file(d->conf_path, changed);
    h_kill(d, SIGHUP);
    if (!h_wait_log(d, "reloaded ", 5000))
        T_FAIL("no reload logged:\n%s", h_log(d));
    second = ask(fd, "second", 8000);
    if (second == NULL)
        T_FAIL("no answer to the second datagram:\n%s", h_log(d));
    if (h_count_log(d, "usherd: service=dg proto=udp peer=- ") < 1)
        T_FAIL("a second program (pid %ld) answered while the first (pid %ld) still held the "
               "socket:\n%s",
               pid_of(second), pid_of(first), h_log(d));
    T_ASSERT(pid_of(second) != pid_of(first));
}

static void test_reload_starts_no_second_program_on_held_socket(void)
{
    /* Scenario and assertions: reload_keeps_listener_with_its_child, the
     * configuration unchanged. */
    reload_keeps_listener_with_its_child(NULL);
}

static void test_changed_reload_starts_no_second_program_on_held_socket(void)
{
    /* The same with the service's definition changed (an env entry). */
    reload_keeps_listener_with_its_child(
        wait_conf("dg", "udp://127.0.0.1:0", "udp 1500", "env = NEW=1\n"));
}

static void test_stop_with_waiting_child(void)
{
    /* Scenario: shutdown_timeout = 1s; a wait = yes UDP child lingers (30 s)
     * holding the listening socket; SIGTERM.  Asserted: usherd waits, then
     * terminates the child at the timeout and exits 0 within the timeout +
     * slack; the child's end is logged end=signal:15.  (stderr = null: a
     * stderr pipe open at the end of the loop is 40_exec's case.) */
    struct h_daemon *d =
        h_start(h_fmt("[global]\nshutdown_timeout = 1s\n%s",
                      wait_conf("dg", "udp://127.0.0.1:0", "udp 30000", "stderr = null\n")),
                NULL);
    int fd = h_connect(h_addr(d, "dg", "udp://127"));
    int64_t t0;

    if (ask(fd, "hold", 5000) == NULL)
        T_FAIL("no answer:\n%s", h_log(d));
    t0 = h_now_ms();
    T_EQ_INT(h_stop(d), 0);
    if (h_now_ms() - t0 < 900)
        T_FAIL("stopped after %lld ms, without waiting for the child",
               (long long)(h_now_ms() - t0));
    if (h_now_ms() - t0 > 1000 + 1500 * (int64_t)t_scale())
        T_FAIL("stopped only after %lld ms", (long long)(h_now_ms() - t0));
    T_EQ_INT(h_count_log(d, "proto=udp peer=- "), 1);
    T_ASSERT(h_count_log(d, "end=signal:15 ") == 1);
}

static void test_tcp_wait_program_that_never_accepts_is_held_back(void)
{
    /* Scenario: wait = yes on tcp with exec = /bin/true (a program that
     * never accepts, inetd.conf's classic mistake); one connection waits in
     * the queue for 2 s.  Asserted: the program was started at least 5
     * times but fewer than 20 (not the 100 a second the rate allows), and
     * "service=loop looping: the program exits without accepting" was
     * logged as a warning, once per back-off (1 s, then 2 s: at most 2),
     * naming the listener and the rest. */
    struct h_daemon *d =
        h_start("[loop]\nlisten = tcp://127.0.0.1:0\nwait = yes\nexec = /bin/true\n", NULL);
    const char *addr = h_addr(d, "loop", "tcp://127");
    int fd = h_connect(addr);
    int spawns, warnings;
    char *line;

    if (!h_wait_log(d, "looping", 3000))
        T_FAIL("no looping warning:\n%s", h_log(d));
    usleep(2000 * 1000); /* the span to count spawns over */
    spawns = h_count_log(d, "end=exit:0");
    warnings = h_count_log(
        d, "usherd: warning: service=loop looping: the program exits without accepting");
    if (spawns < 5 || spawns >= 20 || warnings < 1 || warnings > 2)
        T_FAIL("%d spawns and %d warnings in 2 s:\n%s", spawns, warnings, h_log(d));
    line = h_log_line(d, "looping");
    T_ASSERT(strstr(line, h_fmt("; %s rests ", addr)) != NULL);
    T_ASSERT(strcmp(line + strlen(line) - 2, " s") == 0);
    T_ASSERT(h_alive(d));
    close(fd);
}

static void test_check_warns_about_wait_on_a_stream(void)
{
    /* Scenario: usherd -t on wait = yes services, one on tcp, one on udp.
     * Asserted: exit 0, "configuration ok", and "FILE:2: warning: [tw]: wait
     * = yes on tcp://127.0.0.1:0: the program must accept its connections
     * itself" for the tcp one only. */
    char *out;
    int code = h_usherd_run(h_fmt("%s%s", wait_conf("tw", "tcp://127.0.0.1:0", "accept", NULL),
                                  wait_conf("uw", "udp://127.0.0.1:0", "udp", NULL)),
                            &out, "-t", NULL);

    T_EQ_INT(code, 0);
    T_CONTAINS(out, "configuration ok");
    T_CONTAINS(out, "usherd.conf:2: warning: [tw]: wait = yes on tcp://127.0.0.1:0: the program "
                    "must accept its connections itself");
    T_ASSERT(strstr(out, "[uw]") == NULL);
    free(out);
}

static const struct t_case cases[] = {
    T_CASE(test_udp_wait_serves_repeated_requests),
    T_CASE(test_listener_not_watched_while_child_runs),
    T_CASE(test_unixgram_wait_child_answers),
    T_CASE(test_tcp_wait_child_gets_listening_socket),
    T_CASE(test_tcp_wait_program_that_never_accepts_is_held_back),
    T_CASE(test_check_warns_about_wait_on_a_stream),
    T_CASE(test_reload_while_child_holds_listener),
    T_CASE(test_reload_starts_no_second_program_on_held_socket),
    T_CASE(test_changed_reload_starts_no_second_program_on_held_socket),
    T_CASE(test_stop_with_waiting_child),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
