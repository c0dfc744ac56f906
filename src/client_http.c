/*
 * client_http: the GET and the bounded reply reader of client_http.h.
 *
 * The reader keeps the reply in one buffer: the head, then the body.  A
 * chunked body is decoded in place: each complete chunk's data moves
 * down to the end of the body decoded so far, and what is left of the
 * input moves after it, so the buffer holds the decoded body plus at
 * most one chunk in transit, never the framing of the chunks before it.
 * The buffer's bound is therefore the head's, the body's and one chunk
 * line's, whatever the framing.
 */
#include "client_http.h"

#include "client_tls.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef USHER_VERSION
#define USHER_VERSION "dev"
#endif

#define CHUNK_LINE_MAX 1024 /* a chunk-size line, extensions and all */
#define READ_MIN       4096
/* The most the buffer holds: the head, the body, a chunk line and its CRLF in transit. */
#define BUFFER_MAX (CLIENT_HTTP_HEAD_MAX + CLIENT_HTTP_BODY_MAX + 2 * CHUNK_LINE_MAX + 2)

void client_http_reply_init(struct client_http_reply *r)
{
    memset(r, 0, sizeof(*r));
}

void client_http_reply_free(struct client_http_reply *r)
{
    free(r->buf);
    client_http_reply_init(r);
}

int client_http_room(struct client_http_reply *r, char **room, size_t *size, char *err,
                     size_t errlen)
{
    if (r->len == r->cap) {
        size_t cap = r->cap < READ_MIN ? READ_MIN : r->cap * 2;
        char *buf;
        if (r->cap >= BUFFER_MAX) {
            err_set(err, errlen, "reply larger than %d MiB", CLIENT_HTTP_BODY_MAX >> 20);
            errno = EMSGSIZE;
            return -1;
        }
        if (cap > BUFFER_MAX)
            cap = BUFFER_MAX;
        if ((buf = realloc(r->buf, cap)) == NULL) {
            err_set(err, errlen, "out of memory");
            errno = ENOMEM;
            return -1;
        }
        r->buf = buf;
        r->cap = cap;
    }
    *room = r->buf + r->len;
    *size = r->cap - r->len;
    return 0;
}

/* Lines */

/* The line [line, line + len) without its "\r\n" or "\n". */
struct line {
    const char *text;
    size_t len;
};

/* The next line of [*p, end): false if there is no "\n" before end. */
static bool next_line(const char **p, const char *end, struct line *l)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));

    if (nl == NULL)
        return false;
    l->text = *p;
    l->len = (size_t)(nl - *p);
    if (l->len > 0 && l->text[l->len - 1] == '\r')
        l->len--;
    *p = nl + 1;
    return true;
}

static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The head */

/* "HTTP/1.x NNN reason": the code and the reason. */
static int parse_status_line(struct client_http_reply *r, const struct line *l, char *err,
                             size_t errlen)
{
    const char *s = l->text;

    if (l->len < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' || s[7] > '9' || s[8] != ' ' ||
        s[9] < '1' || s[9] > '5' || s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9' ||
        (l->len > 12 && s[12] != ' '))
        return err_set(err, errlen, "not an HTTP/1.x status line");
    r->code = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    if (l->len > 13)
        str_escape(r->reason, sizeof(r->reason), s + 13, l->len - 13);
    else
        r->reason[0] = '\0';
    return 0;
}

static bool name_is(const struct line *name, const char *want)
{
    return name->len == strlen(want) && strncasecmp(name->text, want, name->len) == 0;
}

static int parse_content_length(struct client_http_reply *r, const struct line *v, bool *seen,
                                char *err, size_t errlen)
{
    uint64_t n = 0;

    if (v->len == 0 || v->len > 19)
        return err_set(err, errlen, "bad Content-Length");
    for (size_t i = 0; i < v->len; i++) {
        if (v->text[i] < '0' || v->text[i] > '9')
            return err_set(err, errlen, "bad Content-Length");
        n = n * 10 + (uint64_t)(v->text[i] - '0');
    }
    if (*seen && n != r->content_length)
        return err_set(err, errlen, "Content-Length given twice, differently");
    *seen = true;
    r->content_length = n;
    return 0;
}

