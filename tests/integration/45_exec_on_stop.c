/*
 * on_stop (SPEC 18): at a stop, the programs of an on_stop = leave service
 * are neither waited for nor signalled, and go on serving their client
 * after usherd has exited; those of an on_stop = term service (the
 * default) get SIGTERM at shutdown_timeout as before.  With workers too.
 * The key's -P round trip, its bad values, -t's warnings.
 *
 * The program is a shell that says its pid, waits for a line from its
 * client, answers it and writes a marker file: it cannot finish before the
 * test lets it, so "still running after usherd exited" is no race.  The
 * cases kill whatever they left running themselves (t_at_end).
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_LEFT 4

static pid_t left_pids[MAX_LEFT];

static void kill_left(void)
{
    for (int i = 0; i < MAX_LEFT; i++)
        if (left_pids[i] > 0)
            kill(left_pids[i], SIGKILL);
}

/* Killed at the end of the case whatever happens: it is nobody's child once usherd is gone. */
static void track(pid_t pid)
{
    for (int i = 0; i < MAX_LEFT; i++) {
        if (left_pids[i] <= 0) {
            left_pids[i] = pid;
            t_at_end(kill_left);
            return;
        }
    }
    T_FAIL("more than %d programs to track", MAX_LEFT);
}

/* [NAME]: the line-waiting shell, writing `marker` when it is done, then `extra`. */
static char *svc_conf(const char *name, const char *marker, const char *extra)
{
    return h_fmt("[%s]\nlisten = tcp://127.0.0.1:0\n"
                 "exec = /bin/sh -c 'echo $$; read line; echo \"got $line\"; echo done > %s'\n"
                 "stderr = null\n%s",
                 name, marker, extra);
}

/* Connect to service `name`; its program's pid (tracked), from its first line. */
static pid_t open_session(const struct h_daemon *d, const char *name, int *fd)
{
    char line[64];
    pid_t pid;

    *fd = h_connect(h_addr(d, name, "tcp://127"));
    h_recv_line(*fd, line, sizeof(line));
    pid = (pid_t)strtol(line, NULL, 10);
    if (pid <= 1)
        T_FAIL("not a pid from the program of %s: \"%s\"", name, line);
    track(pid);
    return pid;
}

static bool running(pid_t pid)
{
    return kill(pid, 0) == 0;
}

/* The left program still serves its client: it answers, then writes its marker. */
static void finish_session(int fd, pid_t pid, const char *marker)
{
    char line[64];

    if (!running(pid))
        T_FAIL("program %ld is gone", (long)pid);
    if (access(marker, F_OK) == 0)
        T_FAIL("%s written before the program was let go on", marker);
    h_send_str(fd, "after\n");
    h_recv_line(fd, line, sizeof(line));
    T_EQ_STR(line, "got after");
    if (!h_wait_file(marker, "done", 1, 5000))
        T_FAIL("program %ld did not finish its work (%s)", (long)pid, marker);
}

static void test_leave_program_outlives_usherd(void)
{
    /* Scenario: shutdown_timeout = 60s; a connection to an on_stop = leave
     * service, its program waiting for a line; SIGTERM.  Asserted: usherd
     * exits 0 while the program still runs (long before 60 s: it did not
     * wait for it) and logs that it left it; it signalled nothing; the
     * program then answers its client over the connection it kept and
     * writes its marker. */
    char *marker = h_fmt("%s/marker", h_tmpdir());
    struct h_daemon *d = h_start(h_fmt("[global]\nshutdown_timeout = 60s\n%s",
                                       svc_conf("keep", marker, "on_stop = leave\n")),
                                 NULL);
    int fd;
    pid_t pid = open_session(d, "keep", &fd);

    h_kill(d, SIGTERM);
    if (!h_wait_exit(d, 10000))
        T_FAIL("usherd still running 10 s after SIGTERM (shutdown_timeout = 60s): it waited for "
               "an on_stop = leave program:\n%s",
               h_log(d));
    T_EQ_INT(d->exit_status, 0);
    if (!running(pid))
        T_FAIL("the program did not outlive usherd:\n%s", h_log(d));
    T_ASSERT(h_count_log(d, "stopping: leaving 1 child of service=keep running") == 1);
    T_ASSERT(h_count_log(d, "SIGTERM to") == 0);
    T_ASSERT(h_count_log(d, "SIGKILL") == 0);
    T_ASSERT(h_count_log(d, "service=keep proto=") == 0); /* no end: it has not ended */
    finish_session(fd, pid, marker);
    close(fd);
}

