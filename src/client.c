/*
 * client: connecting, the datagram exchange, and the sum, sumbin and time
 * helpers of `usher` (see client.h); the stream copy is client_stream.c's.
 *
 * Invariants.  Our socket is always non-blocking, and streams go through a
 * client_conn (client_tls.h), so that each mode works over TLS unchanged.  stdin and stdout are
 * never made so: O_NONBLOCK belongs to the open file, which the shell and
 * the other programs of a pipeline share (client_stream.c says how the
 * stream copy lives with that).  The line-at-a-time modes (datagrams, sum,
 * sumbin) work in lockstep and may block on stdin and stdout, because while
 * they wait there is nothing else to do.  Every wait on the network has a
 * deadline from -w, or none at all; nothing sleeps blind.
 */
#include "client.h"

#include "client_stream.h"
#include "client_tls.h"
#include "proto.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DGRAM_MAX    65536   /* the largest datagram a reply can be */
#define RESOLVE_MAX  16      /* addresses tried per connect */
#define UNIX_BUSY_MS 10      /* retry step while a Unix listener's queue is full */
#define WAIT_MAX_MS  INT_MAX /* poll(2) takes an int */

/*
 * Returned up the call chain to stop early, quietly, as a success: stdout's
 * reader has gone (EPIPE), or, in the line loops, the input has ended.
 */
#define STOPPED 1

/* A write to stdout failed: EPIPE means the reader is done with us (`usher ... | head -1`). */
static int output_failed(char *err, size_t errlen)
{
    if (errno == EPIPE)
        return STOPPED;
    return err_set(err, errlen, "stdout: %s", strerror(errno));
}

static int input_failed(char *err, size_t errlen)
{
    if (errno == EMSGSIZE)
        return err_set(err, errlen, "stdin: line longer than %d bytes", CLIENT_LINE_MAX);
    return err_set(err, errlen, "stdin: %s", strerror(errno));
}

/* An error on the connection, in the words of section 10: the address, then the cause. */
static int stream_failed(const struct client_target *t, const struct client_conn *c, char *err,
                         size_t errlen)
{
    if (errno == ETIMEDOUT)
        return err_set(err, errlen, "%s: timed out", t->name);
    return err_set(err, errlen, "%s: %s", t->name, client_conn_strerror(c, errno));
}

/* Target and option parsing */

static int join_host_port(const char *host, const char *port, bool udp, char *buf, size_t size,
                          char *err, size_t errlen)
{
    /* The URL form needs an IPv6 literal in brackets; HOST PORT does not. */
    bool bracket = strchr(host, ':') != NULL && host[0] != '[';
    int n;

    if (strchr(host, '/') != NULL)
        return err_set(err, errlen, "'%s': expected a host name or address before PORT", host);
    n = snprintf(buf, size, "%s://%s%s%s:%s", udp ? "udp" : "tcp", bracket ? "[" : "", host,
                 bracket ? "]" : "", port);
    if (n < 0 || (size_t)n >= size)
        return err_set(err, errlen, "address too long");
    return 0;
}

int client_target_parse(int nargs, char *const args[], bool udp, struct client_target *t, char *err,
                        size_t errlen)
{
    if (nargs == 2) {
        if (join_host_port(args[0], args[1], udp, t->name, sizeof(t->name), err, errlen) < 0)
            return -1;
    } else if (nargs == 1) {
        if (str_copy(t->name, sizeof(t->name), args[0]) < 0)
            return err_set(err, errlen, "address too long");
    } else {
        return err_set(err, errlen, "%s", nargs == 0 ? "missing ADDRESS" : "too many operands");
    }
    if (addr_parse(t->name, &t->spec, err, errlen) < 0)
        return -1;
    if (nargs == 1 && udp && t->spec.kind != ADDR_UDP)
        return err_set(err, errlen, "-u goes with HOST PORT (or a udp:// address), not %s",
                       t->name);
    if (addr_kind_is_inet(t->spec.kind) && strcmp(t->spec.host, "*") == 0)
        return err_set(err, errlen, "'*' is for listening; name a host to connect to");
    return 0;
}

