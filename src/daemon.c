/*
 * daemon: detaching, with the start-up report to the waiting parent
 * (see daemon.h).
 */
#include "daemon.h"

#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

/* In the parent: wait for the child's word, print it, exit with it. */
static void __attribute__((noreturn)) wait_for_report(int fd, pid_t child)
{
    char buf[1024];
    ssize_t n = read_full(fd, buf, sizeof(buf) - 1);
    int status;

    if (n <= 0) {
        if (waitpid(child, &status, WNOHANG) == child && WIFSIGNALED(status))
            fprintf(stderr, "usherd: the daemon died during start-up (signal %d)\n",
                    WTERMSIG(status));
        else
            fprintf(stderr, "usherd: the daemon exited during start-up\n");
        _exit(1);
    }
    buf[n] = '\0';
    if (n > 1)
        fprintf(stderr, "%s\n", buf + 1);
    _exit((unsigned char)buf[0]);
}

int daemon_detach(int keep_fds)
{
    int p[2], report;
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        close_quietly(p[0]);
        close_quietly(p[1]);
        return -1;
    }
    if (pid > 0) {
        close(p[1]);
        wait_for_report(p[0], pid);
    }
    close(p[0]);
    if (setsid() < 0)
        return -1;
    /* Keep the report pipe just above the activation sockets, close the rest. */
    report = 3 + keep_fds;
    if (p[1] != report) {
        if (dup3(p[1], report, O_CLOEXEC) < 0)
            return -1;
        close(p[1]);
    }
    if (fd_close_from(report + 1, NULL, 0) < 0) {
        /* An inherited descriptor left open is no reason not to start. */
    }
    return report;
}

void daemon_report(int report_fd, int status, const char *msg)
{
    char buf[1024];
    int n;

    if (report_fd < 0)
        return;
    n = snprintf(buf, sizeof(buf), "%c%s", (char)status, msg ? msg : "");
    if (n > (int)sizeof(buf) - 1)
        n = (int)sizeof(buf) - 1;
    if (write_all(report_fd, buf, (size_t)n) < 0) {
        /* The parent is gone; nobody is left to tell. */
    }
    close(report_fd);
}

int daemon_settle(void)
{
    int null;

    if (chdir("/") < 0)
        return -1;
    null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0)
        return -1;
    for (int fd = 0; fd <= 2; fd++)
        if (dup2(null, fd) < 0) {
            close_quietly(null);
            return -1;
        }
    if (null > 2)
        close(null);
    return 0;
}
