/*
 * client_status: the samples, the watch loop and its signals (see
 * client_status.h).
 *
 * A watch ends on SIGINT or SIGTERM, whose handler only writes a byte to
 * a pipe; every wait of the watch (between samples, and for a reply)
 * polls that pipe too, so the end comes at once.  A connect in progress
 * still runs to its -w bound.  Frames are made whole in memory and
 * written with one write, so a terminal never shows half of one; on a
 * terminal each line ends with "erase to the end of the line" and the
 * frame with "erase below", so a frame overwrites the last one without
 * the flicker of clearing the screen first.
 */
#include "client_status.h"

#include "client_http.h"
#include "client_tls.h"
#include "status.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define STATUS_PATH "/status"
#define STOPPED     1 /* a signal ended the watch (or stdout's reader went away) */

#define ANSI_HOME       "\033[H"
#define ANSI_CLEAR      "\033[2J"
#define ANSI_ERASE_EOL  "\033[K"
#define ANSI_ERASE_DOWN "\033[J"

/* One sample: the reply as received and the status decoded from it. */
struct sample {
    struct client_http_reply reply;
    struct status st;
    int64_t at_ms; /* now_ms() when the reply was complete */
};

static void sample_free(struct sample *s)
{
    status_free(&s->st);
    client_http_reply_free(&s->reply);
}

/* GET /status into s->reply: 0, STOPPED, or -1 with a message. */
static int fetch(const struct client_target *t, int stop_fd, struct sample *s, char *err,
                 size_t errlen)
{
    struct client_conn c;
    char host[ADDR_TEXT_MAX + 16], request[ADDR_TEXT_MAX + 256];
    int len, rc;

    client_http_host(host, sizeof(host), addr_kind_is_inet(t->spec.kind) ? t->spec.host : NULL,
                     t->spec.port);
    if ((len = client_http_request(request, sizeof(request), host, STATUS_PATH)) < 0)
        return err_set(err, errlen, "%s: address too long for a request", t->name);
    if (client_open_conn(t, &c, err, errlen) < 0)
        return -1;
    rc = client_http_get(&c, t->name, request, (size_t)len, &s->reply, now_ms() + t->wait_ms,
                         stop_fd, err, errlen);
    client_conn_close(&c);
    return rc;
}

/* One sample, checked: 0, STOPPED, or -1 with a message naming the address. */
static int take_sample(const struct client_target *t, int stop_fd, struct sample *s, char *err,
                       size_t errlen)
{
    const struct client_http_reply *r = &s->reply;
    char why[512];
    int rc;

    memset(s, 0, sizeof(*s));
    client_http_reply_init(&s->reply);
    if ((rc = fetch(t, stop_fd, s, err, errlen)) != 0)
        return rc;
    s->at_ms = now_ms();
    if (r->code != 200)
        return err_set(err, errlen, "%s: HTTP %d%s%s", t->name, r->code, r->reason[0] ? " " : "",
                       r->reason);
    if (status_decode(r->buf + r->head_len, r->body_len, &s->st, why, sizeof(why)) < 0)
        return err_set(err, errlen, "%s%s: %s", t->name, STATUS_PATH, why);
    return 0;
}

/* Output */

static int output_failed(char *err, size_t errlen)
{
    if (errno == EPIPE)
        return STOPPED;
    return err_set(err, errlen, "stdout: %s", strerror(errno));
}

/* The body as received, with a "\n" after it if it has none. */
static int print_json(const struct sample *s, char *err, size_t errlen)
{
    const char *body = s->reply.buf + s->reply.head_len;
    size_t len = s->reply.body_len;

    if (write_all(STDOUT_FILENO, body, len) < 0 ||
        ((len == 0 || body[len - 1] != '\n') && write_all(STDOUT_FILENO, "\n", 1) < 0))
        return output_failed(err, errlen);
    return 0;
}

/* A frame made in memory, then written at once. */
struct frame {
    FILE *f;
    char *text;
    size_t len;
};

static int frame_open(struct frame *fr, char *err, size_t errlen)
{
    fr->text = NULL;
    fr->len = 0;
    if ((fr->f = open_memstream(&fr->text, &fr->len)) == NULL)
        return err_set(err, errlen, "out of memory");
    return 0;
}

static int frame_write(struct frame *fr, char *err, size_t errlen)
{
    int rc = 0;

    if (fclose(fr->f) != 0)
        rc = err_set(err, errlen, "out of memory");
    else if (write_all(STDOUT_FILENO, fr->text, fr->len) < 0)
        rc = output_failed(err, errlen);
    free(fr->text);
    return rc;
}

