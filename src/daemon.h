/*
 * daemon: becoming a daemon.
 *
 * Detaching follows the classic rules, with one refinement: the parent
 * does not exit at the fork but waits on a pipe until the daemon reports
 * that its start-up (pidfile, log, listeners) succeeded or why it failed,
 * so the command that started it learns the truth and its exit status.
 */
#ifndef USHER_DAEMON_H
#define USHER_DAEMON_H

/*
 * Fork.  The parent waits for the child's report and exits with it (0, or
 * the status and message the child sent; 1 if it died without one); it
 * never returns.  The child becomes a session leader with no controlling
 * terminal, closes every inherited descriptor above 2 but the first
 * `keep_fds` from 3 (socket activation), and gets the report descriptor.
 * Returns the report descriptor in the child, or -1 with errno (no fork).
 */
int daemon_detach(int keep_fds);

/* In the child: tell the waiting parent (status 0 = started). */
void daemon_report(int report_fd, int status, const char *msg);

/* In the child, once started: chdir("/"), stdin/stdout/stderr on /dev/null. */
int daemon_settle(void);

#endif
