/*
 * conf_forward: the keys of services behind and in front of load
 * balancers: a forward service's (forward, connect_timeout,
 * forward_proxy_protocol) and the PROXY protocol's (proxy_protocol,
 * proxy_from, proxy_timeout), and their checks as a whole.  The backends are
 * resolved here, as listen addresses are, so that a connection needs no
 * lookup.
 */
#include "conf_parse.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONNECT_TIMEOUT_MS (5 * 1000)
#define DEFAULT_PROXY_TIMEOUT_MS   (5 * 1000)

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

/* PROXY protocol in */

void conf_key_proxy_protocol(struct parser *p, char *value)
{
    static const char *const modes[] = {"no", "v1", "v2", "any"};

    for (int i = 0; i < (int)ARRAY_LEN(modes); i++) {
        if (strcmp(value, modes[i]) == 0) {
            p->svc->proxy_protocol = i;
            return;
        }
    }
    CONF_ERR(p, "proxy_protocol: '%s' is not no, v1, v2 or any", value);
}

void conf_key_proxy_from(struct parser *p, char *value)
{
    conf_add_prefixes(p, "proxy_from", value, &p->svc->proxy_from, &p->svc->nproxy_from);
}

void conf_key_proxy_timeout(struct parser *p, char *value)
{
    int64_t ms;

    if (parse_duration_ms(value, &ms) < 0 || ms < 1 || ms > 3600 * 1000) {
        CONF_ERR(p, "proxy_timeout: '%s' is not a duration from 1ms to 1h", value);
        return;
    }
    p->svc->proxy_timeout_ms = ms;
}

void conf_finish_proxy(struct parser *p, struct svc_conf *svc)
{
    if (svc->proxy_timeout_ms == 0)
        svc->proxy_timeout_ms = DEFAULT_PROXY_TIMEOUT_MS;
    if (svc->proxy_protocol == 0) {
        if (svc->nproxy_from > 0 || conf_seen_line(p, "proxy_timeout"))
            conf_error(p,
                       conf_seen_line(p, "proxy_from") ? conf_seen_line(p, "proxy_from")
                                                       : conf_seen_line(p, "proxy_timeout"),
                       "proxy_from and proxy_timeout need proxy_protocol");
        return;
    }
    for (size_t i = 0; i < svc->nlistens; i++) {
        const struct conf_listen *l = &svc->listens[i];
        if (addr_kind_socktype(l->addr.kind) != SOCK_STREAM) {
            conf_error(p, l->line, "listen: %s: the PROXY protocol is for stream listeners",
                       l->text);
            return;
        }
        /* On a Unix socket the file's permissions say who may connect. */
        if (l->addr.kind == ADDR_TCP && svc->nproxy_from == 0) {
            conf_error(p, conf_seen_line(p, "proxy_protocol"),
                       "proxy_protocol: %s: a TCP listener needs proxy_from, the balancers "
                       "trusted to name the client",
                       l->text);
            return;
        }
    }
    if (svc->exec != NULL && svc->exec->wait)
        conf_error(p, conf_seen_line(p, "proxy_protocol"),
                   "proxy_protocol: a wait = yes program takes the listening socket itself");
}
