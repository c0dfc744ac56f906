/*
 * conf_parse: what the configuration readers share (conf.c walks an INI
 * file, conf_keys.c parses each key, conf_inetd.c reads an inetd.conf).  Not
 * for the rest of the daemon.
 */
#ifndef USHER_CONF_PARSE_H
#define USHER_CONF_PARSE_H

#include "conf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONF_LISTEN_MAX 64  /* addresses per service */
#define CONF_KEYS_MAX   128 /* keys a section may hold (table size bound) */

/* Error text, growing; at most CONF_ERRORS_MAX lines. */
struct conf_errs {
    char *text;
    size_t len;
    unsigned count;
};

struct parser {
    const char *file;
    int line;
    struct conf *conf;
    struct svc_conf *svc;    /* current service section, or NULL */
    bool in_section;         /* inside [global] or a service */
    bool skip_section;       /* a bad header: ignore its keys */
    int global_line;         /* of the [global] header, once seen */
    int seen[CONF_KEYS_MAX]; /* line each key was set on in this section */
    struct conf_errs *errs;
    struct conf_errs *warns; /* warnings, kept with a configuration that loads; NULL: dropped */
    char from[512];          /* a "# from WHERE" comment line (as -P writes them): WHERE */
    int from_line;           /* its line, 0 if none */
};

enum conf_key_scope { IN_GLOBAL, IN_SERVICE };

/* What a key's value is: every kind but text is a number checked against a range. */
enum conf_key_kind {
    KEY_TEXT,     /* names, paths, words; listen's ports are addr_parse's */
    KEY_COUNT,    /* a whole number (model: prefork:N) */
    KEY_DURATION, /* ms, s, m, h: at most 365 days */
    KEY_SIZE,     /* K, M, G: below 2^63 */
    KEY_OCTAL,    /* a file mode */
    KEY_RATE,     /* N/s, N/m, N/h */
    KEY_ID,       /* a user or group name, or a numeric id */
};

/* One entry of the key table (conf_keys.c). */
struct conf_key {
    const char *name;
    enum conf_key_scope scope;
    bool list;      /* may be given more than once; values add up */
    bool exec_only; /* meaningless for a builtin (checked when the section ends) */
    enum conf_key_kind kind;
    void (*parse)(struct parser *p, char *value);
};

/* The i-th entry of the key table, or NULL past its end (for tests that go through every key). */
const struct conf_key *conf_key_at(size_t i);

/* Record an error at `line` of the file being read. */
void conf_error(struct parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define CONF_ERR(p, ...) conf_error((p), (p)->line, __VA_ARGS__)

/* Record a warning at `line` ("FILE:LINE: warning: ..."); the load goes on. */
void conf_warning(struct parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A new service section called `name`, with its defaults; NULL (error noted) on failure. */
struct svc_conf *conf_add_service(struct parser *p, const char *name);

/* Checks that need the whole of a service; called at the end of its section. */
void conf_finish_service(struct parser *p, struct svc_conf *svc);

/* Set `key` of the current section (service or [global]) from `value`. */
void conf_set_key(struct parser *p, const char *key, char *value);

/* Add the addresses `text` resolves to as listeners of the current service. */
void conf_add_listen(struct parser *p, const char *text, bool optional);

/* The line `name` was set on in the current service section, or 0. */
int conf_seen_line(const struct parser *p, const char *name);

/* The tls_* keys (conf_tls.c). */
void conf_key_tls_cert(struct parser *p, char *value);
void conf_key_tls_key(struct parser *p, char *value);
void conf_key_tls_client_ca(struct parser *p, char *value);
void conf_key_tls_verify(struct parser *p, char *value);
void conf_key_tls_min(struct parser *p, char *value);
void conf_key_tls_ciphers(struct parser *p, char *value);
void conf_key_tls_ciphersuites(struct parser *p, char *value);
void conf_key_tls_alpn(struct parser *p, char *value);
void conf_key_tls_handshake_timeout(struct parser *p, char *value);

/* The keys of a forward service (conf_forward.c). */
void conf_key_forward(struct parser *p, char *value);
void conf_key_forward_proxy_protocol(struct parser *p, char *value);
void conf_key_connect_timeout(struct parser *p, char *value);

/*
 * Checks of a forward service as a whole, at the end of its section.
 * Returns whether the section is one (it has forward keys).
 */
bool conf_finish_forward(struct parser *p, struct svc_conf *svc);

void conf_free_forward(struct forward_conf *fc);

/* The PROXY protocol keys (conf_forward.c), and their checks at the end of the section. */
void conf_key_proxy_protocol(struct parser *p, char *value);
void conf_key_proxy_from(struct parser *p, char *value);
void conf_key_proxy_timeout(struct parser *p, char *value);
void conf_finish_proxy(struct parser *p, struct svc_conf *svc);

/* Add the address prefixes of `value` (a list) to *list, *n of them so far. */
void conf_add_prefixes(struct parser *p, const char *key, char *value, struct addr_prefix **list,
                       size_t *n);

/* The current service has a tls:// listener: it has TLS settings. */
void conf_tls_listener(struct parser *p);

/* Checks of a service's TLS as a whole, at the end of its section. */
void conf_finish_tls(struct parser *p, struct svc_conf *svc);

/* Free a service's TLS settings (NULL: nothing). */
void conf_free_tls(struct tls_conf *tc);

/* Free what a service section holds (not the section itself). */
void conf_free_service(struct svc_conf *svc);

/* Read the inetd.conf `path` into p->conf (see conf_inetd.c). */
void conf_read_inetd(struct parser *p, const char *path);

/* Read the xinetd.conf `path`, with its includes, into p->conf (see conf_xinetd.c). */
void conf_read_xinetd(struct parser *p, const char *path);

/* The banner keys (conf_banner.c), and their checks at the end of the section. */
void conf_key_banner(struct parser *p, char *value);
void conf_key_banner_success(struct parser *p, char *value);
void conf_key_banner_fail(struct parser *p, char *value);
void conf_finish_banners(struct parser *p, struct svc_conf *svc);

/* A name the configuration keeps for as long as it lives (a file's, for FILE:LINE); NULL if out of
 * memory. */
const char *conf_keep_name(struct parser *p, const char *name);

/*
 * A whole file into memory: a regular file of at most 4 MiB, valid UTF-8
 * without NUL, a leading byte order mark dropped; NUL-terminated.  NULL
 * with the errors noted.
 */
char *conf_read_file(struct parser *p, const char *path, size_t *len);

#endif