/* Where a table goes, and how. */
struct screen {
    bool tty;      /* stdout is a terminal: redraw in place */
    bool drawn;    /* a frame is on it already */
    bool answered; /* a sample has succeeded: later failures are shown, not fatal */
    char title[ADDR_TEXT_MAX + 256];
    size_t frames; /* printed so far */
};

/* The terminal's height, or 0 if unknown. */
static size_t terminal_rows(void)
{
    struct winsize ws;

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0)
        return 0;
    return ws.ws_row;
}

static void set_title(struct screen *sc, const struct client_target *t,
                      const struct client_status_opts *o)
{
    time_t now = time(NULL);
    struct tm tm;
    char clock[16] = "";

    if (localtime_r(&now, &tm) != NULL)
        strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
    if (o->interval_ms % 1000 == 0)
        snprintf(sc->title, sizeof(sc->title), "usher status %s  every %llds  %s", t->name,
                 (long long)(o->interval_ms / 1000), clock);
    else
        snprintf(sc->title, sizeof(sc->title), "usher status %s  every %lldms  %s", t->name,
                 (long long)o->interval_ms, clock);
}

/* Start a frame: on a terminal, go home (clearing the screen the first time); else a blank line. */
static void frame_begin(struct frame *fr, struct screen *sc)
{
    if (sc->tty)
        fputs(sc->drawn ? ANSI_HOME : ANSI_HOME ANSI_CLEAR, fr->f);
    else if (sc->frames > 0)
        fputc('\n', fr->f);
}

static int frame_end(struct frame *fr, struct screen *sc, char *err, size_t errlen)
{
    if (sc->tty)
        fputs(ANSI_ERASE_DOWN, fr->f);
    sc->drawn = true;
    sc->frames++;
    return frame_write(fr, err, errlen);
}

static int show_table(struct screen *sc, const struct sample *s, const struct status_rate *rates,
                      const char *title, char *err, size_t errlen)
{
    struct status_view v = {.rates = rates,
                            .now = time(NULL),
                            .max_conns = STATUS_CONNS_SHOWN,
                            .title = title,
                            .eol = sc->tty ? ANSI_ERASE_EOL "\n" : "\n"};
    struct frame fr;
    size_t rows;

    if (frame_open(&fr, err, errlen) < 0)
        return -1;
    if (sc->tty && (rows = terminal_rows()) > 0)
        v.max_conns = status_conns_fitting(&s->st, &v, rows);
    frame_begin(&fr, sc);
    if (status_format(fr.f, &s->st, &v) < 0) {
        fclose(fr.f);
        free(fr.text);
        return err_set(err, errlen, "out of memory");
    }
    return frame_end(&fr, sc, err, errlen);
}

/* A failed sample while watching: the error where the table would be. */
static int show_error(struct screen *sc, const char *what, char *err, size_t errlen)
{
    const char *eol = sc->tty ? ANSI_ERASE_EOL "\n" : "\n";
    struct frame fr;

    if (frame_open(&fr, err, errlen) < 0)
        return -1;
    frame_begin(&fr, sc);
    fprintf(fr.f, "%s%serror: %s%s", sc->title, eol, what, eol);
    return frame_end(&fr, sc, err, errlen);
}

/* Signals */

static int stop_pipe[2] = {-1, -1};

static void on_stop(int sig)
{
    int saved = errno;
    char byte = (char)sig;

    /* A full pipe (a storm of signals) already holds a wake-up. */
    if (write(stop_pipe[1], &byte, 1) < 0) {
        /* nothing to do in a handler */
    }
    errno = saved;
}

struct stop_signals {
    struct sigaction old_int, old_term;
};

/* SIGINT and SIGTERM into the pipe; its read end, or -1 with a message. */
static int stop_signals_catch(struct stop_signals *ss, char *err, size_t errlen)
{
    struct sigaction sa = {.sa_handler = on_stop};

    if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return err_set(err, errlen, "unable to make a pipe: %s", strerror(errno));
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, &ss->old_int) < 0 || sigaction(SIGTERM, &sa, &ss->old_term) < 0) {
        err_set(err, errlen, "unable to catch SIGINT and SIGTERM: %s", strerror(errno));
        close_quietly(stop_pipe[0]);
        close_quietly(stop_pipe[1]);
        return -1;
    }
    return stop_pipe[0];
}

static void stop_signals_release(struct stop_signals *ss)
{
    sigaction(SIGINT, &ss->old_int, NULL);
    sigaction(SIGTERM, &ss->old_term, NULL);
    close_quietly(stop_pipe[0]);
    close_quietly(stop_pipe[1]);
    stop_pipe[0] = stop_pipe[1] = -1;
}

