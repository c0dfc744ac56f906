/*
 * Unit tests: the HTTP reply reader and the request of client_http.c.
 * Each reply of the table is fed whole, in 7-byte pieces and a byte at a
 * time, and must give the same result each way: the status, the reason
 * and the decoded body, or the error.  Hostile replies: garbage, a cut
 * head or body, bad framing, heads and bodies past the bounds, and a
 * body of a hundred thousand one-byte chunks, which must not make the
 * buffer grow with its framing.
 */
#include "client_http.h"
#include "t.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Feed `len` bytes of `raw`, `step` at a time, then the close unless done. */
static int feed(struct client_http_reply *r, const char *raw, size_t len, size_t step, char *err,
                size_t errlen)
{
    size_t off = 0;
    int rc = 0;

    client_http_reply_init(r);
    while (off < len && rc == 0) {
        char *room;
        size_t size, n;
        if (client_http_room(r, &room, &size, err, errlen) < 0)
            return -1;
        n = len - off < step ? len - off : step;
        n = n < size ? n : size;
        memcpy(room, raw + off, n);
        off += n;
        rc = client_http_feed(r, n, false, err, errlen);
    }
    if (rc == 0)
        rc = client_http_feed(r, 0, true, err, errlen);
    return rc;
}

static const struct {
    const char *raw;
    int code;
    const char *reason, *body; /* body NULL: an error, `reason` its text */
    bool needs_close;          /* complete only at the server's close */
} replies[] = {
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: application/json\r\n\r\nhello", 200,
     "OK", "hello", false},
    {"HTTP/1.1 200 OK\r\ncontent-length:  5 \r\nContent-Length: 5\r\n\r\nhello", 200, "OK", "hello",
     false},
    {"HTTP/1.0 200 OK\nContent-Length: 2\n\nhi", 200, "OK", "hi", false},
    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200, "OK", "", false},
    {"HTTP/1.0 200 OK\r\n\r\n{\"a\":1}", 200, "OK", "{\"a\":1}", true},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n"
     "0\r\nX-Trailer: 1\r\n\r\n",
     200, "OK", "hello world", false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\nContent-Length: 3\r\n\r\n"
     "A\n0123456789\n0\n\n",
     200, "OK", "0123456789", false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 ;x\r\na\r\n0\r\n\r\n", 200, "OK", "a",
     false},
    {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
     200, "OK", "ok", false},
    {"HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx", 200, "", "x", false},
    {"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found", 404, "Not Found", "", false},
    {"HTTP/1.1 500 oops\x1b[2J\r\n\r\n", 500, "oops\\x1b[2J", "", false},
    {"HTTP/1.1 400 Bad Request\r\nContent-Length: 99999999999\r\n\r\n", 400, "Bad Request", "",
     false},

    {"", 0, "connection closed without a reply", NULL, false},
    {"SSH-2.0-OpenSSH_9.2\r\n", 0, "not an HTTP reply", NULL, false},
    {"GET /status HTTP/1.1\r\nHost: x\r\n\r\n", 0, "not an HTTP reply", NULL, false},
    {"HTTP/2 200\r\n\r\n", 0, "not an HTTP/1.x status line", NULL, false},
    {"HTTP/1.1 2000 OK\r\n\r\n", 0, "not an HTTP/1.x status line", NULL, false},
    {"HTTP/1.1 099 x\r\n\r\n", 0, "not an HTTP/1.x status line", NULL, false},
    {"HTTP/1.1 200 OK\r\nContent", 0, "connection closed in the middle of the reply's head", NULL,
     false},
    {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, "reply cut short: 3 of its 10 bytes",
     NULL, false},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 0,
     "Content-Length given twice, differently", NULL, false},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello", 0, "bad Content-Length", NULL, false},
    {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, "bad Content-Length", NULL, false},
    {"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", 0, "bad Content-Length", NULL, false},
    {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", 0, "bad Content-Length",
     NULL, false},
    {"HTTP/1.1 200 OK\r\nContent-Length: 16777217\r\n\r\n", 0,
     "a body of 16777217 bytes, more than 16 MiB", NULL, false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0,
     "a transfer coding other than chunked", NULL, false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
     "a transfer coding other than chunked", NULL, false},
    {"HTTP/1.1 200 OK\r\n Folded: yes\r\n\r\n", 0, "a folded header line", NULL, false},
    {"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", 0, "a header line without a name", NULL, false},
    {"HTTP/1.1 200 OK\r\n: no name\r\n\r\n", 0, "a header line without a name", NULL, false},
    {"HTTP/1.1 200 OK\r\nContent Length: 5\r\n\r\nhello", 0, "a header name that is not a token",
     NULL, false},
    {"HTTP/1.1 200 OK\r\nX: a\x01z\r\n\r\n", 0, "a control character in a header", NULL, false},
    {"HTTP/1.1 101 Switching Protocols\r\n\r\n", 0, "switched protocols", NULL, false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, "a bad chunk size", NULL,
     false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n", 0,
     "a bad chunk size", NULL, false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 0,
     "a chunk not followed by its line end", NULL, false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", 0,
     "reply cut short in its chunks", NULL, false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", 0,
     "reply cut short in its chunks", NULL, false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n", 0,
     "reply cut short in its chunks", NULL, false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n", 0,
     "a chunk larger than 16 MiB", NULL, false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000001\r\n", 0,
     "a chunked body larger than 16 MiB", NULL, false},
};

