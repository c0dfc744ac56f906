/*
 * bench: the load generator (see bench.h).
 *
 * Each of CONNS slots runs its own cycle of transactions in one epoll
 * loop: connect (connect mode only), send the request, read the reply,
 * record the latency, start again.  Requests are SIZE bytes of a pattern
 * and echoed replies are compared with them, so a server that loses or
 * mangles bytes shows up as errors, not as speed.
 *
 * Over tls:// each slot's connection is a client_conn with TLS on it: the
 * handshake runs in the same loop, step by step, each slot waiting for
 * what its last OpenSSL call waits for (a read may wait to write), and
 * bytes OpenSSL holds decrypted are read before the next wait.  In
 * connect mode a transaction is a connect, a full handshake (or, with
 * --resume, one resuming the session the slot's last connection got), one
 * request and reply, and a close with close_notify.
 *
 * With --proxy each new connection first sends a PROXY header, as a load
 * balancer in front of the server would: the connection's own address as
 * the client, the server's as the address reached.  It goes before
 * anything else, before the TLS handshake too, in one segment with the
 * bytes that follow it at once (the request, the ClientHello), as a
 * balancer that has them sends it.
 */
#include "bench.h"

#include "addr.h"
#include "client.h"
#include "client_tls.h"
#include "hist.h"
#include "proxy.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BENCH_CONNS_MAX 100000
#define BULK_CHUNK      (256 * 1024)
#define TICK_MS         100

enum mode { CONNECT, PINGPONG, BULK, UDP, MODE_COUNT };

static const char *const mode_names[MODE_COUNT] = {"connect", "pingpong", "bulk", "udp"};

enum err_kind { E_CONNECT, E_RESET, E_TIMEOUT, E_SHORT, E_MISMATCH, E_TLS, E_OTHER, E_KINDS };

static const char *const err_names[E_KINDS] = {"connect",  "reset", "timeout", "short",
                                               "mismatch", "tls",   "other"};

enum slot_state { IDLE, CONNECTING, HANDSHAKING, SENDING, RECEIVING };

struct slot {
    struct client_conn conn; /* fd -1: closed */
    SSL_SESSION *session;    /* --resume: what the slot's last connection got */
    uint32_t interest;       /* epoll events asked for */
    enum slot_state state;
    size_t sent, got;
    uint64_t seq;       /* udp: the number in the request */
    int64_t start_ns;   /* of the transaction */
    int64_t active_ns;  /* last progress, for the timeout */
    size_t proxy_sent;  /* --proxy: bytes of the connection's header sent */
    bool proxy_done;    /* ... and all of them */
    uint64_t completed; /* transactions this slot finished */
};

struct bench {
    enum mode mode;
    unsigned conns;
    double seconds;
    uint64_t count; /* 0: run for `seconds` */
    size_t size;
    int64_t timeout_ns;
    bool json, reset;
    bool resume;                 /* connect over tls://: resume sessions */
    int proxy;                   /* --proxy: 1 or 2, the PROXY header version; 0: none */
    struct client_tls_opts tlso; /* --ca, --insecure, ... */
    SSL_CTX *ctx;                /* tls:// addresses only */
    char host[256];              /* as written: for SNI and the certificate check */
    uint64_t handshakes, resumed;
    char target[ADDR_TEXT_MAX];
    struct addr addr;
    int epfd;
    struct slot *slots;
    char *req, *buf;
    size_t bufsize;
    uint64_t done, errors[E_KINDS], bytes_in, bytes_out;
    unsigned stalled; /* slots that finished no transaction in the whole run */
    uint64_t started; /* transactions begun (for -n) */
    struct hist hist;
    int64_t t0, last_progress, last_tick;
    bool tty;
};

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: usher bench [-c CONNS] [-d SECONDS | -n COUNT] [-s SIZE] [-w SEC] [--reset]\n"
            "                   [--proxy v1|v2] [--json] connect|pingpong|bulk|udp ADDRESS\n"
            "  -c CONNS   concurrent connections (udp: requests outstanding), default 1\n"
            "  -d SECONDS how long to run (default 5; 0.5, 1500ms), or -n COUNT transactions\n"
            "  -s SIZE    request size in bytes (default 64; bulk: chunk, 256K); connect\n"
            "             -s 0: no request, the transaction ends at the server's close\n"
            "  -w SEC     a transaction with no progress for this long is an error (5)\n"
            "  --reset    connect: close by reset (SO_LINGER 0), no TIME_WAIT\n"
            "  --proxy V  streams: each connection starts with a PROXY header, version v1\n"
            "             or v2, naming its own address and the server's (as a balancer)\n"
            "  --json     one JSON object on stdout instead of text\n"
            "ADDRESS tls://HOST:PORT: every mode inside TLS (connect: full handshakes)\n"
            "  --resume   connect: resume each slot's last session instead\n"
            "  --ca FILE, --insecure, --cert FILE --key FILE, --servername NAME, --alpn LIST\n"
            "             as for usher (see usher -h)\n");
}

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "usher: bench: %s%s%s\n", what, arg ? " " : "", arg ? arg : "");
    usage(stderr);
    return 2;
}

