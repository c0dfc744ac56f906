/*
 * control_server: the control socket's HTTP (see control_server.h).
 */
#include "control_server.h"

#include "http.h"
#include "log.h"
#include "metrics_render.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define RESPONSE_MAX    (64 * 1024 * 1024) /* as builtin = metrics: a large /metrics fits */
#define BACKLOG         16
#define ACCEPT_PAUSE_MS 100 /* rest after running out of descriptors or memory */

struct control_conn {
    struct control_server *cs;
    int fd;
    struct http_parser parser;
    char in[CONTROL_IN_MAX]; /* read, not yet parsed */
    size_t inlen;
    struct strbuf out; /* the answer being written */
    size_t sent;
    bool close_after;     /* once the answer is out */
    bool stop_after;      /* POST /stop: once the answer is out */
    struct ev_timer idle; /* no byte either way for CONTROL_IDLE_MS */
    struct control_conn *prev, *next;
};

static const char *const text_type = "text/plain; charset=utf-8";

static void conn_close(struct control_conn *c)
{
    struct control_server *cs = c->cs;

    if (cs->waiting == c)
        cs->waiting = NULL;
    ev_timer_stop(cs->loop, &c->idle);
    ev_io_del(cs->loop, c->fd);
    close_quietly(c->fd);
    strbuf_free(&c->out);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        cs->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    /* A slot is free again: the clients waiting in the backlog come in. */
    if (cs->nconns-- == CONTROL_CONNS_MAX && cs->fd >= 0 &&
        ev_io_set(cs->loop, cs->fd, EV_READ) < 0)
        log_warn("control: unable to watch the socket");
    free(c);
}

/* The whole answer into c->out.  False if it did not fit (out of memory). */
static bool respond(struct control_conn *c, int status, const char *type, const struct strbuf *body,
                    bool head_only, bool keep, const char *extra)
{
    char head[512];
    size_t hlen = http_response_head(head, sizeof(head), status, type, body->len, keep, extra);

    strbuf_free(&c->out);
    strbuf_init(&c->out, RESPONSE_MAX + sizeof(head));
    c->sent = 0;
    c->close_after = !keep;
    strbuf_add(&c->out, head, hlen);
    if (!head_only && body->len > 0)
        strbuf_add(&c->out, body->p, body->len);
    return hlen > 0 && !c->out.failed;
}

/* A short text answer: `text`, or the status's reason phrase when NULL. */
static bool respond_text(struct control_conn *c, int status, const char *text, bool head_only,
                         bool keep, const char *extra)
{
    struct strbuf body;
    bool ok;

    strbuf_init(&body, RESPONSE_MAX);
    if (text != NULL)
        strbuf_add(&body, text, strlen(text));
    else
        strbuf_printf(&body, "%d %s\n", status, http_reason(status));
    ok = !body.failed && respond(c, status, text_type, &body, head_only, keep, extra);
    strbuf_free(&body);
    return ok;
}

/* A GET or HEAD of one of the read-only paths.  False if out of memory. */
static bool route_get(struct control_conn *c, const struct http_request *req)
{
    struct control_server *cs = c->cs;
    bool head_only = req->method == HTTP_HEAD, ok;
    const char *type = text_type;
    struct strbuf body;

    strbuf_init(&body, RESPONSE_MAX);
    if (strcmp(req->path, "/metrics") == 0 && cs->metrics != NULL) {
        metrics_render_text(cs->metrics, &body);
        type = "text/plain; version=0.0.4; charset=utf-8";
    } else if (strcmp(req->path, "/status") == 0 && cs->metrics != NULL) {
        metrics_render_status(cs->metrics, now_ms(), &body);
        type = "application/json";
    } else {
        cs->ops.stats(cs->ops.arg, &body);
    }
    ok = !body.failed && respond(c, 200, type, &body, head_only, req->keep_alive, NULL);
    strbuf_free(&body);
    return ok;
}

