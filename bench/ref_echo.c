/*
 * ref_echo: the reference of `make bench`, what a tight hand-written C
 * echo server reaches on this machine.
 *
 *   ref_echo PORT      echo over TCP and UDP on 127.0.0.1:PORT until killed
 *
 * One process, one level-triggered epoll loop.  The listener is accepted
 * from in a loop (accept4, non-blocking) until EAGAIN; a readable
 * connection gets one read into a fixed buffer and one write of what was
 * read.  What the socket does not take is kept for that connection, which
 * then waits for EPOLLOUT and stops reading until it is sent: echo stays
 * correct and memory bounded (at most one buffer per connection).  UDP
 * goes through recvmmsg/sendmmsg in batches; a datagram from a privileged
 * port (below 1024) gets no answer, as usherd does, so that two echo
 * servers cannot be made to bounce packets.  Every send is MSG_NOSIGNAL:
 * a peer that went away is an EPIPE, never a SIGPIPE.
 *
 * Honest, not clever: nothing here a real server could not do.  It has no
 * configuration, limits, timeouts or logging, which is what it saves over
 * a real daemon.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE    65536 /* one read, one write */
#define DGRAM_BATCH 64    /* datagrams per recvmmsg */
#define DGRAM_MAX   65536
#define EVENTS_MAX  256
#define BACKLOG     511 /* usherd's default */

/* Bytes a connection still owes its peer. */
struct pending {
    size_t len, off;
    char data[];
};

static int epfd, tcpfd, udpfd;
static struct pending **pend; /* by descriptor; NULL while nothing is owed */
static size_t npend;
static char buf[BUF_SIZE];

static void die(const char *what)
{
    fprintf(stderr, "ref_echo: fatal: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int watch(int op, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};

    return epoll_ctl(epfd, op, fd, &ev);
}

static int bound_socket(int type, int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int on = 1;
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
        die("unable to bind 127.0.0.1");
    if (type == SOCK_STREAM && listen(fd, BACKLOG) < 0)
        die("unable to listen");
    return fd;
}

/* As many descriptors as the hard limit allows: one per connection. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        die("getrlimit");
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        die("setrlimit");
    npend = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20) ? (1u << 20) : rl.rlim_cur;
    if ((pend = calloc(npend, sizeof(*pend))) == NULL)
        die("calloc");
}

static void close_conn(int fd)
{
    free(pend[fd]);
    pend[fd] = NULL;
    close(fd); /* also leaves the epoll set */
}

static void on_accept(void)
{
    int on = 1;

    for (;;) {
        int fd = accept4(tcpfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN)
                fprintf(stderr, "ref_echo: accept: %s\n", strerror(errno));
            return;
        }
        if ((size_t)fd >= npend || watch(EPOLL_CTL_ADD, fd, EPOLLIN) < 0) {
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    }
}

/* Keep what the socket did not take and wait until it can take more. */
static void owe(int fd, const char *data, size_t len)
{
    struct pending *p = malloc(sizeof(*p) + len);

    if (p == NULL || watch(EPOLL_CTL_MOD, fd, EPOLLOUT) < 0) {
        free(p);
        close_conn(fd);
        return;
    }
    p->len = len;
    p->off = 0;
    memcpy(p->data, data, len);
    pend[fd] = p;
}

static void on_readable(int fd)
{
    ssize_t n = read(fd, buf, sizeof(buf));
    ssize_t w;

    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            close_conn(fd);
        return;
    }
    w = send(fd, buf, (size_t)n, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
        close_conn(fd);
        return;
    }
    if (w < 0)
        w = 0;
    if (w < n)
        owe(fd, buf + w, (size_t)(n - w));
}

static void on_writable(int fd)
{
    struct pending *p = pend[fd];
    ssize_t w = send(fd, p->data + p->off, p->len - p->off, MSG_NOSIGNAL);

    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR)
            close_conn(fd);
        return;
    }
    p->off += (size_t)w;
    if (p->off < p->len)
        return;
    free(p);
    pend[fd] = NULL;
    if (watch(EPOLL_CTL_MOD, fd, EPOLLIN) < 0)
        close_conn(fd);
}

/* One batch of datagrams in, the same batch back to where each came from. */
static void on_datagrams(void)
{
    static char data[DGRAM_BATCH][DGRAM_MAX];
    static struct iovec iov[DGRAM_BATCH];
    static struct sockaddr_in from[DGRAM_BATCH];
    static struct mmsghdr in[DGRAM_BATCH], out[DGRAM_BATCH];
    int n, m = 0;

    for (int i = 0; i < DGRAM_BATCH; i++) {
        iov[i] = (struct iovec){.iov_base = data[i], .iov_len = DGRAM_MAX};
        in[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
                                        .msg_namelen = sizeof(from[i]),
                                        .msg_iov = &iov[i],
                                        .msg_iovlen = 1};
    }
    n = recvmmsg(udpfd, in, DGRAM_BATCH, MSG_DONTWAIT, NULL);
    for (int i = 0; i < n; i++) {
        if (ntohs(from[i].sin_port) < 1024)
            continue;
        iov[i].iov_len = in[i].msg_len;
        out[m++].msg_hdr = in[i].msg_hdr;
    }
    /* A datagram the socket will not take now is lost, as UDP allows. */
    for (int sent = 0; sent < m;) {
        int k = sendmmsg(udpfd, out + sent, (unsigned)(m - sent), MSG_DONTWAIT);
        if (k <= 0)
            break;
        sent += k;
    }
}

int main(int argc, char **argv)
{
    struct epoll_event events[EVENTS_MAX];
    char *end;
    long port;

    if (argc != 2 || (port = strtol(argv[1], &end, 10)) < 1 || port > 65535 || *end != '\0') {
        fprintf(stderr, "usage: ref_echo PORT\n");
        return 2;
    }
    raise_nofile();
    if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        die("epoll_create1");
    tcpfd = bound_socket(SOCK_STREAM, (int)port);
    udpfd = bound_socket(SOCK_DGRAM, (int)port);
    if (watch(EPOLL_CTL_ADD, tcpfd, EPOLLIN) < 0 || watch(EPOLL_CTL_ADD, udpfd, EPOLLIN) < 0)
        die("epoll_ctl");
    fprintf(stderr, "ref_echo: listening on tcp and udp 127.0.0.1:%ld\n", port);

    for (;;) {
        int n = epoll_wait(epfd, events, EVENTS_MAX, -1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == tcpfd)
                on_accept();
            else if (fd == udpfd)
                on_datagrams();
            else if (pend[fd] != NULL)
                on_writable(fd); /* EPOLLOUT, or an error that the send reports */
            else
                on_readable(fd);
        }
    }
}
