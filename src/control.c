/*
 * control: signalling the running usherd (see control.h).
 */
#include "control.h"

#include "pidfile.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define POLL_STEP_MS 20

static const struct {
    const char *name;
    int signo; /* 0: only look */
} commands[] = {
    {"reload", SIGHUP},
    {"stop", SIGTERM},
    {"stats", SIGUSR1},
    {"status", 0},
};

/* The daemon's pid (> 0), or 0 after saying on stderr why there is none. */
static pid_t find_daemon(const char *pidfile)
{
    pid_t pid = pidfile_holder(pidfile);

    if (pid < 0 && errno == ELOOP) {
        fprintf(stderr, "usherd: pidfile %s is a symbolic link: refused (it is never followed)\n",
                pidfile);
        return 0;
    }
    if (pid < 0) {
        fprintf(stderr, "usherd: unable to read %s: %s\n", pidfile, strerror(errno));
        return 0;
    }
    if (pid == 0) {
        fprintf(stderr, "usherd: not running (%s is missing or held by no process)\n", pidfile);
        return 0;
    }
    return pid;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL); /* an EINTR only shortens one step of a bounded wait */
}

/*
 * Wait until `pid` has let go of the pidfile.  The lock goes with the
 * process (even before a parent reaps it, which kill(pid, 0) could not
 * tell), and a clean exit removes the file.
 */
static int wait_gone(const char *pidfile, pid_t pid, int64_t wait_ms)
{
    int64_t deadline = now_ms() + wait_ms;

    while (pidfile_holder(pidfile) == pid) {
        if (now_ms() >= deadline) {
            fprintf(stderr, "usherd: still running (pid %ld) after %lld ms\n", (long)pid,
                    (long long)wait_ms);
            return 1;
        }
        sleep_ms(POLL_STEP_MS);
    }
    return 0;
}

int control_run(const char *command, const char *pidfile, int64_t stop_wait_ms)
{
    pid_t pid;

    for (size_t i = 0; i < ARRAY_LEN(commands); i++) {
        if (strcmp(commands[i].name, command) != 0)
            continue;
        if ((pid = find_daemon(pidfile)) == 0)
            return 1;
        if (commands[i].signo == 0) {
            printf("running (pid %ld)\n", (long)pid);
            return 0;
        }
        if (kill(pid, commands[i].signo) < 0) {
            fprintf(stderr, "usherd: unable to signal pid %ld: %s\n", (long)pid, strerror(errno));
            return 1;
        }
        if (commands[i].signo == SIGTERM)
            return wait_gone(pidfile, pid, stop_wait_ms);
        return 0;
    }
    fprintf(stderr, "usherd: -s %s: expected reload, stop, stats or status\n", command);
    return 2;
}