/* Events */

/* Ask for `events` on the slot's socket: a system call only when that changes. */
static int watch(struct bench *b, struct slot *s, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = s};
    int op = s->interest == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;

    if (events == s->interest)
        return 0;
    if (epoll_ctl(b->epfd, op, s->conn.fd, &ev) < 0)
        return -1;
    s->interest = events;
    return 0;
}

static void close_slot(struct bench *b, struct slot *s)
{
    if (s->conn.fd < 0)
        return;
    if (b->reset && b->mode == CONNECT) {
        struct linger lg = {1, 0};
        /* Without it the close is not the reset the report names: an error. */
        if (setsockopt(s->conn.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
            b->errors[E_OTHER]++;
    }
    client_conn_close(&s->conn); /* the close also takes it out of the epoll set */
    s->interest = 0;
    s->state = IDLE;
}

static void fail(struct bench *b, struct slot *s, enum err_kind kind)
{
    b->errors[kind]++;
    close_slot(b, s);
}

static enum err_kind kind_of(int err, enum slot_state state)
{
    if (err == EPROTO)
        return E_TLS;
    if (state == CONNECTING || err == ECONNREFUSED || err == ENETUNREACH || err == EADDRNOTAVAIL)
        return E_CONNECT;
    if (err == ECONNRESET || err == EPIPE)
        return E_RESET;
    return E_OTHER;
}

static bool more_to_start(struct bench *b)
{
    if (b->count != 0)
        return b->started < b->count;
    return now_ns() - b->t0 < (int64_t)(b->seconds * 1e9);
}

/* Transactions */

static void begin(struct bench *b, struct slot *s)
{
    s->sent = s->got = 0;
    s->start_ns = s->active_ns = now_ns();
    s->state = SENDING;
    b->started++;
}

/* Put TLS on the slot's new connection, with its last session to resume if asked. */
static int start_tls(struct bench *b, struct slot *s)
{
    char err[256];

    if (client_conn_start_tls(&s->conn, b->ctx, &b->tlso, b->host, err, sizeof(err)) < 0)
        return -1;
    if (b->resume && s->session != NULL && SSL_set_session(s->conn.ssl, s->session) != 1)
        return -1;
    return 0;
}

static int open_socket(struct bench *b, struct slot *s)
{
    int type = addr_kind_socktype(b->addr.kind) | SOCK_NONBLOCK | SOCK_CLOEXEC;
    int on = 1, fd = socket(b->addr.ss.ss_family, type, 0);

    if (fd < 0)
        return -1;
    client_conn_init(&s->conn, fd); /* closed by close_slot from here on */
    s->proxy_sent = 0;
    s->proxy_done = false;
    if (b->addr.kind == ADDR_TCP && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) < 0)
        return -1;
    if (b->addr.kind == ADDR_UNIXGRAM) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        if (bind(fd, (struct sockaddr *)&sun, sizeof(sa_family_t)) < 0)
            return -1;
    }
    if (connect(fd, (struct sockaddr *)&b->addr.ss, b->addr.len) < 0 && errno != EINPROGRESS)
        return -1;
    if (b->ctx != NULL && start_tls(b, s) < 0)
        return -1;
    return watch(b, s, EPOLLOUT);
}

static void do_send(struct bench *b, struct slot *s);

