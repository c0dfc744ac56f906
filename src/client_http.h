/*
 * client_http: one HTTP/1.1 GET over a client connection (plain or TLS),
 * for `usher status`: the request, and a bounded, incremental reader of
 * the reply.
 *
 * The request asks for `Connection: close`: one request per connection,
 * so a reply ends at its Content-Length, at the end of its chunks, or at
 * the server's close.  The reader takes the bytes as they come
 * (client_http_feed after each read) and never looks at a byte twice
 * beyond a bounded line: a server that trickles its reply costs time, not
 * CPU.  Bounds: the head (status line and headers) CLIENT_HTTP_HEAD_MAX,
 * the body CLIENT_HTTP_BODY_MAX.  Framing as RFC 9112 says: chunked
 * wins over Content-Length; Content-Length values must agree; a transfer
 * coding other than chunked is refused; interim (1xx) replies are
 * skipped.  A reply whose status is not 200 is complete at the end of
 * its head: its body is not read.
 *
 * The reader is pure (bytes in, state out); client_http_get adds the
 * connection and the waiting.  Nothing here prints.
 */
#ifndef USHER_CLIENT_HTTP_H
#define USHER_CLIENT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct client_conn;

#define CLIENT_HTTP_HEAD_MAX (64 * 1024)
#define CLIENT_HTTP_BODY_MAX (16 * 1024 * 1024)

enum client_http_framing {
    CLIENT_HTTP_LENGTH,  /* Content-Length */
    CLIENT_HTTP_CHUNKED, /* Transfer-Encoding: chunked */
    CLIENT_HTTP_CLOSE,   /* neither: the body ends when the server closes */
};

struct client_http_reply {
    char *buf;          /* the reply as read, the body decoded in place after the head */
    size_t len, cap;    /* bytes held, and room */
    size_t head_len;    /* 0 until the head is complete; then the offset of the body */
    size_t body_len;    /* decoded body bytes at buf + head_len */
    size_t scan;        /* chunked: the offset of the next chunk-size or trailer line */
    bool in_trailer;    /* chunked: past the last chunk, in the trailer */
    size_t trailer_len; /* ... and the trailer's bytes so far */
    size_t searched;    /* head: bytes already searched for its end */
    bool done;          /* complete: the body is all there (or not to be read) */
    int code;           /* the status code, once the head is complete */
    char reason[128];   /* the reason phrase, escaped for a terminal (str_escape) */
    enum client_http_framing framing;
    uint64_t content_length;
};

/* An empty reader.  client_http_reply_free releases what it grew. */
void client_http_reply_init(struct client_http_reply *r);
void client_http_reply_free(struct client_http_reply *r);

/*
 * Room for the next read: at least one byte at *room (size *size), the
 * buffer grown as needed up to the bounds.  Returns 0, or -1 with a
 * message in err: the reply is larger than the bounds (EMSGSIZE), or out
 * of memory (ENOMEM).
 */
int client_http_room(struct client_http_reply *r, char **room, size_t *size, char *err,
                     size_t errlen);

/*
 * Take `n` more bytes, just read into the room client_http_room gave
 * (n = 0 and `eof` when the server has closed).  Returns 1 once the reply
 * is complete (r->done), 0 while more is needed, -1 with a message in err
 * when the reply is not one ("not an HTTP reply", "bad chunk size"...),
 * or is cut short by the close.
 */
int client_http_feed(struct client_http_reply *r, size_t n, bool eof, char *err, size_t errlen);

/*
 * The request: "GET PATH HTTP/1.1" with Host (host_port as given,
 * "localhost" if NULL), a User-Agent, Accept: application/json and
 * Connection: close.  Returns its length, or -1 if it does not fit in
 * `size` bytes.
 */
int client_http_request(char *buf, size_t size, const char *host_port, const char *path);

/*
 * The Host header's value for a server at `host` and `port` (an IPv6
 * literal gets its brackets back); NULL host (a Unix socket): "localhost".
 */
void client_http_host(char *buf, size_t size, const char *host, const char *port);

/*
 * Send the request over `conn` and read the reply into *r (initialised),
 * all before `deadline` (a now_ms() instant; -1: none).  `stop_fd`, if
 * not -1, is watched too: once it is readable the wait ends.  `name` is
 * the server's address for messages.  Returns 0 with the reply complete
 * (the caller checks r->code), 1 if stop_fd ended it, or -1 with a message
 * in err: "NAME: timed out waiting for the reply", "NAME: not an HTTP
 * reply", "NAME: Connection reset by peer"...
 */
int client_http_get(struct client_conn *conn, const char *name, const char *request, size_t len,
                    struct client_http_reply *r, int64_t deadline, int stop_fd, char *err,
                    size_t errlen);

#endif
