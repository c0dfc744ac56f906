/*
 * conf_tls: the tls_* keys of a service and the checks its TLS must pass
 * as a whole.  Only names and settings are parsed here: the certificates
 * and keys are read by the TLS engine (tls.c), at start and on every
 * reload, so that a reload sees the files as they are then.
 */
#include "conf_parse.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_HANDSHAKE_TIMEOUT_MS (10 * 1000)
#define ALPN_MAX                     1024 /* bytes of the ALPN list, wire format */

/* The service's TLS settings, made with their defaults on first need. */
static struct tls_conf *tls_of(struct parser *p)
{
    struct svc_conf *svc = p->svc;

    if (svc->tls == NULL) {
        svc->tls = calloc(1, sizeof(*svc->tls));
        if (svc->tls == NULL) {
            CONF_ERR(p, "out of memory");
            return NULL;
        }
        svc->tls->file = p->file;
        svc->tls->min_version = 12;
        svc->tls->handshake_timeout_ms = DEFAULT_HANDSHAKE_TIMEOUT_MS;
    }
    return svc->tls;
}

void conf_tls_listener(struct parser *p)
{
    tls_of(p);
}

/* Relative names would change meaning with the working directory (usherd runs in /). */
static bool set_file(struct parser *p, const char *key, const char *value, struct tls_file *f)
{
    if (value[0] != '/') {
        CONF_ERR(p, "%s: '%s' must be an absolute path", key, value);
        return false;
    }
    if ((f->path = strdup(value)) == NULL) {
        CONF_ERR(p, "out of memory");
        return false;
    }
    f->line = p->line;
    return true;
}