/* Start the slot's next transaction (a new connection in connect mode). */
static void next(struct bench *b, struct slot *s)
{
    if (!more_to_start(b)) {
        close_slot(b, s);
        return;
    }
    if (s->conn.fd < 0) {
        int64_t t = now_ns();
        if (open_socket(b, s) < 0) {
            b->errors[E_CONNECT]++;
            close_slot(b, s);
            return;
        }
        begin(b, s);
        s->start_ns = t; /* the connect is part of the transaction */
        /* A TLS connection is set up before its first request, whatever the mode. */
        s->state = b->mode == CONNECT || b->ctx != NULL ? CONNECTING : SENDING;
        return;
    }
    /* The socket can nearly always take the request now: no wait for EPOLLOUT. */
    begin(b, s);
    do_send(b, s);
}

/*
 * A connect-mode transaction over TLS ends with close_notify, sent once
 * and not waited for (as a client closing after its reply would), and
 * the session is kept for the slot's next connection.  By now the
 * server's TLS 1.3 tickets have come: they precede the reply.
 */
static void tls_goodbye(struct bench *b, struct slot *s)
{
    SSL_SESSION *sess;

    if (s->conn.ssl == NULL)
        return;
    if (b->resume && (sess = SSL_get1_session(s->conn.ssl)) != NULL) {
        if (SSL_SESSION_is_resumable(sess)) {
            SSL_SESSION_free(s->session);
            s->session = sess;
        } else {
            SSL_SESSION_free(sess);
        }
    }
    (void)client_conn_shutdown(&s->conn);
}

static void finish(struct bench *b, struct slot *s)
{
    int64_t t = now_ns();

    hist_record(&b->hist, (uint64_t)(t - s->start_ns));
    b->done++;
    s->completed++;
    if (b->mode == CONNECT) {
        tls_goodbye(b, s);
        close_slot(b, s);
    }
    next(b, s);
}

/* An I/O call of the slot could not go on: wait for what it waits for, or count the error. */
static void blocked(struct bench *b, struct slot *s, short want)
{
    if (errno != EAGAIN)
        fail(b, s, kind_of(errno, s->state));
    else if (watch(b, s, (uint32_t)want) < 0)
        fail(b, s, E_OTHER);
}

/*
 * --proxy: send what is left of the connection's PROXY header and, in the
 * same call, up to `len` bytes of `data` after it (none: NULL), so that a
 * plain request costs no system call more.  Alone, the header goes with
 * MSG_MORE: it then leaves in one segment with what is sent next (the
 * ClientHello, the first bulk bytes).  It is encoded afresh on each try
 * (the same bytes: neither address changes), so that a slot keeps only a
 * count.  Returns how many bytes of `data` went (0 until the header has,
 * s->proxy_done says when), or -1 with errno (EAGAIN: wait to write; the
 * connect's error if it failed).
 */
static ssize_t send_proxy_header(const struct bench *b, struct slot *s, const char *data,
                                 size_t len)
{
    struct sockaddr_storage self;
    socklen_t self_len = sizeof(self);
    unsigned char hdr[PROXY_ENCODE_MAX];
    const struct sockaddr *src = (const struct sockaddr *)&self;
    const struct sockaddr *dst = (const struct sockaddr *)&b->addr.ss;
    size_t hlen, left;
    struct iovec iov[2];
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = data != NULL ? 2 : 1};
    ssize_t n;

    if (getsockname(s->conn.fd, (struct sockaddr *)&self, &self_len) < 0)
        return -1;
    hlen = b->proxy == 1 ? proxy_encode_v1((char *)hdr, sizeof(hdr), src, dst)
                         : proxy_encode_v2(hdr, sizeof(hdr), src, dst);
    if (hlen <= s->proxy_sent) {
        errno = EOVERFLOW; /* cannot happen: PROXY_ENCODE_MAX fits either */
        return -1;
    }
    left = hlen - s->proxy_sent;
    iov[0] = (struct iovec){.iov_base = hdr + s->proxy_sent, .iov_len = left};
    iov[1] = (struct iovec){.iov_base = (void *)(uintptr_t)data, .iov_len = len};
    do
        n = sendmsg(s->conn.fd, &msg, MSG_NOSIGNAL | (data == NULL ? MSG_MORE : 0));
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    if ((size_t)n < left) {
        s->proxy_sent += (size_t)n;
        return 0;
    }
    s->proxy_sent = hlen;
    s->proxy_done = true;
    return n - (ssize_t)left;
}

