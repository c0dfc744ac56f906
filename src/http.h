/*
 * http: the small HTTP/1.1 server side that usherd's own endpoints speak
 * (metrics and status): an incremental request parser that takes bytes as
 * they come, split anywhere, and the head of a response.  Pure logic: no
 * socket, no clock; a connection's engine feeds it.
 *
 * What it accepts (RFC 9112): a request line `METHOD SP TARGET SP
 * HTTP/1.x` (1.0 or 1.1; an HTTP/2 preface or a later major version is
 * 505), header fields `name: value` with token names, lines ended by CRLF
 * or a bare LF, the head at most HTTP_HEAD_MAX bytes (431 past that).  A
 * body is allowed only with a valid Content-Length of at most
 * HTTP_BODY_MAX bytes (413 past that); it is skipped, not kept.
 * Transfer-Encoding is refused (501: none of these endpoints takes a body
 * of unknown length), obsolete line folding, a bad or repeated
 * Content-Length, control bytes, and an HTTP/1.1 request without Host are
 * 400.  Anything refused ends the connection after the error response.
 *
 * Keep-alive: HTTP/1.1 keeps the connection unless `Connection: close`;
 * HTTP/1.0 closes unless `Connection: keep-alive`.
 *
 * Memory: the parser is one fixed buffer of HTTP_HEAD_MAX bytes; a
 * request that never ends costs no more (the caller's idle timeout ends it).
 */
#ifndef USHER_HTTP_H
#define USHER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_HEAD_MAX   8192
#define HTTP_BODY_MAX   (64 * 1024)
#define HTTP_TARGET_MAX 1024

enum http_method {
    HTTP_GET,
    HTTP_HEAD,
    HTTP_POST,
    HTTP_OTHER, /* any other token: a handler answers 405 */
};

struct http_request {
    enum http_method method;
    char path[HTTP_TARGET_MAX]; /* the target without its query */
    int minor;                  /* HTTP/1.minor */
    bool keep_alive;
    uint64_t content_length;
};

enum http_state {
    HTTP_MORE,  /* more bytes are needed */
    HTTP_READY, /* req is complete (its body, if any, skipped) */
    HTTP_BAD,   /* refused: answer `status` and close */
};

struct http_parser {
    enum http_state state;
    int status;         /* HTTP_BAD: 400, 413, 431, 501 or 505 */
    bool in_body;       /* the head is parsed; skipping body_left bytes */
    uint64_t body_left; /* of the body to skip */
    unsigned empties;   /* empty lines before the request line */
    bool past_method;   /* the request line's first space or end is seen */
    size_t len;         /* of the head so far */
    char head[HTTP_HEAD_MAX];
    struct http_request req;
};

/* Ready for a new request (after HTTP_READY, to read the next one). */
void http_parser_init(struct http_parser *p);

/*
 * Feed `n` bytes; returns how many were consumed (the rest belong to the
 * next request, or are not wanted after HTTP_BAD).  p->state says where
 * the parser is; p->req is valid once it is HTTP_READY.
 */
size_t http_feed(struct http_parser *p, const char *data, size_t n);

/* The reason phrase of a status code ("OK", "Not Found", ...). */
const char *http_reason(int status);

/*
 * The head of a response, into buf: status line, Content-Type (unless
 * NULL), Content-Length, Connection, and `extra` header lines (each ended
 * by CRLF; NULL for none).  Returns its length, or 0 if it does not fit.
 */
size_t http_response_head(char *buf, size_t size, int status, const char *content_type,
                          uint64_t content_length, bool keep_alive, const char *extra);

#endif
