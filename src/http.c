/*
 * http: the request parser and response head of usherd's endpoints (see http.h).
 */
#include "http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define LEADING_EMPTY_MAX 4 /* empty lines tolerated before a request line (RFC 9112 2.2) */

void http_parser_init(struct http_parser *p)
{
    p->state = HTTP_MORE;
    p->status = 0;
    p->in_body = false;
    p->body_left = 0;
    p->empties = 0;
    p->past_method = false;
    p->len = 0;
    memset(&p->req, 0, sizeof(p->req));
}

static void refuse(struct http_parser *p, int status)
{
    p->state = HTTP_BAD;
    p->status = status;
}

/* RFC 9110 5.6.2: tchar. */
static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

/* Does a token list ("close, Upgrade") name `want`, case aside? */
static bool list_has(const char *v, const char *want)
{
    size_t wl = strlen(want);

    while (*v != '\0') {
        size_t n;
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        n = strcspn(v, ", \t");
        if (n == wl && strncasecmp(v, want, wl) == 0)
            return true;
        v += n;
    }
    return false;
}

static enum http_method method_of(const char *s, size_t n)
{
    if (n == 3 && memcmp(s, "GET", 3) == 0)
        return HTTP_GET;
    if (n == 4 && memcmp(s, "HEAD", 4) == 0)
        return HTTP_HEAD;
    if (n == 4 && memcmp(s, "POST", 4) == 0)
        return HTTP_POST;
    return HTTP_OTHER;
}

/* The path of an origin-form ("/a?b") or absolute-form ("http://h/a") target. */
static int take_path(struct http_request *req, const char *t, size_t n)
{
    size_t len;

    if (n > 7 && strncasecmp(t, "http://", 7) == 0) {
        const char *slash = memchr(t + 7, '/', n - 7);
        if (slash == NULL) {
            t = "/", n = 1;
        } else {
            n -= (size_t)(slash - t);
            t = slash;
        }
    } else if (!(n == 1 && t[0] == '*') && t[0] != '/') {
        return 400;
    }
    for (len = 0; len < n && t[len] != '?' && t[len] != '#'; len++) {
    }
    if (len >= sizeof(req->path))
        return 414;
    memcpy(req->path, t, len);
    req->path[len] = '\0';
    return 0;
}

/* "METHOD SP TARGET SP HTTP/D.D": 0, or the status that refuses it. */
static int parse_request_line(struct http_request *req, const char *line, size_t n)
{
    const char *sp1 = memchr(line, ' ', n), *sp2, *v;
    size_t vlen;
    int rc;

    if (sp1 == NULL || !is_token(line, (size_t)(sp1 - line)))
        return 400;
    req->method = method_of(line, (size_t)(sp1 - line));
    sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - line));
    if (sp2 == NULL || sp2 == sp1 + 1)
        return 400;
    for (const char *c = sp1 + 1; c < sp2; c++)
        if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f)
            return 400;
    v = sp2 + 1;
    vlen = n - (size_t)(v - line);
    if (vlen != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return 400;
    if (v[5] != '1')
        return 505;
    req->minor = v[7] - '0';
    req->keep_alive = req->minor >= 1;
    if ((rc = take_path(req, sp1 + 1, (size_t)(sp2 - sp1 - 1))) != 0)
        return rc;
    return 0;
}

struct head_fields {
    unsigned hosts;
    bool have_length;
};

static int parse_length(struct http_request *req, struct head_fields *f, const char *v)
{
    uint64_t n = 0;

    if (*v == '\0')
        return 400;
    for (const char *c = v; *c != '\0'; c++) {
        if (*c < '0' || *c > '9')
            return 400;
        if (n > HTTP_BODY_MAX)
            return 413; /* already too long: stop before it could overflow */
        n = n * 10 + (uint64_t)(*c - '0');
    }
    if (f->have_length && n != req->content_length)
        return 400;
    if (n > HTTP_BODY_MAX)
        return 413;
    f->have_length = true;
    req->content_length = n;
    return 0;
}