static void do_send(struct bench *b, struct slot *s)
{
    ssize_t n;

    if (b->mode == UDP)
        memcpy(b->req, &s->seq, sizeof(s->seq) < b->size ? sizeof(s->seq) : b->size);
    if (b->size == 0 && (b->proxy == 0 || s->proxy_done)) {
        /* -s 0: nothing to send; a failed connect shows in the first read. */
        s->state = RECEIVING;
        if (watch(b, s, (uint32_t)s->conn.read_want) < 0)
            fail(b, s, E_OTHER);
        return;
    }
    if (b->proxy != 0 && !s->proxy_done)
        n = send_proxy_header(b, s, b->req + s->sent, b->size - s->sent);
    else
        n = client_conn_send(&s->conn, b->req + s->sent, b->size - s->sent);
    if (n < 0) {
        blocked(b, s, s->conn.write_want);
        return;
    }
    s->sent += (size_t)n;
    s->active_ns = now_ns();
    b->bytes_out += (size_t)n;
    if (s->sent < b->size) {
        if (watch(b, s, (uint32_t)s->conn.write_want) < 0)
            fail(b, s, E_OTHER);
        return;
    }
    s->state = RECEIVING;
    if (watch(b, s, (uint32_t)s->conn.read_want) < 0)
        fail(b, s, E_OTHER);
}

/* One read of the reply.  Returns true if the slot is still receiving and should read again. */
static bool recv_once(struct bench *b, struct slot *s)
{
    size_t want = b->size - s->got;
    ssize_t n =
        client_conn_recv(&s->conn, b->buf, b->mode == UDP || b->size == 0 ? b->bufsize : want);

    if (n < 0) {
        blocked(b, s, s->conn.read_want);
        return false;
    }
    if (n == 0 && b->size == 0) {
        finish(b, s); /* -s 0: the server's close is the reply */
        return false;
    }
    if (n == 0) {
        fail(b, s, E_SHORT);
        return false;
    }
    b->bytes_in += (size_t)n;
    s->active_ns = now_ns();
    if (b->size == 0)
        return true; /* what the program says before it closes */
    if (b->mode == UDP) {
        /* A late reply to an earlier, timed-out request is not this one's. */
        if ((size_t)n != b->size || memcmp(b->buf, &s->seq, sizeof(s->seq)) != 0)
            return false;
        s->seq += (uint64_t)b->conns;
        finish(b, s);
        return false;
    }
    if (memcmp(b->buf, b->req + s->got, (size_t)n) != 0) {
        fail(b, s, E_MISMATCH);
        return false;
    }
    s->got += (size_t)n;
    if (s->got == b->size) {
        finish(b, s);
        return false;
    }
    return true;
}

static void do_recv(struct bench *b, struct slot *s)
{
    /* Poll does not wake for what OpenSSL holds decrypted: read it now. */
    while (recv_once(b, s) && client_conn_pending(&s->conn))
        continue;
}

/*
 * Bulk: both ways at once, as fast as the socket goes.  The stream is the
 * pattern without a break (each send starts where the last one ended), so
 * every echoed byte can be checked against its place in it.  A call that
 * cannot go on is retried with the same bytes, as TLS requires.
 */
static int bulk_send(struct bench *b, struct slot *s)
{
    /* Up to a chunk per wake-up: over TLS each call sends one record. */
    for (size_t budget = 0; budget < b->size;) {
        ssize_t n = client_conn_send(&s->conn, b->req + s->sent % 26, b->size);
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n < 0) {
            fail(b, s, kind_of(errno, RECEIVING));
            return -1;
        }
        b->bytes_out += (size_t)n;
        s->sent += (size_t)n;
        budget += (size_t)n;
        s->active_ns = now_ns();
    }
    return 0;
}

static int bulk_recv(struct bench *b, struct slot *s)
{
    do {
        ssize_t n = client_conn_recv(&s->conn, b->buf, b->bufsize);
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0) {
            fail(b, s, n == 0 ? E_SHORT : kind_of(errno, RECEIVING));
            return -1;
        }
        if (memcmp(b->buf, b->req + s->got % 26, (size_t)n) != 0) {
            fail(b, s, E_MISMATCH);
            return -1;
        }
        b->bytes_in += (size_t)n;
        s->got += (size_t)n;
        s->active_ns = now_ns();
    } while (client_conn_pending(&s->conn));
    return 0;
}

static void do_bulk(struct bench *b, struct slot *s, uint32_t events)
{
    uint32_t rd = (uint32_t)s->conn.read_want, wr = (uint32_t)s->conn.write_want;

    if ((events & (wr | EPOLLERR | EPOLLHUP)) && bulk_send(b, s) < 0)
        return;
    if ((events & (rd | EPOLLERR | EPOLLHUP)) && bulk_recv(b, s) < 0)
        return;
    if (watch(b, s, (uint32_t)(s->conn.read_want | s->conn.write_want)) < 0)
        fail(b, s, E_OTHER);
}