static void check_reply(size_t i, size_t step)
{
    struct client_http_reply r;
    char err[256] = "";
    int rc = feed(&r, replies[i].raw, strlen(replies[i].raw), step, err, sizeof(err));

    if (replies[i].body == NULL) {
        if (rc != -1 || strstr(err, replies[i].reason) == NULL)
            T_FAIL("reply %zu, step %zu: rc %d, error \"%s\", want \"%s\"", i, step, rc, err,
                   replies[i].reason);
    } else {
        if (rc != 1)
            T_FAIL("reply %zu, step %zu: rc %d: %s", i, step, rc, err);
        T_EQ_INT(r.code, replies[i].code);
        T_EQ_STR(r.reason, replies[i].reason);
        if (r.code == 200 && (r.body_len != strlen(replies[i].body) ||
                              memcmp(r.buf + r.head_len, replies[i].body, r.body_len) != 0))
            T_FAIL("reply %zu, step %zu: body \"%.*s\", want \"%s\"", i, step, (int)r.body_len,
                   r.buf + r.head_len, replies[i].body);
    }
    client_http_reply_free(&r);
}

static void test_replies_whole(void)
{
    for (size_t i = 0; i < ARRAY_LEN(replies); i++)
        check_reply(i, 1 << 20);
}

static void test_replies_in_pieces(void)
{
    for (size_t i = 0; i < ARRAY_LEN(replies); i++)
        check_reply(i, 7);
}

static void test_replies_byte_by_byte(void)
{
    for (size_t i = 0; i < ARRAY_LEN(replies); i++)
        check_reply(i, 1);
}

/* A reply complete before the close is reported so at once: the client need not wait. */
static void test_complete_before_close(void)
{
    for (size_t i = 0; i < ARRAY_LEN(replies); i++) {
        struct client_http_reply r;
        const char *raw = replies[i].raw;
        char err[256], *room;
        size_t size, len = strlen(raw);
        int rc;
        if (replies[i].body == NULL || replies[i].needs_close)
            continue;
        client_http_reply_init(&r);
        T_EQ_INT(client_http_room(&r, &room, &size, err, sizeof(err)), 0);
        T_ASSERT(size >= len);
        memcpy(room, raw, len);
        rc = client_http_feed(&r, len, false, err, sizeof(err));
        if (rc != 1)
            T_FAIL("reply %zu: rc %d before the close", i, rc);
        client_http_reply_free(&r);
    }
}

static char *repeat(const char *head, char c, size_t n, const char *tail, size_t *len)
{
    size_t hl = strlen(head), tl = strlen(tail);
    char *s = malloc(hl + n + tl + 1);

    T_ASSERT(s != NULL);
    memcpy(s, head, hl);
    memset(s + hl, c, n);
    memcpy(s + hl + n, tail, tl + 1);
    *len = hl + n + tl;
    return s;
}

static void test_head_bound(void)
{
    struct client_http_reply r;
    char err[256];
    size_t len;
    char *raw = repeat("HTTP/1.1 200 OK\r\nX: ", 'a', CLIENT_HTTP_HEAD_MAX, "\r\n\r\n", &len);

    T_EQ_INT(feed(&r, raw, len, 4096, err, sizeof(err)), -1);
    T_CONTAINS(err, "a reply head longer than 64 KiB");
    client_http_reply_free(&r);
    free(raw);
}