/* POST /reload, /stop, /upgrade.  False if out of memory. */
static bool route_post(struct control_conn *c, const struct http_request *req)
{
    struct control_server *cs = c->cs;
    struct strbuf body;
    bool ok;

    strbuf_init(&body, RESPONSE_MAX);
    if (strcmp(req->path, "/reload") == 0) {
        bool applied = cs->ops.reload(cs->ops.arg, &body);
        ok = !body.failed &&
             respond(c, applied ? 200 : 422, text_type, &body, false, req->keep_alive, NULL);
    } else if (strcmp(req->path, "/stop") == 0) {
        c->stop_after = true;
        ok = respond_text(c, 200, "stopping\n", false, false, NULL);
    } else if (cs->waiting != NULL) {
        ok =
            respond_text(c, 409, "an upgrade is already under way\n", false, req->keep_alive, NULL);
    } else if (cs->ops.upgrade(cs->ops.arg, &body)) {
        cs->waiting = c; /* the answer comes with control_server_answer */
        c->close_after = true;
        ok = true;
    } else {
        ok = !body.failed && respond(c, 500, text_type, &body, false, req->keep_alive, NULL);
    }
    strbuf_free(&body);
    return ok;
}

/* The answer to a complete request, into c->out.  False if out of memory. */
static bool route(struct control_conn *c, const struct http_request *req)
{
    static const char *const gets[] = {"/metrics", "/status", "/stats"};
    static const char *const posts[] = {"/reload", "/stop", "/upgrade"};
    bool is_get = false, is_post = false;

    for (size_t i = 0; i < ARRAY_LEN(gets); i++)
        is_get |= strcmp(req->path, gets[i]) == 0;
    for (size_t i = 0; i < ARRAY_LEN(posts); i++)
        is_post |= strcmp(req->path, posts[i]) == 0;
    if (is_get && (req->method == HTTP_GET || req->method == HTTP_HEAD))
        return route_get(c, req);
    if (is_post && req->method == HTTP_POST)
        return route_post(c, req);
    if (is_get)
        return respond_text(c, 405, NULL, req->method == HTTP_HEAD, req->keep_alive,
                            "Allow: GET, HEAD\r\n");
    if (is_post)
        return respond_text(c, 405, NULL, req->method == HTTP_HEAD, req->keep_alive,
                            "Allow: POST\r\n");
    return respond_text(c, 404, NULL, req->method == HTTP_HEAD, req->keep_alive, NULL);
}

static void set_events(struct control_conn *c)
{
    unsigned events = 0;

    if (c->out.len > c->sent)
        events = EV_WRITE;
    else if (c != c->cs->waiting)
        events = EV_READ;
    if (ev_io_set(c->cs->loop, c->fd, events) < 0)
        log_warn("control: unable to watch a connection");
}

/*
 * Write what the answer has left.  Once it is out: stop, close, or wait
 * for the next request.  Returns false if `c` is gone.
 */
static bool flush(struct control_conn *c)
{
    struct control_server *cs = c->cs;
    bool gone = false;

    while (c->sent < c->out.len) {
        ssize_t n = send(c->fd, c->out.p + c->sent, c->out.len - c->sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_events(c);
            return true;
        }
        if (n < 0) {
            gone = true; /* the client is gone: a stop it asked for still happens */
            break;
        }
        c->sent += (size_t)n;
        ev_timer_start(cs->loop, &c->idle, CONTROL_IDLE_MS); /* a reader, however slow */
    }
    strbuf_free(&c->out);
    c->sent = 0;
    if (c->stop_after) {
        void (*stop)(void *) = cs->ops.stop;
        void *arg = cs->ops.arg;
        conn_close(c);
        stop(arg);
        return false;
    }
    if (c->close_after || gone) {
        conn_close(c);
        return false;
    }
    set_events(c);
    return true;
}

/*
 * Answer the requests already read, one at a time, while each answer goes
 * out at once.  Returns false if `c` is gone.
 */
static bool serve(struct control_conn *c)
{
    while (c->out.len == 0 && c != c->cs->waiting && c->inlen > 0) {
        size_t used = http_feed(&c->parser, c->in, c->inlen);
        memmove(c->in, c->in + used, c->inlen - used);
        c->inlen -= used;
        if (c->parser.state == HTTP_MORE)
            return true;
        if (c->parser.state == HTTP_BAD) {
            c->inlen = 0; /* the rest is not read */
            if (!respond_text(c, c->parser.status, NULL, false, false, NULL)) {
                conn_close(c);
                return false;
            }
        } else if (!route(c, &c->parser.req)) {
            conn_close(c);
            return false;
        }
        http_parser_init(&c->parser);
        if (c == c->cs->waiting) {
            set_events(c); /* nothing is read while the upgrade is under way */
            return true;
        }
        if (!flush(c))
            return false;
    }
    return true;
}