/*
 * One step of a TLS handshake.  Returns true once it is done (a
 * resumption counted); false while it waits, or after a failure.
 */
static bool handshake_step(struct bench *b, struct slot *s)
{
    s->state = HANDSHAKING;
    if (client_conn_handshake(&s->conn) < 0) {
        blocked(b, s, s->conn.read_want);
        return false;
    }
    b->handshakes++;
    if (SSL_session_reused(s->conn.ssl))
        b->resumed++;
    s->active_ns = now_ns();
    /* A persistent connection's set-up is not its first transaction's time. */
    if (b->mode != CONNECT)
        s->start_ns = s->active_ns;
    return true;
}

/*
 * The connect is done (or failed: the first send says); then, over TLS and
 * for bulk, the PROXY header by itself (a plain request takes it along, in
 * do_send), and over TLS the handshake steps.
 */
static void connected(struct bench *b, struct slot *s)
{
    if (b->proxy != 0 && !s->proxy_done && (s->conn.ssl != NULL || b->mode == BULK)) {
        if (send_proxy_header(b, s, NULL, 0) < 0) {
            blocked(b, s, EPOLLOUT);
            return;
        }
        if (!s->proxy_done) {
            if (watch(b, s, EPOLLOUT) < 0)
                fail(b, s, E_OTHER);
            return;
        }
        s->active_ns = now_ns();
    }
    if (s->conn.ssl != NULL && !handshake_step(b, s))
        return;
    s->state = SENDING;
    if (b->mode == BULK)
        do_bulk(b, s, EPOLLOUT);
    else
        do_send(b, s);
}

static void on_event(struct bench *b, struct slot *s, uint32_t events)
{
    uint32_t gone = EPOLLERR | EPOLLHUP;
    uint32_t rd = (uint32_t)s->conn.read_want | gone, wr = (uint32_t)s->conn.write_want | gone;

    if (s->conn.fd < 0)
        return;
    if (s->state == CONNECTING || s->state == HANDSHAKING)
        connected(b, s);
    else if (b->mode == BULK)
        do_bulk(b, s, events);
    else if (s->state == SENDING && (events & wr) != 0)
        do_send(b, s);
    else if (s->state == RECEIVING && (events & rd) != 0)
        do_recv(b, s);
}

/*
 * A slot with no progress for the timeout: an error; a lost datagram is
 * resent.  A slot closed by an error starts again here, a tick later, so
 * a server that refuses at once does not make us spin.
 */
static void check_timeouts(struct bench *b)
{
    int64_t t = now_ns();

    if (t - b->last_tick < TICK_MS * 1000000LL)
        return;
    b->last_tick = t;

    for (unsigned i = 0; i < b->conns; i++) {
        struct slot *s = &b->slots[i];
        if (s->conn.fd < 0 && b->mode != BULK) {
            next(b, s);
            continue;
        }
        if (s->conn.fd < 0 || t - s->active_ns < b->timeout_ns)
            continue;
        b->errors[E_TIMEOUT]++;
        if (b->mode == UDP) {
            s->seq += (uint64_t)b->conns;
            next(b, s);
        } else {
            close_slot(b, s);
            next(b, s);
        }
    }
}

/* Output */

static double elapsed_s(const struct bench *b)
{
    return (double)(now_ns() - b->t0) / 1e9;
}

static uint64_t total_errors(const struct bench *b)
{
    uint64_t n = 0;

    for (int i = 0; i < E_KINDS; i++)
        n += b->errors[i];
    return n;
}

static void format_ns(uint64_t ns, char *buf, size_t size)
{
    if (ns < 10000)
        snprintf(buf, size, "%.1f us", (double)ns / 1e3);
    else if (ns < 10000000)
        snprintf(buf, size, "%.0f us", (double)ns / 1e3);
    else
        snprintf(buf, size, "%.1f ms", (double)ns / 1e6);
}

