/*
 * forward: connecting to a backend, then relaying (see forward.h).
 */
#include "forward.h"

#include "ev.h"
#include "io.h"
#include "log.h"
#include "proxy.h"
#include "relay.h"
#include "tls.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct forward {
    struct forward *prev, *next;
    struct forward_set *set;
    struct svc *svc;
    struct accepted a; /* the client: its socket, SSL and peer */
    int64_t started_ms, started_ev;
    size_t next_backend; /* the one to try after the current */
    int backend_fd;      /* connecting, or -1 */
    int last_err;
    struct ev_timer timer; /* connect_timeout of the current backend */
    struct relay *relay;   /* once connected */
    char tried[512];       /* "A,B": the backends tried, for the line */
    char peer[ADDR_TEXT_MAX];
    char tls_fields[400];
    uint32_t listed; /* in the open connections /status shows */
};

static struct ev_loop *loop_of(const struct forward *f)
{
    return f->svc->set->loop;
}

static void unlink_forward(struct forward *f)
{
    if (f->prev != NULL)
        f->prev->next = f->next;
    else
        f->set->head = f->next;
    if (f->next != NULL)
        f->next->prev = f->prev;
}

/* The connection's line, then everything let go.  `extra`: " backend=..." or " backends=...". */
static void finish(struct forward *f, uint64_t in, uint64_t out, const char *end, const char *extra)
{
    struct svc *svc = f->svc;

    if (log_enabled(LOG_LVL_INFO)) {
        char line_end[1100];
        snprintf(line_end, sizeof(line_end), "%s%s%s", end, extra, f->tls_fields);
        svc_log_line(svc, f->a.kind, f->peer, now_ms() - f->started_ms, in, out, line_end);
    }
    if (f->a.fd >= 0) { /* never relayed: still ours */
        SSL_free(f->a.ssl);
        close_quietly(f->a.fd);
    }
    svc_count_bytes(svc, in, out);
    svc_count_ended(svc, now_ms() - f->started_ms);
    svc_unlist(svc, f->listed);
    ev_timer_stop(loop_of(f), &f->timer);
    unlink_forward(f);
    svc_release(svc, &f->a.key, SVC_USE_CONN);
    free(f);
}

static void on_relay_end(void *arg, const struct relay_result *res)
{
    struct forward *f = arg;
    const struct forward_conf *fc = f->svc->conf->forward;
    char extra[ADDR_TEXT_MAX + 16];

    f->relay = NULL;
    f->a.fd = -1; /* the relay closed it */
    snprintf(extra, sizeof(extra), " backend=%s", fc->text[f->next_backend - 1]);
    finish(f, res->in, res->out, res->end, extra);
}

/* No backend took it: the client is closed, the line names the last cause and every try. */
static void give_up(struct forward *f)
{
    char end[64], extra[600];

    snprintf(end, sizeof(end), "forward:%s", errno_name(f->last_err));
    snprintf(extra, sizeof(extra), " backends=%s", f->tried);
    finish(f, 0, 0, end, extra);
}

static void try_next(struct forward *f);

static void drop_backend(struct forward *f, int err)
{
    f->last_err = err;
    ev_timer_stop(loop_of(f), &f->timer);
    if (f->backend_fd >= 0) {
        ev_io_del(loop_of(f), f->backend_fd);
        close_quietly(f->backend_fd);
        f->backend_fd = -1;
    }
}

/*
 * forward_proxy_protocol: the header naming the client to the backend, the
 * destination being the address the client reached (ours).
 */
static size_t proxy_header(const struct forward *f, unsigned char *buf, size_t size)
{
    struct sockaddr_storage local;
    socklen_t len = sizeof(local);
    const struct sockaddr *src = (const struct sockaddr *)&f->a.peer;
    const struct sockaddr *dst = (const struct sockaddr *)&local;

    if (getsockname(f->a.fd, (struct sockaddr *)&local, &len) < 0)
        dst = NULL;
    if (f->svc->conf->forward->proxy_version == 1)
        return proxy_encode_v1((char *)buf, size, src, dst);
    return proxy_encode_v2(buf, size, src, dst);
}