/* "1.25" -> 1250: whole seconds and at most three decimals. */
static int parse_decimal_seconds(const char *s, int64_t *ms)
{
    const char *dot = strchr(s, '.'), *frac = dot + 1;
    size_t wlen = (size_t)(dot - s), flen = strlen(frac);
    char whole[16];
    int64_t sec, part = 0;

    if (wlen == 0 || wlen >= sizeof(whole) || flen == 0 || flen > 3 || s[0] < '0' || s[0] > '9') {
        errno = EINVAL;
        return -1;
    }
    memcpy(whole, s, wlen);
    whole[wlen] = '\0';
    if (parse_i64(whole, 0, WAIT_MAX_MS / 1000, &sec) < 0)
        return -1;
    for (size_t i = 0; i < 3; i++) {
        if (i < flen && (frac[i] < '0' || frac[i] > '9')) {
            errno = EINVAL;
            return -1;
        }
        part = part * 10 + (i < flen ? frac[i] - '0' : 0);
    }
    *ms = sec * 1000 + part;
    return 0;
}

int client_parse_wait(const char *s, int64_t *ms)
{
    int64_t v;
    int rc = strchr(s, '.') != NULL ? parse_decimal_seconds(s, &v) : parse_duration_ms(s, &v);

    if (rc < 0)
        return -1;
    if (v <= 0 || v > WAIT_MAX_MS) {
        errno = ERANGE;
        return -1;
    }
    *ms = v;
    return 0;
}

int client_format_time(uint32_t rfc868, char *buf, size_t size)
{
    time_t t = (time_t)rfc868_to_unix(rfc868);
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL)
        return -1;
    return strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 ? -1 : 0;
}

/* Waiting */

/* A deadline `wait_ms` from now, or none (-1) if wait_ms is -1. */
static int64_t deadline_after(int64_t wait_ms)
{
    return wait_ms < 0 ? -1 : now_ms() + wait_ms;
}

/* Lines */

void client_lines_init(struct client_lines *l, int fd)
{
    l->fd = fd;
    l->conn = NULL;
    l->eof = false;
    l->skipping = false;
    l->head = l->tail = 0;
}

void client_lines_init_conn(struct client_lines *l, struct client_conn *conn)
{
    client_lines_init(l, conn->fd);
    l->conn = conn;
}

/* Read more after what is held.  Returns 1 if bytes came, 0 at EOF, -1 with errno. */
static int lines_fill(struct client_lines *l, int64_t deadline)
{
    if (l->head > 0) {
        memmove(l->buf, l->buf + l->head, l->tail - l->head);
        l->tail -= l->head;
        l->head = 0;
    }
    for (;;) {
        ssize_t n;
        if (l->conn != NULL)
            n = client_conn_recv_wait(l->conn, l->buf + l->tail, sizeof(l->buf) - l->tail,
                                      deadline);
        else if (fd_wait(l->fd, POLLIN, deadline) < 0)
            return -1;
        else
            n = read(l->fd, l->buf + l->tail, sizeof(l->buf) - l->tail);
        if (n > 0) {
            l->tail += (size_t)n;
            return 1;
        }
        if (n == 0) {
            l->eof = true;
            return 0;
        }
        if (errno != EINTR && errno != EAGAIN)
            return -1;
    }
}

