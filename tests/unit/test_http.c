/*
 * Unit tests: the HTTP request parser and response head (http.c).
 *
 * A table of requests, good and bad, each fed whole, byte by byte and in
 * pieces of every size up to 7, which must all end the same way: ready
 * with the same method, path and keep-alive, or refused with the same
 * status.  Then what is left after a request (pipelining), bodies skipped,
 * the size limits, and the response head.
 */
#include "http.h"
#include "t.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hcase {
    const char *name;
    const char *req;
    int status; /* 0: ready, else the refusal */
    enum http_method method;
    const char *path;
    bool keep;
};

#define H11 "Host: x\r\n"

static const struct hcase cases[] = {
    {"get", "GET /metrics HTTP/1.1\r\n" H11 "\r\n", 0, HTTP_GET, "/metrics", true},
    {"head", "HEAD /status HTTP/1.1\r\n" H11 "\r\n", 0, HTTP_HEAD, "/status", true},
    {"query dropped", "GET /metrics?x=1#f HTTP/1.1\r\n" H11 "\r\n", 0, HTTP_GET, "/metrics", true},
    {"absolute form", "GET http://h:9/status?a HTTP/1.1\r\n" H11 "\r\n", 0, HTTP_GET, "/status",
     true},
    {"absolute no path", "GET http://h HTTP/1.1\r\n" H11 "\r\n", 0, HTTP_GET, "/", true},
    {"bare lf", "GET / HTTP/1.1\n" H11 "\n", 0, HTTP_GET, "/", true},
    {"close", "GET / HTTP/1.1\r\n" H11 "Connection: Close\r\n\r\n", 0, HTTP_GET, "/", false},
    {"close in a list", "GET / HTTP/1.1\r\n" H11 "Connection: upgrade, close\r\n\r\n", 0, HTTP_GET,
     "/", false},
    {"1.0 closes", "GET / HTTP/1.0\r\n\r\n", 0, HTTP_GET, "/", false},
    {"1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0, HTTP_GET, "/", true},
    {"post", "POST /reload HTTP/1.1\r\n" H11 "Content-Length: 0\r\n\r\n", 0, HTTP_POST, "/reload",
     true},
    {"other method", "DELETE / HTTP/1.1\r\n" H11 "\r\n", 0, HTTP_OTHER, "/", true},
    {"leading crlf", "\r\nGET / HTTP/1.1\r\n" H11 "\r\n", 0, HTTP_GET, "/", true},
    {"value with spaces", "GET / HTTP/1.1\r\n" H11 "User-Agent:  a b  \r\n\r\n", 0, HTTP_GET, "/",
     true},
    {"1.9 is 1.x", "GET / HTTP/1.9\r\n" H11 "\r\n", 0, HTTP_GET, "/", true},
    /* refused */
    {"no host", "GET / HTTP/1.1\r\n\r\n", 400, 0, NULL, false},
    {"two hosts", "GET / HTTP/1.1\r\n" H11 H11 "\r\n", 400, 0, NULL, false},
    {"http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, 0, NULL, false},
    {"version 0.9", "GET /\r\n\r\n", 400, 0, NULL, false},
    {"version garbage", "GET / HTTQ/1.1\r\n" H11 "\r\n", 400, 0, NULL, false},
    {"two spaces", "GET  / HTTP/1.1\r\n" H11 "\r\n", 400, 0, NULL, false},
    {"relative target", "GET metrics HTTP/1.1\r\n" H11 "\r\n", 400, 0, NULL, false},
    {"bad method", "G(T / HTTP/1.1\r\n" H11 "\r\n", 400, 0, NULL, false},
    {"control in target", "GET /\001 HTTP/1.1\r\n" H11 "\r\n", 400, 0, NULL, false},
    {"nul in field", "GET / HTTP/1.1\r\n" H11 "X: a\000b\r\n\r\n", 400, 0, NULL, false},
    {"bare cr", "GET / HTTP/1.1\r\n" H11 "X: a\rb\r\n\r\n", 400, 0, NULL, false},
    {"obs fold", "GET / HTTP/1.1\r\n" H11 "X: a\r\n b\r\n\r\n", 400, 0, NULL, false},
    {"space before colon", "GET / HTTP/1.1\r\n" H11 "X : a\r\n\r\n", 400, 0, NULL, false},
    {"no colon", "GET / HTTP/1.1\r\n" H11 "garbage\r\n\r\n", 400, 0, NULL, false},
    {"chunked", "POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked\r\n\r\n", 501, 0, NULL,
     false},
    {"bad length", "POST / HTTP/1.1\r\n" H11 "Content-Length: 1x\r\n\r\n", 400, 0, NULL, false},
    {"negative length", "POST / HTTP/1.1\r\n" H11 "Content-Length: -1\r\n\r\n", 400, 0, NULL,
     false},
    {"two lengths", "POST / HTTP/1.1\r\n" H11 "Content-Length: 1\r\nContent-Length: 2\r\n\r\n", 400,
     0, NULL, false},
    {"huge length", "POST / HTTP/1.1\r\n" H11 "Content-Length: 99999999999999999999999\r\n\r\n",
     413, 0, NULL, false},
    {"too many empty lines", "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n" H11 "\r\n", 400, 0, NULL,
     false},
    {"binary", "\x16\x03\x01\x02\x05\x01\x07\x01\xfc\x03\x03", 400, 0, NULL, false},
    {"binary after a method", "GET \x16\x03\x01 HTTP/1.1\r\n\r\n", 400, 0, NULL, false},
};

struct outcome {
    enum http_state state;
    int status;
    enum http_method method;
    char path[64];
    bool keep;
    size_t used;
};

/* Feed `req` in pieces of `step` bytes (0: whole) until the parser is no longer asking for more. */
static struct outcome feed(const char *req, size_t len, size_t step)
{
    static struct http_parser p;
    struct outcome o = {0};
    size_t off = 0;

    http_parser_init(&p);
    while (off < len && p.state == HTTP_MORE) {
        size_t n = step == 0 || len - off < step ? len - off : step;
        size_t used = http_feed(&p, req + off, n);
        if (used > n)
            T_FAIL("fed %zu, used %zu", n, used);
        if (p.state == HTTP_MORE && used != n)
            T_FAIL("asked for more but left %zu of %zu bytes", n - used, n);
        off += used;
    }
    o.state = p.state;
    o.status = p.status;
    o.used = off;
    if (p.state == HTTP_READY) {
        o.method = p.req.method;
        o.keep = p.req.keep_alive;
        str_copy(o.path, sizeof(o.path), p.req.path);
    }
    return o;
}

static void test_requests_table_in_every_split(void)
{
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const struct hcase *c = &cases[i];
        size_t len = strlen(c->req);
        if (strcmp(c->name, "nul in field") == 0)
            len = sizeof("GET / HTTP/1.1\r\n" H11 "X: a\000b\r\n\r\n") - 1;
        for (size_t step = 0; step <= 7; step++) {
            struct outcome o = feed(c->req, len, step);
            if (c->status == 0) {
                if (o.state != HTTP_READY)
                    T_FAIL("%s (step %zu): not ready (state %d, status %d)", c->name, step, o.state,
                           o.status);
                if (o.method != c->method || strcmp(o.path, c->path) != 0 || o.keep != c->keep)
                    T_FAIL("%s (step %zu): method %d path %s keep %d", c->name, step, o.method,
                           o.path, o.keep);
                if (o.used != len)
                    T_FAIL("%s (step %zu): used %zu of %zu", c->name, step, o.used, len);
            } else if (o.state != HTTP_BAD || o.status != c->status) {
                T_FAIL("%s (step %zu): state %d status %d, want refused with %d", c->name, step,
                       o.state, o.status, c->status);
            }
        }
    }
}

static void test_every_prefix_asks_for_more(void)
{
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";
    struct http_parser p;

    for (size_t n = 1; n < sizeof(req) - 1; n++) {
        http_parser_init(&p);
        T_EQ_INT(http_feed(&p, req, n), n);
        if (p.state != HTTP_MORE)
            T_FAIL("a prefix of %zu bytes ended the request (state %d)", n, p.state);
    }
}

static void test_pipelined_requests_are_taken_one_at_a_time(void)
{
    static const char two[] =
        "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    struct http_parser p;
    size_t used;

    http_parser_init(&p);
    used = http_feed(&p, two, sizeof(two) - 1);
    T_EQ_INT(p.state, HTTP_READY);
    T_EQ_STR(p.req.path, "/a");
    T_EQ_INT(used, (sizeof(two) - 1) / 2);
    T_EQ_INT(http_feed(&p, two + used, sizeof(two) - 1 - used), 0); /* done until reset */
    http_parser_init(&p);
    T_EQ_INT(http_feed(&p, two + used, sizeof(two) - 1 - used), (sizeof(two) - 1) / 2);
    T_EQ_INT(p.state, HTTP_READY);
    T_EQ_STR(p.req.path, "/b");
}

static void test_body_is_skipped_and_the_next_request_follows(void)
{
    static const char req[] = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                              "GET /y HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t first = sizeof("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello") - 1;
    struct http_parser p;

    for (size_t step = 1; step <= first; step++) {
        size_t off = 0;
        http_parser_init(&p);
        while (p.state == HTTP_MORE)
            off += http_feed(&p, req + off, step < first - off ? step : first - off);
        T_EQ_INT(p.state, HTTP_READY);
        T_EQ_INT(off, first);
        T_EQ_INT(p.req.content_length, 5);
    }
}

static void test_head_over_the_limit_is_431(void)
{
    size_t len = HTTP_HEAD_MAX + 100;
    char *req = malloc(len);
    struct http_parser p;

    T_ASSERT(req != NULL);
    memset(req, 'a', len);
    memcpy(req, "GET / HTTP/1.1\r\nX: ", 19);
    http_parser_init(&p);
    T_ASSERT(http_feed(&p, req, len) <= HTTP_HEAD_MAX + 1);
    T_EQ_INT(p.state, HTTP_BAD);
    T_EQ_INT(p.status, 431);
    /* A head of exactly the limit is taken. */
    memset(req, 'a', len);
    memcpy(req, "GET / HTTP/1.1\r\nHost: x\r\nX: ", 28);
    memcpy(req + HTTP_HEAD_MAX - 4, "\r\n\r\n", 4);
    http_parser_init(&p);
    T_EQ_INT(http_feed(&p, req, HTTP_HEAD_MAX), HTTP_HEAD_MAX);
    T_EQ_INT(p.state, HTTP_READY);
    free(req);
}

static void test_long_target_is_414_and_body_limit_413(void)
{
    char req[HTTP_TARGET_MAX + 64];
    struct http_parser p;
    int n;

    memset(req, 'a', sizeof(req));
    memcpy(req, "GET /", 5);
    n = snprintf(req + 5 + HTTP_TARGET_MAX, 40, " HTTP/1.1\r\nHost: x\r\n\r\n");
    http_parser_init(&p);
    http_feed(&p, req, 5 + HTTP_TARGET_MAX + (size_t)n);
    T_EQ_INT(p.status, 414);
    n = snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
                 HTTP_BODY_MAX + 1);
    http_parser_init(&p);
    http_feed(&p, req, (size_t)n);
    T_EQ_INT(p.status, 413);
}

static void test_response_head(void)
{
    char buf[256];
    size_t n = http_response_head(buf, sizeof(buf), 404, "text/plain", 14, false, NULL);

    T_EQ_STR(buf, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n"
                  "Connection: close\r\n\r\n");
    T_EQ_INT(n, strlen(buf));
    n = http_response_head(buf, sizeof(buf), 405, NULL, 0, true, "Allow: GET, HEAD\r\n");
    T_EQ_STR(buf, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: "
                  "keep-alive\r\nAllow: GET, HEAD\r\n\r\n");
    T_EQ_INT(http_response_head(buf, 10, 200, NULL, 0, true, NULL), 0); /* does not fit */
}

static const struct t_case tcases[] = {
    T_CASE(test_requests_table_in_every_split),
    T_CASE(test_every_prefix_asks_for_more),
    T_CASE(test_pipelined_requests_are_taken_one_at_a_time),
    T_CASE(test_body_is_skipped_and_the_next_request_follows),
    T_CASE(test_head_over_the_limit_is_431),
    T_CASE(test_long_target_is_414_and_body_limit_413),
    T_CASE(test_response_head),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, tcases, ARRAY_LEN(tcases));
}