/* Connected: the relay takes both sockets (and the PROXY header goes first). */
static void connected(struct forward *f)
{
    struct relay_opts opts = {.idle_timeout_ms = f->svc->conf->idle_timeout_ms,
                              .max_time_ms = f->svc->conf->max_time_ms,
                              .started_ms = f->started_ev,
                              .pool = &f->set->pipes,
                              .peer_in_loop = true}; /* as its connect was watched */
    unsigned char header[PROXY_ENCODE_MAX];
    struct io client;
    int fd = f->backend_fd;

    if (f->svc->conf->forward->proxy_version != 0) {
        opts.preface = header;
        opts.preface_len = proxy_header(f, header, sizeof(header));
    }
    ev_timer_stop(loop_of(f), &f->timer);
    f->backend_fd = -1;
    io_init(&client, f->a.fd, f->a.ssl);
    f->relay = relay_start(loop_of(f), &client, fd, &opts, on_relay_end, f);
    if (f->relay == NULL) {
        f->last_err = errno;
        ev_io_del(loop_of(f), fd);
        close_quietly(fd);
        give_up(f);
    }
}

static void on_connect(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct forward *f = arg;
    int err = 0;
    socklen_t len = sizeof(err);

    (void)loop;
    /*
     * Writable alone: connected.  A failure makes it readable as well (an
     * error is both); so may a backend that spoke at once: SO_ERROR tells.
     */
    if (events != EV_WRITE && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0) {
        drop_backend(f, err);
        try_next(f);
        return;
    }
    connected(f);
}

static void on_connect_timeout(struct ev_loop *loop, struct ev_timer *t)
{
    struct forward *f = t->arg;

    (void)loop;
    drop_backend(f, ETIMEDOUT);
    try_next(f);
}

static void note_tried(struct forward *f, const char *text)
{
    size_t used = strlen(f->tried);

    snprintf(f->tried + used, sizeof(f->tried) - used, "%s%s", used > 0 ? "," : "", text);
}

/* Connect to the next backend; at the end of the list, give up. */
static void try_next(struct forward *f)
{
    const struct forward_conf *fc = f->svc->conf->forward;

    while (f->next_backend < fc->n) {
        const struct addr *b = &fc->backend[f->next_backend];
        int fd = socket(b->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        note_tried(f, fc->text[f->next_backend]);
        f->next_backend++;
        if (fd < 0) {
            f->last_err = errno;
            continue;
        }
        f->backend_fd = fd;
        if (connect(fd, (const struct sockaddr *)&b->ss, b->len) == 0) {
            if (ev_io_add(loop_of(f), fd, 0, on_connect, f) == 0) {
                connected(f);
                return;
            }
        } else if ((errno == EINPROGRESS || errno == EINTR) && /* EINTR: it goes on */
                   ev_io_add(loop_of(f), fd, EV_READ | EV_WRITE, on_connect, f) == 0) {
            /* Readable too: a failure is both, a success writable alone (see on_connect). */
            /* (A Unix backend with a full queue says EAGAIN: not connecting at all, next.) */
            ev_timer_start(loop_of(f), &f->timer, fc->connect_timeout_ms);
            return;
        }
        drop_backend(f, errno);
    }
    give_up(f);
}

static void link_forward(struct forward_set *fs, struct forward *f)
{
    f->set = fs;
    f->prev = NULL;
    f->next = fs->head;
    if (fs->head != NULL)
        fs->head->prev = f;
    fs->head = f;
}

void forward_start(struct forward_set *fs, struct svc *svc, const struct accepted *a)
{
    struct forward *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        svc_warnx(svc, SVC_WARN_CONN, "service=%s: unable to take a connection: %s",
                  svc->conf->name, strerror(ENOMEM));
        SSL_free(a->ssl);
        close_quietly(a->fd);
        svc_release(svc, &a->key, a->opened ? SVC_USE_CONN : SVC_USE_NONE);
        return;
    }
    f->svc = svc;
    f->a = *a;
    f->backend_fd = -1;
    f->started_ms = now_ms();
    f->started_ev = ev_now(svc->set->loop);
    tls_log_fields(a->ssl, f->tls_fields, sizeof(f->tls_fields));
    accepted_peer_text(a, f->peer, sizeof(f->peer));
    free(f->a.proxy); /* a forward has no program to tell more */
    f->a.proxy = NULL;
    ev_timer_init(&f->timer, on_connect_timeout, f);
    link_forward(fs, f);
    if (!a->opened)
        svc_opened(svc, SVC_USE_CONN);
    f->listed = svc_list(svc, (const struct sockaddr *)&a->peer, 0);
    try_next(f);
}

void forward_close_all(struct forward_set *fs, const char *end)
{
    for (struct forward *f = fs->head, *next; f != NULL; f = next) {
        next = f->next;
        if (f->relay != NULL) {
            relay_close_now(f->relay, end);
            continue;
        }
        drop_backend(f, 0);
        finish(f, 0, 0, end, "");
    }
    relay_pool_drain(&fs->pipes);
}

void forward_forget(struct forward_set *fs)
{
    fs->head = NULL;
    fs->pipes.n = 0; /* the parent's: a child closes its descriptors with the rest */
}