int client_lines_next(struct client_lines *l, int64_t deadline_ms, const char **line, size_t *len)
{
    for (;;) {
        char *start = l->buf + l->head;
        size_t avail = l->tail - l->head;
        char *nl = memchr(start, '\n', avail);

        if (nl != NULL) {
            l->head += (size_t)(nl - start) + 1;
            if (l->skipping) {
                l->skipping = false;
                continue;
            }
            if ((size_t)(nl - start) + 1 > CLIENT_LINE_MAX) {
                errno = EMSGSIZE; /* the one byte of room past the bound held its "\n" */
                return -1;
            }
            *line = start;
            *len = (size_t)(nl - start) + 1;
            return 1;
        }
        if (l->skipping) {
            l->head = l->tail = 0;
        } else if (avail > CLIENT_LINE_MAX) {
            /* Report it once, then drop the rest of it as it comes. */
            l->skipping = true;
            l->head = l->tail = 0;
            errno = EMSGSIZE;
            return -1;
        } else if (l->eof && avail > 0) {
            l->head = l->tail;
            *line = start;
            *len = avail;
            return 1;
        }
        if (l->eof)
            return 0;
        if (lines_fill(l, deadline_ms) < 0)
            return -1;
    }
}

/* Connecting */

/*
 * Linux autobind: bound with nothing but the family, the socket gets a
 * unique abstract name, so a Unix datagram server has an address to answer
 * to, and no file is left behind.
 */
static int autobind(int fd)
{
    /* Whole and zeroed, though only the family is passed: checkers read sun_path. */
    struct sockaddr_un sun = {.sun_family = AF_UNIX};

    return bind(fd, (struct sockaddr *)&sun, sizeof(sa_family_t));
}

static int connect_finish(int fd, int64_t deadline)
{
    int soerr = 0;
    socklen_t len = sizeof(soerr);

    if (fd_wait(fd, POLLOUT, deadline) < 0)
        return -1;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        return -1;
    if (soerr != 0) {
        errno = soerr;
        return -1;
    }
    return 0;
}