/* Wait until `deadline` unless stop_fd is readable first: 0, or STOPPED. */
static int pause_until(int stop_fd, int64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = stop_fd, .events = POLLIN};
        int rc = poll(&p, 1, ms_until(deadline));
        if (rc > 0)
            return STOPPED;
        if (rc == 0 || errno != EINTR)
            return 0;
    }
}

/* The modes */

static int once_json(const struct client_target *t, char *err, size_t errlen)
{
    struct sample s;
    int rc = take_sample(t, -1, &s, err, errlen);

    if (rc == 0)
        rc = print_json(&s, err, errlen);
    sample_free(&s);
    return rc < 0 ? -1 : 0;
}

/* Two samples, one table with the rates between them. */
static int once_table(const struct client_target *t, const struct client_status_opts *o, char *err,
                      size_t errlen)
{
    struct screen sc = {.tty = false};
    struct sample a, b;
    struct status_rate *rates = NULL;
    int rc = take_sample(t, -1, &a, err, errlen);

    if (rc != 0) {
        sample_free(&a);
        return -1;
    }
    pause_until(-1, now_ms() + o->interval_ms);
    if ((rc = take_sample(t, -1, &b, err, errlen)) == 0 &&
        (rates = calloc(b.st.nservices + 1, sizeof(*rates))) == NULL)
        rc = err_set(err, errlen, "out of memory");
    if (rc == 0) {
        status_rates(&a.st, &b.st, b.at_ms - a.at_ms, rates);
        rc = show_table(&sc, &b, rates, NULL, err, errlen);
    }
    free(rates);
    sample_free(&a);
    sample_free(&b);
    return rc < 0 ? -1 : 0;
}

/* One tick of a watch: sample, show; `prev` becomes this sample (or none, after a failure). */
static int watch_tick(const struct client_target *t, const struct client_status_opts *o,
                      struct screen *sc, int stop_fd, struct sample *prev, bool *have_prev,
                      char *err, size_t errlen)
{
    struct status_rate *rates = NULL;
    struct sample s;
    char why[512];
    int rc = take_sample(t, stop_fd, &s, why, sizeof(why));

    set_title(sc, t, o);
    /* JSON goes to programs: a failure ends it, rather than text among the documents. */
    if (rc == STOPPED || (rc < 0 && (!sc->answered || o->json))) {
        sample_free(&s);
        return rc == STOPPED ? STOPPED : err_set(err, errlen, "%s", why);
    }
    if (rc < 0) {
        sample_free(&s);
        if (*have_prev)
            sample_free(prev);
        *have_prev = false; /* rates start afresh once it answers again */
        return show_error(sc, why, err, errlen);
    }
    sc->answered = true;
    if (o->json) {
        rc = print_json(&s, err, errlen);
    } else if ((rates = calloc(s.st.nservices + 1, sizeof(*rates))) == NULL) {
        rc = err_set(err, errlen, "out of memory");
    } else {
        status_rates(*have_prev ? &prev->st : NULL, &s.st, *have_prev ? s.at_ms - prev->at_ms : 0,
                     rates);
        rc = show_table(sc, &s, rates, sc->title, err, errlen);
    }
    free(rates);
    if (*have_prev)
        sample_free(prev);
    *prev = s;
    *have_prev = true;
    return rc;
}

static int watch(const struct client_target *t, const struct client_status_opts *o, char *err,
                 size_t errlen)
{
    struct screen sc = {.tty = !o->json && isatty(STDOUT_FILENO) == 1};
    struct stop_signals ss;
    struct sample prev;
    bool have_prev = false;
    int64_t next = now_ms();
    int stop_fd = stop_signals_catch(&ss, err, errlen), rc;

    if (stop_fd < 0)
        return -1;
    do {
        int64_t now;
        rc = watch_tick(t, o, &sc, stop_fd, &prev, &have_prev, err, errlen);
        /* Ticks at a steady pace; one that a slow reply made late is not made up for. */
        next += o->interval_ms;
        if ((now = now_ms()) > next)
            next = now;
        if (rc == 0)
            rc = pause_until(stop_fd, next);
    } while (rc == 0);
    if (have_prev)
        sample_free(&prev);
    stop_signals_release(&ss);
    return rc < 0 ? -1 : 0;
}

int client_status(const struct client_target *target, const struct client_status_opts *o, char *err,
                  size_t errlen)
{
    struct client_target t = *target;

    if (t.wait_ms < 0)
        t.wait_ms = CLIENT_STATUS_WAIT_MS;
    if (o->watch)
        return watch(&t, o, err, errlen);
    if (o->json)
        return once_json(&t, err, errlen);
    return once_table(&t, o, err, errlen);
}
