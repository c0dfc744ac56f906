/*
 * builtin_metrics: `builtin = metrics`, HTTP/1.1 over a stream (see
 * builtin.h for the contract): GET or HEAD /metrics (the Prometheus text
 * format) and /status (JSON), 404 for any other path, 405 for any other
 * method, the parser's refusals (400, 413, 414, 431, 501, 505) answered and
 * then closed.  Keep-alive as the request asks.
 *
 * One request is answered per call of input: its response is rendered
 * whole into the session's buffer and handed to the engine as one
 * reference, so pipelined requests are answered in order, one response
 * at a time (the engine stops reading while a response waits for the
 * socket): a thousand pipelined requests cost one response's memory.
 */
#include "builtin_metrics.h"

#include "http.h"
#include "metrics_render.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define RESPONSE_MAX (64 * 1024 * 1024) /* a /metrics of a thousand services fits well */

struct metrics_session {
    struct http_parser parser;
    struct strbuf resp; /* the response in flight (referenced by the last out) */
    bool close_after;   /* it says Connection: close */
};

static const char *const text_type = "text/plain; version=0.0.4; charset=utf-8";
static const char *const json_type = "application/json";

/* The whole response: head and (unless HEAD) body.  False if out of memory. */
static bool respond(struct metrics_session *ms, int status, const char *type,
                    const struct strbuf *body, bool head_only, bool keep, const char *extra)
{
    char head[512];
    size_t hlen = http_response_head(head, sizeof(head), status, type, body->len, keep, extra);

    strbuf_free(&ms->resp);
    ms->close_after = !keep;
    strbuf_add(&ms->resp, head, hlen);
    if (!head_only && body->len > 0)
        strbuf_add(&ms->resp, body->p, body->len);
    return hlen > 0 && !ms->resp.failed;
}

static bool respond_error(struct metrics_session *ms, int status, bool head_only, bool keep,
                          const char *extra)
{
    struct strbuf body;
    bool ok;

    strbuf_init(&body, 256);
    strbuf_printf(&body, "%d %s\n", status, http_reason(status));
    ok = respond(ms, status, "text/plain; charset=utf-8", &body, head_only, keep, extra);
    strbuf_free(&body);
    return ok;
}

/* The answer to a complete request.  False if out of memory. */
static bool route(struct metrics_session *ms, struct metrics *m, const struct http_request *req)
{
    bool head_only = req->method == HTTP_HEAD, ok;
    struct strbuf body;
    const char *type;

    if (req->method != HTTP_GET && req->method != HTTP_HEAD)
        return respond_error(ms, 405, false, req->keep_alive, "Allow: GET, HEAD\r\n");
    strbuf_init(&body, RESPONSE_MAX);
    if (strcmp(req->path, "/metrics") == 0 && m != NULL) {
        metrics_render_text(m, &body);
        type = text_type;
    } else if (strcmp(req->path, "/status") == 0 && m != NULL) {
        metrics_render_status(m, now_ms(), &body);
        type = json_type;
    } else {
        strbuf_free(&body);
        return respond_error(ms, 404, head_only, req->keep_alive, NULL);
    }
    ok = !body.failed && respond(ms, 200, type, &body, head_only, req->keep_alive, NULL);
    strbuf_free(&body);
    return ok || respond_error(ms, 500, head_only, false, NULL);
}

size_t metrics_input(struct builtin_session *s, const char *p, size_t n, struct out *o)
{
    struct metrics_session *ms = s->st.http;
    size_t used;

    if (ms == NULL) {
        if ((ms = calloc(1, sizeof(*ms))) == NULL)
            return 0;
        http_parser_init(&ms->parser);
        strbuf_init(&ms->resp, RESPONSE_MAX + 1024);
        s->st.http = ms;
    }
    strbuf_free(&ms->resp); /* the last response is out, or in the engine's own copy */
    used = http_feed(&ms->parser, p, n);
    switch (ms->parser.state) {
    case HTTP_MORE:
        return used;
    case HTTP_BAD:
        s->done = true;
        if (!respond_error(ms, ms->parser.status, false, false, NULL))
            return n;
        out_ref(o, ms->resp.p, ms->resp.len);
        return n; /* the rest is not read */
    case HTTP_READY:
        break;
    }
    if (!route(ms, s->metrics, &ms->parser.req)) {
        s->done = true;
        return n;
    }
    s->done = ms->close_after;
    out_ref(o, ms->resp.p, ms->resp.len);
    http_parser_init(&ms->parser);
    return used;
}

bool metrics_eof(struct builtin_session *s, struct out *o)
{
    (void)s, (void)o;
    return false; /* a request cut short gets no answer */
}

void metrics_release(struct builtin_session *s)
{
    struct metrics_session *ms = s->st.http;

    if (ms == NULL)
        return;
    strbuf_free(&ms->resp);
    free(ms);
    s->st.http = NULL;
}