/* One "name: value" line: the name a token, the value without its surrounding blanks. */
static int split_header(const struct line *l, struct line *name, struct line *value, char *err,
                        size_t errlen)
{
    const char *colon = memchr(l->text, ':', l->len), *end = l->text + l->len, *v;

    if (l->text[0] == ' ' || l->text[0] == '\t')
        return err_set(err, errlen, "a folded header line");
    if (colon == NULL || colon == l->text)
        return err_set(err, errlen, "a header line without a name");
    for (const char *p = l->text; p < colon; p++)
        if (!is_tchar(*p))
            return err_set(err, errlen, "a header name that is not a token");
    for (const char *p = colon + 1; p < end; p++)
        if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
            return err_set(err, errlen, "a control character in a header");
    v = colon + 1;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *name = (struct line){l->text, (size_t)(colon - l->text)};
    *value = (struct line){v, (size_t)(end - v)};
    return 0;
}

/* The headers in [p, end) (the blank line excluded): the body's framing. */
static int parse_headers(struct client_http_reply *r, const char *p, const char *end, char *err,
                         size_t errlen)
{
    bool length = false, chunked = false;
    struct line l, name = {0}, value = {0};

    while (next_line(&p, end, &l) && l.len > 0) {
        if (split_header(&l, &name, &value, err, errlen) < 0)
            return -1;
        if (name_is(&name, "Content-Length")) {
            if (parse_content_length(r, &value, &length, err, errlen) < 0)
                return -1;
        } else if (name_is(&name, "Transfer-Encoding")) {
            if (chunked || value.len != 7 || strncasecmp(value.text, "chunked", 7) != 0)
                return err_set(err, errlen, "a transfer coding other than chunked");
            chunked = true;
        }
    }
    r->framing = chunked ? CLIENT_HTTP_CHUNKED : length ? CLIENT_HTTP_LENGTH : CLIENT_HTTP_CLOSE;
    return 0;
}

/* Where the head ends (after its blank line), or 0 if that has not come yet. */
static size_t find_head_end(struct client_http_reply *r)
{
    for (size_t i = r->searched; i < r->len; i++) {
        if (r->buf[i] != '\n')
            continue;
        if (i + 1 < r->len && r->buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < r->len && r->buf[i + 1] == '\r' && r->buf[i + 2] == '\n')
            return i + 3;
    }
    /* The last two bytes may yet start a blank line's end. */
    r->searched = r->len >= 2 ? r->len - 2 : 0;
    return 0;
}

/* 1: the head is complete (code, framing, head_len); 0: more is needed; -1. */
static int read_head(struct client_http_reply *r, bool eof, char *err, size_t errlen)
{
    size_t check = r->len < 5 ? r->len : 5, end;
    const char *p = r->buf;
    struct line status;

    /* (No byte yet: maybe no buffer yet either.) */
    if (check > 0 && memcmp(r->buf, "HTTP/", check) != 0)
        return err_set(err, errlen, "not an HTTP reply");
    if ((end = find_head_end(r)) == 0) {
        if (r->len > CLIENT_HTTP_HEAD_MAX)
            return err_set(err, errlen, "a reply head longer than %d KiB",
                           CLIENT_HTTP_HEAD_MAX >> 10);
        if (eof)
            return err_set(err, errlen, "%s",
                           r->len == 0 ? "connection closed without a reply"
                                       : "connection closed in the middle of the reply's head");
        return 0;
    }
    if (end > CLIENT_HTTP_HEAD_MAX)
        return err_set(err, errlen, "a reply head longer than %d KiB", CLIENT_HTTP_HEAD_MAX >> 10);
    if (!next_line(&p, r->buf + end, &status))
        return err_set(err, errlen, "no status line"); /* cannot be: the head has its end */
    if (parse_status_line(r, &status, err, errlen) < 0 ||
        parse_headers(r, p, r->buf + end, err, errlen) < 0)
        return -1;
    r->head_len = r->scan = end;
    return 1;
}

/* An interim reply (100 Continue, 103 Early Hints) goes; the real one follows it. */
static void drop_head(struct client_http_reply *r)
{
    memmove(r->buf, r->buf + r->head_len, r->len - r->head_len);
    r->len -= r->head_len;
    r->head_len = r->scan = r->searched = 0;
}

/* The chunked body */