static void test_body_bound_at_close(void)
{
    struct client_http_reply r;
    char err[256];
    size_t len;
    char *raw = repeat("HTTP/1.0 200 OK\r\n\r\n", '{', CLIENT_HTTP_BODY_MAX + 1, "", &len);
    char *fits = repeat("HTTP/1.0 200 OK\r\n\r\n", '{', CLIENT_HTTP_BODY_MAX, "", &len);

    T_EQ_INT(feed(&r, raw, len + 1, 1 << 16, err, sizeof(err)), -1);
    T_CONTAINS(err, "reply larger than 16 MiB");
    client_http_reply_free(&r);
    T_EQ_INT(feed(&r, fits, len, 1 << 16, err, sizeof(err)), 1);
    T_EQ_INT(r.body_len, CLIENT_HTTP_BODY_MAX);
    client_http_reply_free(&r);
    free(raw);
    free(fits);
}

static void test_chunk_line_bound(void)
{
    struct client_http_reply r;
    char err[256];
    size_t len;
    char *raw = repeat("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;", 'x', 2000,
                       "\r\na\r\n0\r\n\r\n", &len);

    T_EQ_INT(feed(&r, raw, len, 100, err, sizeof(err)), -1);
    T_CONTAINS(err, "a chunk line longer than 1024 bytes");
    client_http_reply_free(&r);
    free(raw);
}

/* 100,000 one-byte chunks: 600 kB of framing for 100 kB of body, which alone stays held. */
static void test_chunk_framing_not_kept(void)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    const size_t chunks = 100000;
    size_t len = sizeof(head) - 1 + chunks * 6 + 5;
    char *raw = malloc(len + 1), *p = raw, err[256];
    struct client_http_reply r;

    T_ASSERT(raw != NULL);
    p += snprintf(p, len + 1, "%s", head);
    for (size_t i = 0; i < chunks; i++)
        p += snprintf(p, 7, "1\r\n%c\r\n", 'a' + (int)(i % 26));
    memcpy(p, "0\r\n\r\n", 5);
    T_EQ_INT(feed(&r, raw, len, 4096, err, sizeof(err)), 1);
    T_EQ_INT(r.body_len, chunks);
    for (size_t i = 0; i < chunks; i++)
        if (r.buf[r.head_len + i] != 'a' + (int)(i % 26))
            T_FAIL("body byte %zu is '%c'", i, r.buf[r.head_len + i]);
    if (r.cap > 2 * (chunks + 4096 + sizeof(head)))
        T_FAIL("a buffer of %zu bytes for a body of %zu", r.cap, chunks);
    client_http_reply_free(&r);
    free(raw);
}

static void test_request(void)
{
    char buf[512], small[40];

    T_EQ_INT(client_http_request(buf, sizeof(buf), "127.0.0.1:9100", "/status") > 0, 1);
    T_EQ_STR(buf, "GET /status HTTP/1.1\r\n"
                  "Host: 127.0.0.1:9100\r\n"
                  "User-Agent: usher/" USHER_VERSION "\r\n"
                  "Accept: application/json\r\n"
                  "Connection: close\r\n"
                  "\r\n");
    T_EQ_INT(client_http_request(small, sizeof(small), "127.0.0.1:9100", "/status"), -1);
}

static const struct {
    const char *host, *port, *want;
} hosts[] = {
    {"127.0.0.1", "9100", "127.0.0.1:9100"},
    {"::1", "9100", "[::1]:9100"},
    {"status.example", "http", "status.example:http"},
    {"", "", "localhost"},
    {NULL, NULL, "localhost"},
};

static void test_host(void)
{
    for (size_t i = 0; i < ARRAY_LEN(hosts); i++) {
        char buf[128];
        client_http_host(buf, sizeof(buf), hosts[i].host, hosts[i].port);
        T_EQ_STR(buf, hosts[i].want);
    }
}

static const struct t_case cases[] = {
    T_CASE(test_replies_whole),
    T_CASE(test_replies_in_pieces),
    T_CASE(test_replies_byte_by_byte),
    T_CASE(test_complete_before_close),
    T_CASE(test_head_bound),
    T_CASE(test_body_bound_at_close),
    T_CASE(test_chunk_line_bound),
    T_CASE(test_chunk_framing_not_kept),
    T_CASE(test_request),
    T_CASE(test_host),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