static void add_files(struct parser *p, const char *key, char *value, struct tls_file *files,
                      size_t *n)
{
    char *save = NULL;

    for (char *tok = strtok_r(value, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
        if (*n == TLS_PAIRS_MAX) {
            CONF_ERR(p, "%s: more than %d in one service", key, TLS_PAIRS_MAX);
            return;
        }
        if (!set_file(p, key, tok, &files[*n]))
            return;
        (*n)++;
    }
}

void conf_key_tls_cert(struct parser *p, char *value)
{
    struct tls_conf *tc = tls_of(p);

    if (tc != NULL)
        add_files(p, "tls_cert", value, tc->cert, &tc->ncert);
}

void conf_key_tls_key(struct parser *p, char *value)
{
    struct tls_conf *tc = tls_of(p);

    if (tc != NULL)
        add_files(p, "tls_key", value, tc->key, &tc->nkey);
}

void conf_key_tls_client_ca(struct parser *p, char *value)
{
    struct tls_conf *tc = tls_of(p);

    if (tc != NULL)
        set_file(p, "tls_client_ca", value, &tc->client_ca);
}

void conf_key_tls_verify(struct parser *p, char *value)
{
    struct tls_conf *tc = tls_of(p);

    if (tc == NULL)
        return;
    if (strcmp(value, "none") == 0)
        tc->verify = TLS_VERIFY_NONE;
    else if (strcmp(value, "optional") == 0)
        tc->verify = TLS_VERIFY_OPTIONAL;
    else if (strcmp(value, "require") == 0)
        tc->verify = TLS_VERIFY_REQUIRE;
    else
        CONF_ERR(p, "tls_verify: '%s' is not none, optional or require", value);
}

void conf_key_tls_min(struct parser *p, char *value)
{
    struct tls_conf *tc = tls_of(p);

    if (tc == NULL)
        return;
    if (strcmp(value, "1.2") == 0)
        tc->min_version = 12;
    else if (strcmp(value, "1.3") == 0)
        tc->min_version = 13;
    else
        CONF_ERR(p, "tls_min: '%s' is not 1.2 or 1.3 (older versions are not offered)", value);
}

static void set_text(struct parser *p, char *value, char **out, int *line)
{
    if ((*out = strdup(value)) == NULL)
        CONF_ERR(p, "out of memory");
    *line = p->line;
}

void conf_key_tls_ciphers(struct parser *p, char *value)
{
    struct tls_conf *tc = tls_of(p);

    if (tc != NULL)
        set_text(p, value, &tc->ciphers, &tc->ciphers_line);
}

void conf_key_tls_ciphersuites(struct parser *p, char *value)
{
    struct tls_conf *tc = tls_of(p);

    if (tc != NULL)
        set_text(p, value, &tc->ciphersuites, &tc->ciphersuites_line);
}

/* The protocols as OpenSSL and the wire want them: each name after its length byte. */
void conf_key_tls_alpn(struct parser *p, char *value)
{
    struct tls_conf *tc = tls_of(p);
    unsigned char wire[ALPN_MAX];
    size_t len = 0;
    char *save = NULL;

    if (tc == NULL)
        return;
    for (char *tok = strtok_r(value, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
        size_t n = strlen(tok);
        if (n > 255) {
            CONF_ERR(p, "tls_alpn: '%.32s...' is longer than 255 bytes", tok);
            return;
        }
        if (len + 1 + n > sizeof(wire)) {
            CONF_ERR(p, "tls_alpn: the list is longer than %d bytes", ALPN_MAX);
            return;
        }
        wire[len++] = (unsigned char)n;
        memcpy(wire + len, tok, n);
        len += n;
    }
    free(tc->alpn);
    if ((tc->alpn = malloc(len)) == NULL) {
        CONF_ERR(p, "out of memory");
        return;
    }
    memcpy(tc->alpn, wire, len);
    tc->alpn_len = len;
}

void conf_key_tls_handshake_timeout(struct parser *p, char *value)
{
    struct tls_conf *tc = tls_of(p);
    int64_t ms;

    if (tc == NULL)
        return;
    if (parse_duration_ms(value, &ms) < 0 || ms < 1 || ms > 3600 * 1000) {
        CONF_ERR(p, "tls_handshake_timeout: '%s' is not a duration from 1ms to 1h", value);
        return;
    }
    tc->handshake_timeout_ms = ms;
}

static bool has_tls_listener(const struct svc_conf *svc)
{
    for (size_t i = 0; i < svc->nlistens; i++)
        if (svc->listens[i].addr.tls)
            return true;
    return false;
}

static const struct conf_listen *first_tls_listener(const struct svc_conf *svc)
{
    for (size_t i = 0; i < svc->nlistens; i++)
        if (svc->listens[i].addr.tls)
            return &svc->listens[i];
    return NULL;
}

void conf_finish_tls(struct parser *p, struct svc_conf *svc)
{
    const struct tls_conf *tc = svc->tls;
    const struct conf_listen *l = first_tls_listener(svc);

    if (tc == NULL)
        return;
    if (!has_tls_listener(svc)) {
        if (svc->nlistens > 0)
            conf_error(p, svc->line, "[%s]: tls_* keys, but no tls:// listener", svc->name);
        return;
    }
    if (tc->ncert == 0 || tc->nkey == 0)
        conf_error(p, l->line, "listen: %s: a tls:// listener needs tls_cert and tls_key", l->text);
    else if (tc->ncert != tc->nkey)
        conf_error(p, tc->key[tc->nkey - 1].line,
                   "tls_key: %zu key(s) for %zu certificate(s); they pair by position", tc->nkey,
                   tc->ncert);
    if (tc->verify != TLS_VERIFY_NONE && tc->client_ca.path == NULL)
        conf_error(p, conf_seen_line(p, "tls_verify"),
                   "tls_verify: optional and require need tls_client_ca");
    if (svc->exec != NULL && svc->exec->wait)
        conf_error(p, conf_seen_line(p, "wait"),
                   "wait: a wait = yes program takes the listening socket itself; it cannot "
                   "have usherd's TLS (%s)",
                   l->text);
}

static void free_file(struct tls_file *f)
{
    free(f->path);
    f->path = NULL;
}

void conf_free_tls(struct tls_conf *tc)
{
    if (tc == NULL)
        return;
    for (size_t i = 0; i < tc->ncert; i++)
        free_file(&tc->cert[i]);
    for (size_t i = 0; i < tc->nkey; i++)
        free_file(&tc->key[i]);
    free_file(&tc->client_ca);
    free(tc->ciphers);
    free(tc->ciphersuites);
    free(tc->alpn);
    free(tc);
}