/* One "name: value" line (value NUL-terminated, trimmed): 0 or a status. */
static int parse_field(struct http_request *req, struct head_fields *f, char *line, size_t n)
{
    char *colon = memchr(line, ':', n), *v, *end = line + n;

    if (line[0] == ' ' || line[0] == '\t')
        return 400; /* obsolete line folding */
    if (colon == NULL || !is_token(line, (size_t)(colon - line)))
        return 400;
    for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++) {
    }
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *end = '\0';
    *colon = '\0';
    if (strcasecmp(line, "Content-Length") == 0)
        return parse_length(req, f, v);
    if (strcasecmp(line, "Transfer-Encoding") == 0)
        return 501;
    if (strcasecmp(line, "Host") == 0)
        f->hosts++;
    else if (strcasecmp(line, "Connection") == 0) {
        if (list_has(v, "close"))
            req->keep_alive = false;
        else if (list_has(v, "keep-alive"))
            req->keep_alive = true;
    }
    return 0;
}

/* Visible bytes and tabs only (and the line's own CR at its end, removed by the caller). */
static bool clean_line(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < ' ' && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* The whole head is in p->head: 0 or a status. */
static int parse_head(struct http_parser *p)
{
    struct head_fields f = {0};
    char *line = p->head, *end = p->head + p->len;
    bool first = true;

    while (line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t n = (size_t)(nl - line);
        int rc;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == 0)
            break; /* the empty line that ends the head */
        if (!clean_line(line, n))
            return 400;
        line[n] = '\0';
        rc = first ? parse_request_line(&p->req, line, n) : parse_field(&p->req, &f, line, n);
        if (rc != 0)
            return rc;
        first = false;
        line = nl + 1;
    }
    if (p->req.minor >= 1 && f.hosts != 1)
        return 400; /* RFC 9112 3.2: exactly one Host in HTTP/1.1 */
    if (f.hosts > 1)
        return 400;
    return 0;
}

static bool head_complete(const struct http_parser *p)
{
    return (p->len >= 2 && p->head[p->len - 2] == '\n') ||
           (p->len >= 3 && p->head[p->len - 3] == '\n' && p->head[p->len - 2] == '\r');
}

static size_t skip_body(struct http_parser *p, size_t n)
{
    size_t take = n < p->body_left ? n : (size_t)p->body_left;

    p->body_left -= take;
    if (p->body_left == 0)
        p->state = HTTP_READY;
    return take;
}

size_t http_feed(struct http_parser *p, const char *data, size_t n)
{
    size_t used = 0;
    int rc;

    if (p->state != HTTP_MORE)
        return 0;
    if (p->in_body)
        return skip_body(p, n);
    while (used < n) {
        char c = data[used++];
        if (p->len == 0 && (c == '\r' || c == '\n')) {
            /* Empty lines before the request line: a few (a stray CRLF after a body). */
            if (++p->empties > LEADING_EMPTY_MAX * 2) {
                refuse(p, 400);
                return used;
            }
            continue;
        }
        if (p->len == sizeof(p->head)) {
            refuse(p, 431);
            return used;
        }
        /* Not a method: binary (a TLS ClientHello, say) is refused at once, not waited for. */
        if (!p->past_method) {
            if (c == ' ' || c == '\r' || c == '\n')
                p->past_method = true;
            else if (!is_tchar((unsigned char)c)) {
                refuse(p, 400);
                return used;
            }
        }
        p->head[p->len++] = c;
        if (c != '\n' || !head_complete(p))
            continue;
        if ((rc = parse_head(p)) != 0) {
            refuse(p, rc);
            return used;
        }
        if (p->req.content_length == 0) {
            p->state = HTTP_READY;
            return used;
        }
        p->in_body = true;
        p->body_left = p->req.content_length;
        return used + skip_body(p, n - used);
    }
    return used;
}

const char *http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 202:
        return "Accepted";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

size_t http_response_head(char *buf, size_t size, int status, const char *content_type,
                          uint64_t content_length, bool keep_alive, const char *extra)
{
    int n = snprintf(buf, size,
                     "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %llu\r\nConnection: %s\r\n%s\r\n",
                     status, http_reason(status), content_type ? "Content-Type: " : "",
                     content_type ? content_type : "", content_type ? "\r\n" : "",
                     (unsigned long long)content_length, keep_alive ? "keep-alive" : "close",
                     extra ? extra : "");

    return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}