static void progress(struct bench *b)
{
    int64_t t = now_ns();

    if (!b->tty || t - b->last_progress < 1000000000LL)
        return;
    b->last_progress = t;
    if (b->mode == BULK)
        fprintf(stderr, "\r  %.0f s  %.1f MB/s  errors %llu   ", elapsed_s(b),
                (double)b->bytes_in / 1e6 / elapsed_s(b), (unsigned long long)total_errors(b));
    else
        fprintf(stderr, "\r  %.0f s  %llu done  %.0f /s  errors %llu   ", elapsed_s(b),
                (unsigned long long)b->done, (double)b->done / elapsed_s(b),
                (unsigned long long)total_errors(b));
}

static void report_text(const struct bench *b, double secs)
{
    char p50[32], p99[32], p999[32], max[32];

    printf("usher bench %s %s: %u connection%s, %.2f s, %zu-byte requests%s%s%s\n",
           mode_names[b->mode], b->target, b->conns, b->conns == 1 ? "" : "s", secs, b->size,
           b->mode == CONNECT ? (b->reset ? ", close by reset (SO_LINGER 0)" : ", normal close")
                              : "",
           b->ctx == NULL || b->mode != CONNECT
               ? ""
               : (b->resume ? ", TLS sessions resumed" : ", full TLS handshakes"),
           b->proxy == 0 ? ""
                         : (b->proxy == 1 ? ", PROXY v1 header first" : ", PROXY v2 header first"));
    if (b->ctx != NULL)
        printf("  tls         %llu handshakes, %llu resumed\n", (unsigned long long)b->handshakes,
               (unsigned long long)b->resumed);
    if (b->mode == BULK) {
        printf("  throughput  %.1f MB/s echoed back (%.1f MB/s sent)\n",
               (double)b->bytes_in / 1e6 / secs, (double)b->bytes_out / 1e6 / secs);
    } else {
        format_ns(hist_quantile(&b->hist, 0.5), p50, sizeof(p50));
        format_ns(hist_quantile(&b->hist, 0.99), p99, sizeof(p99));
        format_ns(hist_quantile(&b->hist, 0.999), p999, sizeof(p999));
        format_ns(b->hist.max, max, sizeof(max));
        printf("  rate        %.0f /s (%llu transactions)\n", (double)b->done / secs,
               (unsigned long long)b->done);
        printf("  latency     p50 %s  p99 %s  p99.9 %s  max %s\n", p50, p99, p999, max);
    }
    printf("  errors      %llu", (unsigned long long)total_errors(b));
    for (int i = 0; i < E_KINDS; i++)
        if (b->errors[i])
            printf("  %s %llu", err_names[i], (unsigned long long)b->errors[i]);
    printf("%s\n", b->mode == UDP && b->errors[E_TIMEOUT] ? " (timeouts are lost datagrams)" : "");
    if (b->stalled > 0)
        printf("  stalled     %u of %u connections completed nothing (the server did not take "
               "them?)\n",
               b->stalled, b->conns);
}

static void report_json(const struct bench *b, double secs)
{
    printf(
        "{\"mode\":\"%s\",\"address\":\"%s\",\"conns\":%u,\"seconds\":%.3f,\"size\":%zu,"
        "\"reset\":%s,\"tls\":%s,\"resume\":%s,\"proxy\":%d,\"handshakes\":%llu,\"resumed\":%llu,"
        "\"transactions\":%llu,\"rate\":%.1f,\"mb_per_s\":%.2f,"
        "\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"p99.9\":%.1f,\"max\":%.1f},\"errors\":{",
        mode_names[b->mode], b->target, b->conns, secs, b->size, b->reset ? "true" : "false",
        b->ctx != NULL ? "true" : "false", b->resume ? "true" : "false", b->proxy,
        (unsigned long long)b->handshakes, (unsigned long long)b->resumed,
        (unsigned long long)b->done, (double)b->done / secs, (double)b->bytes_in / 1e6 / secs,
        (double)hist_quantile(&b->hist, 0.5) / 1e3, (double)hist_quantile(&b->hist, 0.99) / 1e3,
        (double)hist_quantile(&b->hist, 0.999) / 1e3, (double)b->hist.max / 1e3);
    for (int i = 0; i < E_KINDS; i++)
        printf("%s\"%s\":%llu", i ? "," : "", err_names[i], (unsigned long long)b->errors[i]);
    printf(",\"total\":%llu},\"stalled\":%u}\n", (unsigned long long)total_errors(b), b->stalled);
}

/* Set-up */

