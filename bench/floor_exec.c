/*
 * floor_exec: the floor of `make bench`'s exec figures, the least a
 * super-server's own process can do per connection.
 *
 *   floor_exec PORT PROGRAM [ARG...]   PROGRAM per connection on 127.0.0.1:PORT
 *
 * A blocking accept4 in a loop; per connection a vfork, in the child
 * dup2 of the socket onto 0, 1 and 2 and execve; in the parent a close.
 * SIGCHLD is ignored, so the kernel reaps the children itself: no
 * wait, no signal handler, no wake-up.  The program gets the socket on
 * fd 2 too and an empty environment.
 *
 * Not a server anyone should run: no environment for the program, no
 * logging, no exit status, no limits, no session, no descriptor hygiene
 * beyond close-on-exec.  What it saves over a real daemon is everything a
 * real daemon is for; what it costs is what the kernel charges for
 * accept, vfork, exec and close.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BACKLOG 511 /* usherd's default */

static void die(const char *what)
{
    fprintf(stderr, "floor_exec: fatal: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int listen_on(const char *port_text)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char *end;
    long port = strtol(port_text, &end, 10);
    int one = 1, fd;

    if (*port_text == '\0' || *end != '\0' || port < 1 || port > 65535) {
        fprintf(stderr, "floor_exec: fatal: not a port: %s\n", port_text);
        exit(2);
    }
    sin.sin_port = htons((unsigned short)port);
    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        die("socket");
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        die("setsockopt");
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
        die("bind");
    if (listen(fd, BACKLOG) < 0)
        die("listen");
    return fd;
}

/* The child of one connection: vfork, and in the child the socket on 0-2 and execve. */
static pid_t __attribute__((noinline)) start(int fd, char **argv)
{
    static char *envp[] = {NULL};
    pid_t pid = vfork();

    if (pid == 0) {
        /* dup2 clears close-on-exec on the copies: the socket stays on 0-2 only. */
        if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(111);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    return pid;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    int lfd;

    if (argc < 3) {
        fprintf(stderr, "usage: floor_exec PORT PROGRAM [ARG...]\n");
        return 2;
    }
    lfd = listen_on(argv[1]);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGCHLD, &sa, NULL) < 0)
        die("sigaction");
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
                continue;
            die("accept4");
        }
        if (start(fd, argv + 2) < 0)
            fprintf(stderr, "floor_exec: vfork: %s\n", strerror(errno));
        close(fd);
    }
}