static void on_io(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct control_conn *c = arg;
    ssize_t n;

    /*
     * Reading restarts no timer: a request must be complete within
     * CONTROL_IDLE_MS of the connection or of the last answer, so a byte
     * now and then does not hold a slot for ever.
     */
    (void)loop, (void)fd;
    if (events & EV_WRITE) {
        if (flush(c))
            serve(c);
        return;
    }
    n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        conn_close(c); /* a request cut short gets no answer */
        return;
    }
    c->inlen += (size_t)n;
    serve(c);
}

static void on_idle(struct ev_loop *loop, struct ev_timer *timer)
{
    struct control_conn *c = timer->arg;

    (void)loop;
    if (c == c->cs->waiting) {
        ev_timer_start(c->cs->loop, &c->idle, CONTROL_IDLE_MS);
        return; /* the upgrade has a deadline of its own */
    }
    conn_close(c);
}

static void on_resume(struct ev_loop *loop, struct ev_timer *timer)
{
    struct control_server *cs = timer->arg;

    if (cs->fd >= 0 && cs->nconns < CONTROL_CONNS_MAX && ev_io_set(loop, cs->fd, EV_READ) < 0)
        log_warn("control: unable to watch the socket");
}

/*
 * Out of descriptors (EMFILE, ENFILE) or memory: the connection stays in
 * the backlog and the socket stays readable, so accepting again at once
 * would spin.  Rest, and say so once per rest at most.
 */
static void pause_accepting(struct control_server *cs, int err)
{
    unsigned long suppressed;
    char note[48];

    if (log_ratelimit(&cs->accept_rl, ev_now(cs->loop), &suppressed))
        log_warnx("control: unable to accept: %s; pausing %d ms%s", strerror(err), ACCEPT_PAUSE_MS,
                  log_suppressed_note(note, sizeof(note), suppressed));
    if (ev_io_set(cs->loop, cs->fd, 0) < 0)
        log_warn("control: unable to stop watching the socket");
    ev_timer_start(cs->loop, &cs->resume, ACCEPT_PAUSE_MS);
}

static void on_accept(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct control_server *cs = arg;

    (void)events;
    for (;;) {
        struct control_conn *c;
        int cfd;
        if (cs->nconns >= CONTROL_CONNS_MAX) {
            /* Full: the others wait in the backlog until a slot is free. */
            if (ev_io_set(loop, fd, 0) < 0)
                log_warn("control: unable to stop watching the socket");
            return;
        }
        if ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                pause_accepting(cs, errno);
            return;
        }
        if ((c = calloc(1, sizeof(*c))) == NULL) {
            close_quietly(cfd);
            continue;
        }
        c->cs = cs;
        c->fd = cfd;
        http_parser_init(&c->parser);
        strbuf_init(&c->out, RESPONSE_MAX);
        ev_timer_init(&c->idle, on_idle, c);
        if (ev_io_add(loop, cfd, EV_READ, on_io, c) < 0) {
            close_quietly(cfd);
            free(c);
            continue;
        }
        c->next = cs->conns;
        if (cs->conns != NULL)
            cs->conns->prev = c;
        cs->conns = c;
        cs->nconns++;
        ev_timer_start(loop, &c->idle, CONTROL_IDLE_MS);
    }
}

/* Bind `tmp` with mode 0600 from the start (the umask, for that one call). */
static int bind_private(int fd, const char *tmp)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    mode_t old;
    int rc;

    memcpy(sun.sun_path, tmp, strlen(tmp) + 1);
    old = umask(0177); /* a socket is made 0777 less the umask: 0600 */
    rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    return rc;
}

/* Does a live socket answer at `path`? */
static bool answers(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    bool live;

    if (fd < 0)
        return false;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    /* Non-blocking: a full backlog (EAGAIN) is someone's too. */
    live = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 || errno == EAGAIN;
    close(fd);
    return live;
}

/*
 * May the name be taken?  Only from nothing, a stale socket, or (takeover)
 * our predecessor's live one: never a file that is not a socket, nor
 * another usherd's control socket.
 */