static int parse_args(int argc, char **argv, struct bench *b)
{
    static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
                                             {"reset", no_argument, NULL, 'R'},
                                             {"resume", no_argument, NULL, 'r'},
                                             {"proxy", required_argument, NULL, 'P'},
                                             {"help", no_argument, NULL, 'h'},
                                             CLIENT_TLS_LONGOPTS,
                                             {NULL, 0, NULL, 0}};
    int ch;
    int64_t v;
    uint64_t size;
    bool size_set = false;

    optind = 0;
    while ((ch = getopt_long(argc, argv, "c:d:n:s:w:h", longopts, NULL)) != -1) {
        if (client_tls_opt_set(&b->tlso, ch, optarg))
            continue;
        switch (ch) {
        case 'c':
            if (parse_i64(optarg, 1, BENCH_CONNS_MAX, &v) < 0)
                return usage_error("-c: expected 1 to 100000, not", optarg);
            b->conns = (unsigned)v;
            break;
        case 'd':
            if (client_parse_wait(optarg, &v) < 0 || v > 86400 * 1000)
                return usage_error("-d: expected a time up to a day, like 2, 0.5 or 1500ms, not",
                                   optarg);
            b->seconds = (double)v / 1000.0;
            break;
        case 'n':
            if (parse_i64(optarg, 1, INT64_MAX, &v) < 0)
                return usage_error("-n: expected a count, not", optarg);
            b->count = (uint64_t)v;
            break;
        case 's':
            if (parse_size(optarg, &size) < 0 || size > (64u << 20))
                return usage_error("-s: expected 0 bytes to 64M, not", optarg);
            b->size = (size_t)size;
            size_set = true;
            break;
        case 'w':
            if (client_parse_wait(optarg, &v) < 0)
                return usage_error("-w: expected a time above zero, like 2, 0.5 or 500ms, not",
                                   optarg);
            b->timeout_ns = v * 1000000LL;
            break;
        case 'j':
            b->json = true;
            break;
        case 'R':
            b->reset = true;
            break;
        case 'r':
            b->resume = true;
            break;
        case 'P':
            if (strcmp(optarg, "v1") != 0 && strcmp(optarg, "v2") != 0)
                return usage_error("--proxy: expected v1 or v2, not", optarg);
            b->proxy = optarg[1] - '0';
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
    }
    if (argc - optind != 2)
        return usage_error("expected MODE ADDRESS", NULL);
    for (b->mode = 0; b->mode < MODE_COUNT; b->mode++)
        if (strcmp(argv[optind], mode_names[b->mode]) == 0)
            break;
    if (b->mode == MODE_COUNT)
        return usage_error("unknown mode", argv[optind]);
    if (b->mode == BULK && !size_set)
        b->size = BULK_CHUNK;
    if (b->mode == UDP && b->proxy != 0)
        return usage_error("--proxy goes with the stream modes, not udp", NULL);
    if (b->mode != CONNECT && b->size == 0)
        return usage_error("-s 0 goes with connect mode only", NULL);
    if (b->mode == UDP && b->size < sizeof(uint64_t))
        return usage_error("-s: udp requests carry a sequence number: at least 8 bytes", NULL);
    str_copy(b->target, sizeof(b->target), argv[optind + 1]);
    return 0;
}

/* The TLS options go with a tls:// address, --resume with connect mode over one.  0 or 2. */
static int check_tls(struct bench *b, const struct addr_spec *spec)
{
    char err[256];

    if (client_tls_opts_check(&b->tlso, err, sizeof(err)) < 0)
        return usage_error(err, NULL);
    if (!spec->tls && (client_tls_opts_given(&b->tlso) || b->resume))
        return usage_error("the TLS options and --resume go with a tls:// address, not", b->target);
    if (b->resume && b->mode != CONNECT)
        return usage_error("--resume goes with connect mode, not", mode_names[b->mode]);
    /* A host that fits addr_spec fits here: the same size. */
    str_copy(b->host, sizeof(b->host), spec->host);
    return 0;
}