static int connect_addr(int fd, const struct addr *a, int64_t deadline)
{
    while (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0) {
        struct timespec step = {0, UNIX_BUSY_MS * 1000000L};
        if (errno == EINPROGRESS || errno == EINTR)
            return connect_finish(fd, deadline);
        /*
         * A Unix listener whose queue is full fails a non-blocking connect
         * with EAGAIN where a blocking one would wait: wait, in steps.
         */
        if (errno != EAGAIN || a->ss.ss_family != AF_UNIX)
            return -1;
        if (deadline >= 0 && now_ms() >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        nanosleep(&step, NULL); /* an EINTR only shortens the step */
    }
    return 0;
}

/* A non-blocking socket connected to `a` within wait_ms (-1: no bound); -1 with errno. */
static int open_connected(const struct addr *a, int64_t wait_ms)
{
    int type = addr_kind_socktype(a->kind) | SOCK_NONBLOCK | SOCK_CLOEXEC;
    int fd = socket(a->ss.ss_family, type, 0);

    if (fd < 0)
        return -1;
    if ((a->kind == ADDR_UNIXGRAM && autobind(fd) < 0) ||
        connect_addr(fd, a, deadline_after(wait_ms)) < 0) {
        close_quietly(fd);
        return -1;
    }
    return fd;
}

/* Try each resolved address in order; the socket, or -1 with the last error in err. */
static int client_connect(const struct client_target *t, char *err, size_t errlen)
{
    struct addr addrs[RESOLVE_MAX];
    char why[256];
    int n = addr_resolve(&t->spec, false, addrs, RESOLVE_MAX, why, sizeof(why));
    int fd = -1, last = 0;

    if (n < 0)
        return err_set(err, errlen, "unable to resolve %s", why);
    for (int i = 0; i < n && fd < 0; i++) {
        fd = open_connected(&addrs[i], t->wait_ms);
        if (fd < 0)
            last = errno;
    }
    if (fd < 0)
        return err_set(err, errlen, "unable to connect to %s: %s", t->name, strerror(last));
    return fd;
}

static bool is_datagram(const struct client_target *t)
{
    return addr_kind_socktype(t->spec.kind) == SOCK_DGRAM;
}

static int handshake_failed(const struct client_target *t, const struct client_conn *c, char *err,
                            size_t errlen)
{
    if (errno == ETIMEDOUT)
        return err_set(err, errlen, "%s: timed out in the TLS handshake", t->name);
    return err_set(err, errlen, "%s: TLS handshake failed: %s", t->name,
                   client_conn_strerror(c, errno));
}

int client_open_conn(const struct client_target *t, struct client_conn *c, char *err, size_t errlen)
{
    int64_t deadline = deadline_after(t->wait_ms);
    SSL_CTX *ctx = NULL;
    int fd, rc = 0;

    if (t->spec.tls && (ctx = client_tls_ctx_new(&t->tls, err, errlen)) == NULL)
        return -1;
    if ((fd = client_connect(t, err, errlen)) < 0) {
        SSL_CTX_free(ctx);
        return -1;
    }
    client_conn_init(c, fd);
    if (ctx != NULL) {
        /* The SSL keeps its own reference to the context. */
        rc = client_conn_start_tls(c, ctx, &t->tls, t->spec.host, err, errlen);
        SSL_CTX_free(ctx);
        if (rc == 0 && client_conn_handshake_wait(c, deadline) < 0)
            rc = handshake_failed(t, c, err, errlen);
    }
    if (rc < 0)
        client_conn_close(c);
    return rc;
}

/* Sessions: a connection and the buffers of the line-at-a-time modes */

struct session {
    const struct client_target *t;
    struct client_conn conn;
    unsigned errors;           /* "error: ..." replies printed */
    struct client_lines in;    /* stdin */
    struct client_lines reply; /* reply lines on a stream */
    char dgram[DGRAM_MAX];     /* a reply datagram */
};

static void session_close(struct session *ss)
{
    client_conn_close(&ss->conn);
    free(ss);
}

static struct session *session_open(const struct client_target *t, char *err, size_t errlen)
{
    struct session *ss = malloc(sizeof(*ss));
    int on = 1;

    if (ss == NULL) {
        err_set(err, errlen, "out of memory");
        return NULL;
    }
    ss->t = t;
    ss->errors = 0;
    if (client_open_conn(t, &ss->conn, err, errlen) < 0) {
        free(ss);
        return NULL;
    }
    client_lines_init(&ss->in, STDIN_FILENO);
    client_lines_init_conn(&ss->reply, &ss->conn);
    /* Lockstep requests: Nagle would hold a request's last piece back for an ACK. */
    if (t->spec.kind == ADDR_TCP &&
        setsockopt(ss->conn.fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) < 0) {
        err_set(err, errlen, "%s: unable to set TCP_NODELAY: %s", t->name, strerror(errno));
        session_close(ss);
        return NULL;
    }
    return ss;
}

/* Datagrams */

static int64_t dgram_wait(const struct client_target *t)
{
    return t->wait_ms < 0 ? CLIENT_DGRAM_WAIT_MS : t->wait_ms;
}

/* Late replies to an earlier request (and stale errors) must not pass for this one's. */
static void dgram_drain(int sockfd)
{
    char byte;

    while (recv(sockfd, &byte, 1, MSG_DONTWAIT | MSG_TRUNC) >= 0 || errno == EINTR)
        continue;
}

static int dgram_send(int sockfd, const void *buf, size_t len, int64_t deadline)
{
    for (;;) {
        if (send(sockfd, buf, len, 0) >= 0)
            return 0; /* a datagram goes whole or not at all */
        if (errno == EAGAIN) {
            if (fd_wait(sockfd, POLLOUT, deadline) < 0)
                return -1;
        } else if (errno != EINTR) {
            return -1;
        }
    }
}

static ssize_t dgram_recv(int sockfd, void *buf, size_t cap, int64_t deadline)
{
    for (;;) {
        ssize_t n;
        if (fd_wait(sockfd, POLLIN, deadline) < 0)
            return -1;
        n = recv(sockfd, buf, cap, 0);
        if (n >= 0)
            return n;
        if (errno != EAGAIN && errno != EINTR)
            return -1;
    }
}

/*
 * One request, one reply, resent after each timeout, t->tries times in
 * all.  The socket is connected: only the server's datagrams arrive, and an
 * ICMP port unreachable comes back as ECONNREFUSED.  Returns the reply's
 * length in ss->dgram, or -1 with errno (ETIMEDOUT: no reply at all).
 */
static ssize_t dgram_exchange(struct session *ss, const void *req, size_t len)
{
    dgram_drain(ss->conn.fd);
    for (unsigned i = 0; i < ss->t->tries; i++) {
        int64_t deadline = now_ms() + dgram_wait(ss->t);
        ssize_t n;
        if (dgram_send(ss->conn.fd, req, len, deadline) == 0 &&
            (n = dgram_recv(ss->conn.fd, ss->dgram, sizeof(ss->dgram), deadline)) >= 0)
            return n;
        if (errno != ETIMEDOUT)
            return -1;
    }
    errno = ETIMEDOUT;
    return -1;
}

static int dgram_failed(const struct client_target *t, char *err, size_t errlen)
{
    if (errno == ETIMEDOUT)
        return err_set(err, errlen, "%s: no reply after %u %s", t->name, t->tries,
                       t->tries == 1 ? "try" : "tries");
    return err_set(err, errlen, "%s: %s", t->name, strerror(errno));
}

static int dgram_copy(struct session *ss, char *err, size_t errlen)
{
    const char *line;
    size_t len;
    int rc;

    while ((rc = client_lines_next(&ss->in, -1, &line, &len)) > 0) {
        ssize_t n;
        if (ss->t->no_reply) {
            /* Send-only (a log socket): a datagram that went is all there is to know. */
            if (dgram_send(ss->conn.fd, line, len, now_ms() + dgram_wait(ss->t)) < 0)
                return err_set(err, errlen, "%s: %s", ss->t->name, strerror(errno));
            continue;
        }
        n = dgram_exchange(ss, line, len);
        if (n < 0)
            return dgram_failed(ss->t, err, errlen);
        if (write_all(STDOUT_FILENO, ss->dgram, (size_t)n) < 0)
            return output_failed(err, errlen);
    }
    return rc < 0 ? input_failed(err, errlen) : 0;
}

int client_copy(const struct client_target *t, char *err, size_t errlen)
{
    struct session *ss;
    int rc;

    if (!is_datagram(t)) {
        struct client_conn c;
        if (client_open_conn(t, &c, err, errlen) < 0)
            return -1;
        rc = client_stream_copy(&c, t->name, t->wait_ms, err, errlen);
        client_conn_close(&c);
        return rc;
    }
    if ((ss = session_open(t, err, errlen)) == NULL)
        return -1;
    rc = dgram_copy(ss, err, errlen);
    session_close(ss);
    return rc < 0 ? -1 : 0;
}

/* Request and reply on a stream */

/* Read `len` bytes unless the end of the data comes first.  Returns the count, or -1 with errno. */
static ssize_t recv_full(struct client_conn *c, void *buf, size_t len, int64_t deadline)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = client_conn_recv_wait(c, (char *)buf + got, len - got, deadline);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* sum and sumbin */

/* Print a reply line as received, counting the errors for the exit status. */
static int print_reply(struct session *ss, const char *reply, size_t len, char *err, size_t errlen)
{
    if (len >= 6 && memcmp(reply, "error:", 6) == 0)
        ss->errors++;
    if (write_all(STDOUT_FILENO, reply, len) < 0)
        return output_failed(err, errlen);
    return 0;
}

static int print_text(struct session *ss, const char *text, char *err, size_t errlen)
{
    return print_reply(ss, text, strlen(text), err, errlen);
}

static int sum_line_stream(struct session *ss, const char *line, size_t len, char *err,
                           size_t errlen)
{
    int64_t deadline = deadline_after(ss->t->wait_ms);
    bool ended =
        len > 0 && line[len - 1] == '\n'; /* lines are never empty; said for the analyzer */
    const char *reply;
    size_t rlen;
    int rc;

    /* The server answers at the "\n": a last line without one gets it here. */
    if (client_conn_send_all(&ss->conn, line, len, deadline) < 0 ||
        (!ended && client_conn_send_all(&ss->conn, "\n", 1, deadline) < 0))
        return stream_failed(ss->t, &ss->conn, err, errlen);
    rc = client_lines_next(&ss->reply, deadline, &reply, &rlen);
    if (rc == 0)
        return err_set(err, errlen, "%s: connection closed before the reply", ss->t->name);
    if (rc < 0)
        return stream_failed(ss->t, &ss->conn, err, errlen);
    return print_reply(ss, reply, rlen, err, errlen);
}

static int sum_line_dgram(struct session *ss, const char *line, size_t len, char *err,
                          size_t errlen)
{
    ssize_t n = dgram_exchange(ss, line, len);

    if (n < 0)
        return dgram_failed(ss->t, err, errlen);
    return print_reply(ss, ss->dgram, (size_t)n, err, errlen);
}

/* Send a sumbin record and take the 12-byte reply, over either kind of socket. */
static int sumbin_exchange(struct session *ss, const unsigned char req[SUMBIN_REQUEST],
                           unsigned char reply[SUMBIN_REPLY], char *err, size_t errlen)
{
    int64_t deadline = deadline_after(ss->t->wait_ms);
    ssize_t n;

    if (is_datagram(ss->t)) {
        if ((n = dgram_exchange(ss, req, SUMBIN_REQUEST)) < 0)
            return dgram_failed(ss->t, err, errlen);
        if (n != SUMBIN_REPLY)
            return err_set(err, errlen, "%s: reply of %zd bytes, expected %d", ss->t->name, n,
                           SUMBIN_REPLY);
        memcpy(reply, ss->dgram, SUMBIN_REPLY);
        return 0;
    }
    if (client_conn_send_all(&ss->conn, req, SUMBIN_REQUEST, deadline) < 0 ||
        (n = recv_full(&ss->conn, reply, SUMBIN_REPLY, deadline)) < 0)
        return stream_failed(ss->t, &ss->conn, err, errlen);
    if (n < SUMBIN_REPLY)
        return err_set(err, errlen, "%s: connection closed before the reply", ss->t->name);
    return 0;
}

int client_sumbin_text(const unsigned char reply[SUMBIN_REPLY], char text[SUM_REPLY_MAX],
                       uint32_t *status)
{
    int64_t sum;

    sumbin_parse_reply(reply, status, &sum);
    if (*status == SUMBIN_OVERFLOW) {
        snprintf(text, SUM_REPLY_MAX, "%s", sum_error_text(SUM_ERR_OVERFLOW));
        return 0;
    }
    if (*status != SUMBIN_OK)
        return -1;
    snprintf(text, SUM_REPLY_MAX, "%lld\n", (long long)sum);
    return 0;
}

static int sumbin_line(struct session *ss, const char *line, size_t len, char *err, size_t errlen)
{
    unsigned char req[SUMBIN_REQUEST], reply[SUMBIN_REPLY];
    char text[SUM_REPLY_MAX];
    int64_t a, b;
    uint32_t status;

    if (line[len - 1] == '\n')
        len--;
    /* The binary protocol cannot carry a bad line: it is answered here. */
    if (sum_parse(line, len, &a, &b) != SUM_OK)
        return print_text(ss, sum_error_text(SUM_ERR_INPUT), err, errlen);
    sumbin_request(a, b, req);
    if (sumbin_exchange(ss, req, reply, err, errlen) < 0)
        return -1;
    if (client_sumbin_text(reply, text, &status) < 0)
        return err_set(err, errlen, "%s: unknown reply status %lu", ss->t->name,
                       (unsigned long)status);
    return print_text(ss, text, err, errlen);
}

static int sum_line(struct session *ss, bool binary, const char *line, size_t len, char *err,
                    size_t errlen)
{
    if (binary)
        return sumbin_line(ss, line, len, err, errlen);
    if (is_datagram(ss->t))
        return sum_line_dgram(ss, line, len, err, errlen);
    return sum_line_stream(ss, line, len, err, errlen);
}

int client_sum(const struct client_target *t, bool binary, unsigned *error_replies, char *err,
               size_t errlen)
{
    struct session *ss = session_open(t, err, errlen);
    const char *line;
    size_t len;
    int rc;

    *error_replies = 0;
    if (ss == NULL)
        return -1;
    do {
        rc = client_lines_next(&ss->in, -1, &line, &len);
        if (rc > 0)
            rc = sum_line(ss, binary, line, len, err, errlen);
        else if (rc < 0 && errno == EMSGSIZE) /* too long to send; answered as usherd would */
            rc = print_text(ss, sum_error_text(binary ? SUM_ERR_INPUT : SUM_ERR_TOO_LONG), err,
                            errlen);
        else if (rc < 0)
            rc = input_failed(err, errlen);
        else
            rc = STOPPED; /* the end of stdin */
    } while (rc == 0);
    *error_replies = ss->errors;
    session_close(ss);
    return rc < 0 ? -1 : 0;
}

/* time */

static int time_stream(struct session *ss, unsigned char value[4], char *err, size_t errlen)
{
    int64_t deadline = deadline_after(ss->t->wait_ms);
    char extra;
    ssize_t n = recv_full(&ss->conn, value, 4, deadline);

    if (n < 0)
        return stream_failed(ss->t, &ss->conn, err, errlen);
    if (n < 4)
        return err_set(err, errlen, "%s: short reply: %zd of 4 bytes", ss->t->name, n);
    /* RFC 868: the 4 bytes, then the close.  Anything else is not a time server. */
    n = recv_full(&ss->conn, &extra, 1, deadline);
    if (n < 0)
        return stream_failed(ss->t, &ss->conn, err, errlen);
    if (n > 0)
        return err_set(err, errlen, "%s: reply longer than 4 bytes", ss->t->name);
    return 0;
}

static int time_dgram(struct session *ss, unsigned char value[4], char *err, size_t errlen)
{
    /* RFC 868 over UDP: any datagram, usually an empty one, asks for the time. */
    ssize_t n = dgram_exchange(ss, "", 0);

    if (n < 0)
        return dgram_failed(ss->t, err, errlen);
    if (n != 4)
        return err_set(err, errlen, "%s: reply of %zd bytes, expected 4", ss->t->name, n);
    memcpy(value, ss->dgram, 4);
    return 0;
}

int client_time(const struct client_target *t, char *err, size_t errlen)
{
    struct session *ss = session_open(t, err, errlen);
    unsigned char value[4];
    char text[40];
    size_t len;
    int rc;

    if (ss == NULL)
        return -1;
    rc = is_datagram(t) ? time_dgram(ss, value, err, errlen) : time_stream(ss, value, err, errlen);
    session_close(ss);
    if (rc < 0)
        return -1;
    /* One byte kept for the "\n". */
    if (client_format_time(get_be32(value), text, sizeof(text) - 1) < 0)
        return err_set(err, errlen, "%s: time %lu cannot be shown", t->name,
                       (unsigned long)get_be32(value));
    len = strlen(text);
    text[len++] = '\n';
    if (write_all(STDOUT_FILENO, text, len) < 0)
        return output_failed(err, errlen) < 0 ? -1 : 0;
    return 0;
}