static int may_take(const char *path, bool takeover, char *err, size_t errlen)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return 0;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "control socket %s: a file that is not a socket is there: refused",
                 path);
        errno = EEXIST;
        return -1;
    }
    if (!takeover && answers(path)) {
        snprintf(err, errlen, "control socket %s: another usherd answers there: refused", path);
        errno = EADDRINUSE;
        return -1;
    }
    return 0;
}

/* Make the listening socket at cs->path (see control_server_open).  Returns 0 or -1. */
static int make_socket(struct control_server *cs, bool takeover, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    char tmp[sizeof(sun.sun_path) + 32];
    const char *path = cs->path;
    struct stat st;
    int fd, saved;

    if (snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid()) >= (int)sizeof(sun.sun_path)) {
        snprintf(err, errlen, "control socket %s: the name is too long for a Unix socket", path);
        errno = ENAMETOOLONG;
        return -1;
    }
    if (may_take(path, takeover, err, errlen) < 0)
        return -1;
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
        saved = errno;
        snprintf(err, errlen, "control socket %s: %s", path, strerror(saved));
        errno = saved;
        return -1;
    }
    /* A leftover of ours under the temporary name (a pid reused) is no one's. */
    if (lstat(tmp, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(tmp);
    if (bind_private(fd, tmp) < 0 || lstat(tmp, &st) < 0 || listen(fd, BACKLOG) < 0 ||
        rename(tmp, path) < 0 || ev_io_add(cs->loop, fd, EV_READ, on_accept, cs) < 0) {
        saved = errno;
        snprintf(err, errlen, "unable to make the control socket %s: %s", path, strerror(saved));
        unlink(tmp); /* if the rename did not take it */
        close(fd);
        errno = saved;
        return -1;
    }
    cs->fd = fd;
    cs->dev = st.st_dev;
    cs->ino = st.st_ino;
    return 0;
}

int control_server_open(struct control_server *cs, struct ev_loop *loop, const char *path,
                        bool takeover, struct metrics *metrics, const struct control_ops *ops,
                        char *err, size_t errlen)
{
    memset(cs, 0, sizeof(*cs));
    cs->fd = -1;
    cs->loop = loop;
    cs->metrics = metrics;
    cs->ops = *ops;
    ev_timer_init(&cs->resume, on_resume, cs);
    if (str_copy(cs->path, sizeof(cs->path), path) < 0) {
        snprintf(err, errlen, "control socket %s: the name is too long for a Unix socket", path);
        errno = ENAMETOOLONG;
        return -1;
    }
    return make_socket(cs, takeover, err, errlen);
}

int control_server_reclaim(struct control_server *cs, char *err, size_t errlen)
{
    struct stat st;

    if (cs->fd < 0 || (lstat(cs->path, &st) == 0 && st.st_dev == cs->dev && st.st_ino == cs->ino))
        return 0;
    /* Our socket answers nobody who comes by the name: a new one takes the name back. */
    ev_io_del(cs->loop, cs->fd);
    close_quietly(cs->fd);
    cs->fd = -1;
    return make_socket(cs, true, err, errlen);
}

void control_server_close(struct control_server *cs)
{
    struct stat st;

    if (cs->fd < 0)
        return;
    ev_timer_stop(cs->loop, &cs->resume);
    ev_io_del(cs->loop, cs->fd);
    close_quietly(cs->fd);
    cs->fd = -1;
    if (lstat(cs->path, &st) == 0 && st.st_dev == cs->dev && st.st_ino == cs->ino)
        unlink(cs->path);
}

void control_server_answer(struct control_server *cs, int status, const char *body)
{
    struct control_conn *c = cs->waiting;

    if (c == NULL)
        return;
    cs->waiting = NULL;
    if (!respond_text(c, status, body, false, false, NULL)) {
        conn_close(c);
        return;
    }
    (void)flush(c); /* closes it once the answer is out */
}

void control_server_free(struct control_server *cs)
{
    control_server_close(cs);
    control_server_answer(cs, 500, "usherd stopped before the upgrade was done\n");
    for (struct control_conn *c = cs->conns, *next; c != NULL; c = next) {
        next = c->next;
        conn_close(c);
    }
}