/* Returns 0, 1 (the address cannot be used) or 2 (mode and address do not go together). */
static int resolve(struct bench *b)
{
    struct addr_spec spec;
    char err[256];
    bool dgram;
    int rc;

    if (addr_parse(b->target, &spec, err, sizeof(err)) < 0) {
        fprintf(stderr, "usher: bench: %s: %s\n", b->target, err);
        return 1;
    }
    dgram = addr_kind_socktype(spec.kind) == SOCK_DGRAM;
    if (dgram != (b->mode == UDP)) {
        fprintf(stderr, "usher: bench: mode %s needs a %s address, not %s\n", mode_names[b->mode],
                b->mode == UDP ? "datagram" : "stream", b->target);
        return 2;
    }
    if ((rc = check_tls(b, &spec)) != 0)
        return rc;
    if (addr_resolve(&spec, false, &b->addr, 1, err, sizeof(err)) < 0) {
        fprintf(stderr, "usher: bench: %s: %s\n", b->target, err);
        return 1;
    }
    return 0;
}

static int prepare(struct bench *b)
{
    char err[512];

    if (b->addr.tls && (b->ctx = client_tls_ctx_new(&b->tlso, err, sizeof(err))) == NULL) {
        fprintf(stderr, "usher: bench: %s\n", err);
        return -1;
    }
    b->bufsize = b->size > 65536 ? b->size : 65536;
    /* The pattern, long enough to start anywhere in its cycle (see do_bulk). */
    b->req = malloc(b->bufsize + 26);
    b->buf = malloc(b->bufsize);
    b->slots = calloc(b->conns, sizeof(*b->slots));
    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (b->req == NULL || b->buf == NULL || b->slots == NULL || b->epfd < 0) {
        fprintf(stderr, "usher: bench: %s\n", strerror(errno ? errno : ENOMEM));
        return -1;
    }
    for (size_t i = 0; i < b->bufsize + 26; i++)
        b->req[i] = (char)('a' + i % 26);
    for (unsigned i = 0; i < b->conns; i++) {
        client_conn_init(&b->slots[i].conn, -1);
        b->slots[i].seq = i;
    }
    b->tty = isatty(STDERR_FILENO) && !b->json;
    return 0;
}

/* Connections open for the persistent modes before the clock starts. */
static void start_slots(struct bench *b)
{
    b->t0 = b->last_progress = now_ns();
    for (unsigned i = 0; i < b->conns; i++) {
        struct slot *s = &b->slots[i];
        if (b->mode == BULK) {
            s->active_ns = b->t0;
            s->state = CONNECTING;
            if (open_socket(b, s) < 0)
                fail(b, s, E_CONNECT);
            continue;
        }
        next(b, s);
    }
}

static bool any_open(const struct bench *b)
{
    for (unsigned i = 0; i < b->conns; i++)
        if (b->slots[i].conn.fd >= 0)
            return true;
    return false;
}

static void run(struct bench *b)
{
    struct epoll_event events[256];

    start_slots(b);
    while (any_open(b) || (b->mode != BULK && more_to_start(b))) {
        int n = epoll_wait(b->epfd, events, 256, TICK_MS);
        for (int i = 0; i < n; i++)
            on_event(b, events[i].data.ptr, events[i].events);
        /* A timed run ends on time: what is still in flight is not counted. */
        if (b->count == 0 && !more_to_start(b))
            break;
        check_timeouts(b);
        progress(b);
    }
    if (b->tty)
        fprintf(stderr, "\r%60s\r", "");
    for (unsigned i = 0; i < b->conns && b->mode != BULK; i++)
        if (b->slots[i].completed == 0)
            b->stalled++;
}

int bench_main(int argc, char **argv)
{
    struct bench *b = calloc(1, sizeof(*b));
    double secs;
    int rc;

    if (b == NULL)
        return 1;
    b->epfd = -1;
    b->conns = 1;
    b->seconds = 5;
    b->size = 64;
    b->timeout_ns = 5000000000LL;
    if ((rc = parse_args(argc, argv, b)) != 0 || (rc = resolve(b)) != 0 || (rc = prepare(b)) != 0) {
        rc = rc < 0 ? 1 : rc;
        goto out;
    }
    run(b);
    secs = elapsed_s(b);
    if (b->json)
        report_json(b, secs);
    else
        report_text(b, secs);
    /* Nothing measured is a failure: a server that answered nothing. */
    rc = (b->mode == BULK ? b->bytes_in == 0 : b->done == 0) ? 1 : 0;
out:
    for (unsigned i = 0; b->slots != NULL && i < b->conns; i++) {
        close_slot(b, &b->slots[i]);
        SSL_SESSION_free(b->slots[i].session);
    }
    SSL_CTX_free(b->ctx);
    if (b->epfd >= 0)
        close(b->epfd);
    free(b->slots);
    free(b->req);
    free(b->buf);
    free(b);
    return rc;
}