/* "HEX[;ext]": the size, or -1. */
static int parse_chunk_size(const struct line *l, uint64_t *size, char *err, size_t errlen)
{
    size_t i = 0;
    uint64_t n = 0;

    for (; i < l->len; i++) {
        char c = l->text[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            break;
        if (n > CLIENT_HTTP_BODY_MAX)
            return err_set(err, errlen, "a chunk larger than %d MiB", CLIENT_HTTP_BODY_MAX >> 20);
        n = n * 16 + d;
    }
    if (i == 0)
        return err_set(err, errlen, "a bad chunk size");
    while (i < l->len && (l->text[i] == ' ' || l->text[i] == '\t'))
        i++;
    if (i < l->len && l->text[i] != ';')
        return err_set(err, errlen, "a bad chunk size");
    *size = n;
    return 0;
}

/* The line at r->scan, bounded: 1 with *l and *after, 0 if not all there yet, -1. */
static int chunk_line(struct client_http_reply *r, struct line *l, size_t *after, char *err,
                      size_t errlen)
{
    const char *p = r->buf + r->scan;
    size_t avail = r->len - r->scan, look = avail < CHUNK_LINE_MAX ? avail : CHUNK_LINE_MAX;

    if (!next_line(&p, p + look, l)) {
        if (avail >= CHUNK_LINE_MAX)
            return err_set(err, errlen, "a chunk line longer than %d bytes", CHUNK_LINE_MAX);
        return 0;
    }
    *after = (size_t)(p - r->buf);
    return 1;
}

/* The chunk at r->scan, if it is all there: its data moved to the body's end. 1 moved, 0, -1. */
static int take_chunk(struct client_http_reply *r, size_t data, uint64_t size, char *err,
                      size_t errlen)
{
    size_t end;

    if (size > CLIENT_HTTP_BODY_MAX - r->body_len)
        return err_set(err, errlen, "a chunked body larger than %d MiB",
                       CLIENT_HTTP_BODY_MAX >> 20);
    end = data + (size_t)size;
    if (r->len < end + 1 || (r->buf[end] == '\r' && r->len < end + 2))
        return 0;
    if (r->buf[end] == '\r')
        end++;
    if (r->buf[end] != '\n')
        return err_set(err, errlen, "a chunk not followed by its line end");
    memmove(r->buf + r->head_len + r->body_len, r->buf + data, (size_t)size);
    r->body_len += (size_t)size;
    r->scan = end + 1;
    return 1;
}

/* Chunks, then the trailer lines (skipped, bounded like a head) up to the blank line. */
static int read_chunks(struct client_http_reply *r, char *err, size_t errlen)
{
    for (;;) {
        struct line l;
        size_t after = 0;
        uint64_t size = 0;
        int rc = chunk_line(r, &l, &after, err, errlen);
        if (rc <= 0)
            return rc;
        if (r->in_trailer) {
            r->trailer_len += after - r->scan;
            r->scan = after;
            if (l.len == 0)
                return 1;
            if (r->trailer_len > CLIENT_HTTP_HEAD_MAX)
                return err_set(err, errlen, "a trailer longer than %d KiB",
                               CLIENT_HTTP_HEAD_MAX >> 10);
            continue;
        }
        if (parse_chunk_size(&l, &size, err, errlen) < 0)
            return -1;
        if (size == 0) {
            r->in_trailer = true; /* the body is complete; its trailer follows */
            r->scan = after;
            continue;
        }
        if ((rc = take_chunk(r, after, size, err, errlen)) <= 0)
            return rc;
    }
}

/* Drop the framing already decoded, so the buffer holds the body and what is in transit. */
static void compact(struct client_http_reply *r)
{
    size_t body_end = r->head_len + r->body_len;

    if (r->scan > body_end) {
        memmove(r->buf + body_end, r->buf + r->scan, r->len - r->scan);
        r->len -= r->scan - body_end;
        r->scan = body_end;
    }
}

static int read_body(struct client_http_reply *r, bool eof, char *err, size_t errlen)
{
    size_t have = r->len - r->head_len;
    int rc;

    switch (r->framing) {
    case CLIENT_HTTP_LENGTH:
        if (r->content_length > CLIENT_HTTP_BODY_MAX)
            return err_set(err, errlen, "a body of %llu bytes, more than %d MiB",
                           (unsigned long long)r->content_length, CLIENT_HTTP_BODY_MAX >> 20);
        r->body_len = have < r->content_length ? have : (size_t)r->content_length;
        if (have >= r->content_length)
            return 1;
        if (eof)
            return err_set(err, errlen, "reply cut short: %zu of its %llu bytes", have,
                           (unsigned long long)r->content_length);
        return 0;
    case CLIENT_HTTP_CLOSE:
        r->body_len = have;
        if (have > CLIENT_HTTP_BODY_MAX)
            return err_set(err, errlen, "reply larger than %d MiB", CLIENT_HTTP_BODY_MAX >> 20);
        return eof ? 1 : 0;
    case CLIENT_HTTP_CHUNKED:
    default:
        rc = read_chunks(r, err, errlen);
        compact(r);
        if (rc == 0 && eof)
            return err_set(err, errlen, "reply cut short in its chunks");
        return rc;
    }
}

int client_http_feed(struct client_http_reply *r, size_t n, bool eof, char *err, size_t errlen)
{
    int rc;

    r->len += n;
    if (r->done)
        return 1;
    while (r->head_len == 0) {
        if ((rc = read_head(r, eof, err, errlen)) <= 0)
            return rc;
        if (r->code == 101)
            return err_set(err, errlen, "the server switched protocols (101)");
        if (r->code >= 200)
            break;
        drop_head(r);
    }
    if (r->code != 200)
        rc = 1; /* the caller reports the status; the body is of no use */
    else if ((rc = read_body(r, eof, err, errlen)) < 0)
        return -1;
    r->done = rc == 1;
    return rc;
}

/* The request */

void client_http_host(char *buf, size_t size, const char *host, const char *port)
{
    if (host == NULL || host[0] == '\0')
        snprintf(buf, size, "localhost");
    else if (strchr(host, ':') != NULL)
        snprintf(buf, size, "[%s]:%s", host, port);
    else
        snprintf(buf, size, "%s:%s", host, port);
}

int client_http_request(char *buf, size_t size, const char *host_port, const char *path)
{
    int n = snprintf(buf, size,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "User-Agent: usher/%s\r\n"
                     "Accept: application/json\r\n"
                     "Connection: close\r\n"
                     "\r\n",
                     path, host_port != NULL ? host_port : "localhost", USHER_VERSION);

    return n < 0 || (size_t)n >= size ? -1 : n;
}

/* The exchange */

/* Wait for `events` on the connection or for stop_fd: 0 ready, 1 stopped, -1 with errno. */
static int wait_conn(const struct client_conn *c, short events, int stop_fd, int64_t deadline)
{
    for (;;) {
        struct pollfd p[2] = {{.fd = c->fd, .events = events}, {.fd = stop_fd, .events = POLLIN}};
        int rc = poll(p, stop_fd >= 0 ? 2 : 1, ms_until(deadline));
        if (rc > 0)
            return stop_fd >= 0 && (p[1].revents & POLLIN) ? 1 : 0;
        if (rc == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (errno != EINTR)
            return -1;
    }
}

static int conn_failed(const struct client_conn *c, const char *name, const char *doing, char *err,
                       size_t errlen)
{
    if (errno == ETIMEDOUT)
        return err_set(err, errlen, "%s: timed out %s", name, doing);
    return err_set(err, errlen, "%s: %s", name, client_conn_strerror(c, errno));
}

static int send_request(struct client_conn *c, const char *name, const char *req, size_t len,
                        int64_t deadline, int stop_fd, char *err, size_t errlen)
{
    while (len > 0) {
        ssize_t n = client_conn_send(c, req, len);
        int rc;
        if (n >= 0) {
            req += n;
            len -= (size_t)n;
            continue;
        }
        if (errno != EAGAIN)
            return conn_failed(c, name, "", err, errlen);
        if ((rc = wait_conn(c, c->write_want, stop_fd, deadline)) != 0)
            return rc > 0 ? 1 : conn_failed(c, name, "sending the request", err, errlen);
    }
    return 0;
}

int client_http_get(struct client_conn *conn, const char *name, const char *request, size_t len,
                    struct client_http_reply *r, int64_t deadline, int stop_fd, char *err,
                    size_t errlen)
{
    char why[256];
    int rc = send_request(conn, name, request, len, deadline, stop_fd, err, errlen);

    if (rc != 0)
        return rc;
    for (;;) {
        char *room;
        size_t size;
        ssize_t n;
        if (client_http_room(r, &room, &size, why, sizeof(why)) < 0)
            return err_set(err, errlen, "%s: %s", name, why);
        n = client_conn_recv(conn, room, size);
        if (n >= 0) {
            rc = client_http_feed(r, (size_t)n, n == 0, why, sizeof(why));
            if (rc < 0)
                return err_set(err, errlen, "%s: %s", name, why);
            if (rc > 0)
                return 0;
            continue;
        }
        if (errno != EAGAIN)
            return conn_failed(conn, name, "", err, errlen);
        if ((rc = wait_conn(conn, conn->read_want, stop_fd, deadline)) != 0)
            return rc > 0 ? 1 : conn_failed(conn, name, "waiting for the reply", err, errlen);
    }
}