static void test_term_program_gets_sigterm_leave_one_does_not(void)
{
    /* Scenario: shutdown_timeout = 300ms; one connection to an on_stop =
     * term service and one to an on_stop = leave service, both programs
     * waiting for a line; SIGTERM.  Asserted: at the timeout the term
     * program's process group gets SIGTERM (its exit logged end=signal:15,
     * its connection closed), and only it ("SIGTERM to 1 children");
     * usherd exits 0 with the leave program still running, which then
     * finishes its session. */
    char *m_term = h_fmt("%s/term", h_tmpdir()), *m_leave = h_fmt("%s/leave", h_tmpdir());
    struct h_daemon *d = h_start(h_fmt("[global]\nshutdown_timeout = 300ms\n%s%s",
                                       svc_conf("ended", m_term, "on_stop = term\n"),
                                       svc_conf("kept", m_leave, "on_stop = leave\n")),
                                 NULL);
    int fd_term, fd_leave;
    pid_t p_term = open_session(d, "ended", &fd_term);
    pid_t p_leave = open_session(d, "kept", &fd_leave);

    h_kill(d, SIGTERM);
    if (!h_wait_exit(d, 10000))
        T_FAIL("usherd still running 10 s after SIGTERM:\n%s", h_log(d));
    T_EQ_INT(d->exit_status, 0);
    T_ASSERT(h_count_log(d, "stopping: leaving 1 child of service=kept running") == 1);
    T_ASSERT(h_count_log(d, "stopping: SIGTERM to 1 children") == 1);
    free(h_wait_conn_line(d, "ended", "end=signal:15", 1000));
    T_ASSERT(h_wait_closed(fd_term, 2000));
    T_ASSERT(!running(p_term));
    T_ASSERT(access(m_term, F_OK) != 0);
    finish_session(fd_leave, p_leave, m_leave);
    close(fd_term);
    close(fd_leave);
}

static void test_leave_program_of_a_worker_outlives_usherd(void)
{
    /* Scenario: workers = 2, shutdown_timeout = 60s; a connection to an
     * on_stop = leave service (its program a worker's child); SIGTERM to
     * the master.  Asserted: the worker lets the program go (its log
     * line), master and workers exit, usherd with 0; the program still
     * runs and finishes its session. */
    char *marker = h_fmt("%s/marker", h_tmpdir());
    struct h_daemon *d = h_start(h_fmt("[global]\nworkers = 2\nshutdown_timeout = 60s\n%s",
                                       svc_conf("keep", marker, "on_stop = leave\n")),
                                 NULL);
    pid_t workers[2], pid;
    int fd;

    h_wait_children(d, 2, true, workers, 2, 5000);
    pid = open_session(d, "keep", &fd);
    h_kill(d, SIGTERM);
    if (!h_wait_exit(d, 10000))
        T_FAIL("usherd still running 10 s after SIGTERM:\n%s", h_log(d));
    T_EQ_INT(d->exit_status, 0);
    if (!running(pid))
        T_FAIL("the program did not outlive usherd:\n%s", h_log(d));
    T_ASSERT(h_count_log(d, "stopping: leaving 1 child of service=keep running") == 1);
    finish_session(fd, pid, marker);
    close(fd);
}

static void test_print_round_trip(void)
{
    /* Scenario: -P of a configuration with on_stop = leave and term.
     * Asserted: both printed as written; -P of the printed text gives the
     * same text. */
    char *first, *second, *path = h_fmt("%s/printed.conf", h_tmpdir());
    int code = h_usherd_run(h_fmt("%s%s", svc_conf("a", "/tmp/x", "on_stop = leave\n"),
                                  svc_conf("b", "/tmp/y", "on_stop = term\n")),
                            &first, "-P", NULL);

    T_EQ_INT(code, 0);
    T_CONTAINS(first, "[a]\n");
    T_CONTAINS(first, "stderr = null\non_stop = leave\n");
    T_CONTAINS(first, "stderr = null\non_stop = term\n");
    h_write_file(path, first);
    code = h_usherd_run(NULL, &second, "-P", "-f", path, NULL);
    T_EQ_INT(code, 0);
    T_EQ_STR(second, first);
}

static void test_bad_values_refused_with_file_and_line(void)
{
    /* Scenario: -t with on_stop = stop, on a builtin, with wait = yes.
     * Asserted: exit 2, each error naming usherd.conf and its line. */
    static const struct {
        const char *text, *error;
    } bad[] = {
        {"[s]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\non_stop = stop\n",
         "usherd.conf:4: on_stop: 'stop' is not term or leave"},
        {"[s]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\non_stop = leave\n",
         "usherd.conf:4: on_stop: applies to exec services only"},
        {"[s]\nlisten = udp://127.0.0.1:0\nexec = /bin/cat\nwait = yes\non_stop = leave\n",
         "usherd.conf:5: on_stop: leave: a wait = yes program holds the listening socket"},
    };

    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        char *out;
        int code = h_usherd_run(bad[i].text, &out, "-t", NULL);
        if (code != 2)
            T_FAIL("case %zu: exit %d, want 2:\n%s", i, code, out);
        T_CONTAINS(out, bad[i].error);
        free(out);
    }
}

static void test_check_warns_about_stderr_to_the_log(void)
{
    /* Scenario: -t with on_stop = leave and the default stderr = log.
     * Asserted: exit 0, a warning at on_stop's line that the program loses
     * its stderr when usherd exits. */
    char *out;
    int code = h_usherd_run("[s]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\non_stop = leave\n",
                            &out, "-t", NULL);

    T_EQ_INT(code, 0);
    T_CONTAINS(out, "usherd.conf:4: warning: on_stop: leave: a program left running loses its "
                    "stderr (stderr = log)");
    free(out);
}

static const struct t_case cases[] = {
    T_CASE(test_leave_program_outlives_usherd),
    T_CASE(test_term_program_gets_sigterm_leave_one_does_not),
    T_CASE(test_leave_program_of_a_worker_outlives_usherd),
    T_CASE(test_print_round_trip),
    T_CASE(test_bad_values_refused_with_file_and_line),
    T_CASE(test_check_warns_about_stderr_to_the_log),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
