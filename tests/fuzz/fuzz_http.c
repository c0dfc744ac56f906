/*
 * fuzz_http: the HTTP request parser (http.c) and the metrics endpoint
 * that drives it (builtin_metrics.c), fed as a connection's reads would
 * feed them.
 *
 * Input: byte 0 is the size of the pieces the rest is cut into (1 to
 * 256); the rest is what a client sends.
 *
 * Properties of the parser: whole and in pieces, each request ends the
 * same (state, status, bytes taken, method, path, keep-alive); no feed
 * takes more than it is given, and one that asks for more has taken all;
 * a ready request's path starts with '/' or is "*", and has no '?'; a
 * refusal is one of the statuses http.h names.  Of the endpoint: every
 * response starts with "HTTP/1.1 ", ends its head with an empty line, and
 * carries as many body bytes as its Content-Length says (none for HEAD);
 * input is always consumed, and the session ends after a refusal.
 */
#include "builtin_metrics.h"
#include "fuzz.h"
#include "http.h"
#include "metrics.h"
#include "out.h"

#include <stdlib.h>
#include <string.h>

static struct metrics *table;
static struct http_parser whole, pieces;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct metrics_svc *s;

    (void)argc, (void)argv;
    fuzz_no_sockets();
    table = metrics_new("/etc/usherd.conf");
    fuzz_check(table != NULL);
    s = metrics_slot_take(table, "echo");
    metrics_slot_describe(s, "event", "tcp://127.0.0.1:7", METRICS_HAS_TCP | METRICS_HAS_EXEC);
    metrics_slot_list(s, true);
    metrics_add(&s->conns[METRICS_TCP], 3);
    return 0;
}

/* Parse one request from p[0..n) in pieces of `piece`; returns the bytes taken. */
static size_t parse(struct http_parser *hp, const uint8_t *p, size_t n, size_t piece)
{
    size_t off = 0;

    http_parser_init(hp);
    while (off < n && hp->state == HTTP_MORE) {
        size_t len = piece < n - off ? piece : n - off;
        size_t took = http_feed(hp, (const char *)p + off, len);
        fuzz_check(took <= len);
        fuzz_check(hp->state != HTTP_MORE || took == len);
        off += took;
    }
    return off;
}

static void check_parser(const uint8_t *p, size_t n, size_t piece)
{
    while (n > 0) {
        size_t a = parse(&whole, p, n, n), b = parse(&pieces, p, n, piece);
        fuzz_check(a == b && whole.state == pieces.state && whole.status == pieces.status);
        if (whole.state != HTTP_READY) {
            fuzz_check(whole.state == HTTP_MORE || whole.status == 400 || whole.status == 413 ||
                       whole.status == 414 || whole.status == 431 || whole.status == 501 ||
                       whole.status == 505);
            return;
        }
        fuzz_check(whole.req.method == pieces.req.method);
        fuzz_check(whole.req.keep_alive == pieces.req.keep_alive);
        fuzz_check(strcmp(whole.req.path, pieces.req.path) == 0);
        fuzz_check(whole.req.path[0] == '/' || strcmp(whole.req.path, "*") == 0);
        fuzz_check(strchr(whole.req.path, '?') == NULL);
        fuzz_check(a > 0);
        p += a; /* the next pipelined request */
        n -= a;
    }
}

/* One response of the endpoint: a head, and the body its Content-Length says. */
static void check_response(const struct out *o)
{
    static char buf[1 << 20];
    size_t len = 0;
    const char *end, *cl;

    for (int i = 0; i < o->niov; i++) {
        fuzz_check(len + o->iov[i].iov_len <= sizeof(buf));
        memcpy(buf + len, o->iov[i].iov_base, o->iov[i].iov_len);
        len += o->iov[i].iov_len;
    }
    if (len == 0)
        return;
    buf[len < sizeof(buf) ? len : sizeof(buf) - 1] = '\0';
    fuzz_check(strncmp(buf, "HTTP/1.1 ", 9) == 0);
    fuzz_check((end = strstr(buf, "\r\n\r\n")) != NULL);
    fuzz_check((cl = strstr(buf, "Content-Length: ")) != NULL && cl < end);
    size_t body = len - (size_t)(end + 4 - buf), want = strtoul(cl + 16, NULL, 10);
    fuzz_check(body == want || body == 0);
}

static void check_endpoint(const uint8_t *p, size_t n, size_t piece)
{
    struct builtin_session s = {.metrics = table};
    static struct out o;
    size_t off = 0;

    while (off < n && !s.done) {
        size_t len = piece < n - off ? piece : n - off, used;
        out_reset(&o);
        used = metrics_input(&s, (const char *)p + off, len, &o);
        fuzz_check(used > 0 && used <= len);
        check_response(&o);
        off += used;
    }
    metrics_release(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t piece;

    if (size < 1)
        return 0;
    piece = (size_t)data[0] + 1;
    check_parser(data + 1, size - 1, piece);
    check_endpoint(data + 1, size - 1, piece);
    return 0;
}
