/*
 * conf_forward: the keys of a forward service (forward, connect_timeout,
 * forward_proxy_protocol) and its checks as a whole.  The backends are
 * resolved here, as listen addresses are, so that a connection needs no
 * lookup.
 */
#include "conf_parse.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONNECT_TIMEOUT_MS (5 * 1000)

static struct forward_conf *forward_of(struct parser *p)
{
    struct svc_conf *svc = p->svc;

    if (svc->forward == NULL) {
        if ((svc->forward = calloc(1, sizeof(*svc->forward))) == NULL) {
            CONF_ERR(p, "out of memory");
            return NULL;
        }
        svc->forward->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    }
    return svc->forward;
}

/* One backend: tcp://HOST:PORT (each address it resolves to, in order) or unix:PATH. */
static void add_backend(struct parser *p, struct forward_conf *fc, const char *text)
{
    struct addr_spec spec;
    struct addr addrs[FORWARD_BACKENDS_MAX];
    char err[256];
    int n;

    if (addr_parse(text, &spec, err, sizeof(err)) < 0) {
        CONF_ERR(p, "forward: %s", err);
        return;
    }
    if (addr_kind_socktype(spec.kind) != SOCK_STREAM || spec.tls) {
        CONF_ERR(p, "forward: %s: a backend is tcp://HOST:PORT or unix:PATH", text);
        return;
    }
    if (spec.kind == ADDR_UNIX && spec.path[0] != '/' && spec.path[0] != '@') {
        CONF_ERR(p, "forward: %s: a socket path must be absolute (or @name)", text);
        return;
    }
    n = addr_resolve(&spec, false, addrs, ARRAY_LEN(addrs), err, sizeof(err));
    if (n < 0) {
        CONF_ERR(p, "forward: %s", err);
        return;
    }
    for (int i = 0; i < n; i++) {
        if (fc->n == FORWARD_BACKENDS_MAX) {
            CONF_ERR(p, "forward: more than %d backend addresses", FORWARD_BACKENDS_MAX);
            return;
        }
        fc->backend[fc->n] = addrs[i];
        if (addr_format(addrs[i].kind, (const struct sockaddr *)&addrs[i].ss, addrs[i].len,
                        fc->text[fc->n], sizeof(fc->text[fc->n])) < 0)
            str_copy(fc->text[fc->n], sizeof(fc->text[fc->n]), text);
        fc->n++;
    }
}

void conf_key_forward(struct parser *p, char *value)
{
    struct forward_conf *fc = forward_of(p);
    char *save = NULL;

    if (fc == NULL)
        return;
    for (char *tok = strtok_r(value, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save))
        add_backend(p, fc, tok);
}

void conf_key_forward_proxy_protocol(struct parser *p, char *value)
{
    struct forward_conf *fc = forward_of(p);

    if (fc == NULL)
        return;
    if (strcmp(value, "no") == 0)
        fc->proxy_version = 0;
    else if (strcmp(value, "v1") == 0)
        fc->proxy_version = 1;
    else if (strcmp(value, "v2") == 0)
        fc->proxy_version = 2;
    else
        CONF_ERR(p, "forward_proxy_protocol: '%s' is not no, v1 or v2", value);
}

void conf_key_connect_timeout(struct parser *p, char *value)
{
    struct forward_conf *fc = forward_of(p);
    int64_t ms;

    if (fc == NULL)
        return;
    if (parse_duration_ms(value, &ms) < 0 || ms < 1 || ms > 3600 * 1000) {
        CONF_ERR(p, "connect_timeout: '%s' is not a duration from 1ms to 1h", value);
        return;
    }
    fc->connect_timeout_ms = ms;
}

bool conf_finish_forward(struct parser *p, struct svc_conf *svc)
{
    const struct forward_conf *fc = svc->forward;

    if (fc == NULL)
        return false;
    if (fc->n == 0) {
        if (!conf_seen_line(p, "forward"))
            conf_error(p, svc->line,
                       "[%s]: connect_timeout and forward_proxy_protocol without forward",
                       svc->name);
        return true;
    }
    for (size_t i = 0; i < svc->nlistens; i++)
        if (addr_kind_socktype(svc->listens[i].addr.kind) != SOCK_STREAM) {
            conf_error(p, svc->listens[i].line,
                       "listen: %s: forwarding relays streams (tcp://, tls://, unix:)",
                       svc->listens[i].text);
            break;
        }
    return true;
}

void conf_free_forward(struct forward_conf *fc)
{
    free(fc);
}
