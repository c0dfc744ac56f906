/*
 * conf: configuration parser and validator (see conf.h for the format).
 *
 * The parser walks the text line by line.  Keys are looked up in one table
 * that says where each may appear and which function parses its value; a
 * key given twice in a section is an error unless it is a list.  Each error
 * is recorded with its line and parsing goes on, so that one run reports
 * every mistake; the result is NULL if there was any.
 */
#include "conf.h"

#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#define CONF_FILE_MAX   (4 << 20)
#define CONF_ERRORS_MAX 50
#define CONF_LISTEN_MAX 64 /* addresses per service */

/* Defaults, applied before a section's keys. */
#define DEFAULT_SHUTDOWN_TIMEOUT_MS (10 * 1000)
#define DEFAULT_MAX_CONNS           10000
#define DEFAULT_UMASK               022
#define DEFAULT_IDLE_TIMEOUT_MS     (300 * 1000)
#define DEFAULT_BACKLOG             511
#define DEFAULT_KEEPALIVE_MS        (300 * 1000)

const char conf_default_text[] =
    "# usherd's embedded default: every built-in service on loopback only.\n"
    "[echo]\n"
    "listen = tcp://127.0.0.1:10007 tcp://[::1]:10007 udp://127.0.0.1:10007 udp://[::1]:10007\n"
    "builtin = echo\n"
    "[discard]\n"
    "listen = tcp://127.0.0.1:10009 tcp://[::1]:10009 udp://127.0.0.1:10009 udp://[::1]:10009\n"
    "builtin = discard\n"
    "[daytime]\n"
    "listen = tcp://127.0.0.1:10013 tcp://[::1]:10013 udp://127.0.0.1:10013 udp://[::1]:10013\n"
    "builtin = daytime\n"
    "[chargen]\n"
    "listen = tcp://127.0.0.1:10019 tcp://[::1]:10019 udp://127.0.0.1:10019 udp://[::1]:10019\n"
    "builtin = chargen\n"
    "[time]\n"
    "listen = tcp://127.0.0.1:10037 tcp://[::1]:10037 udp://127.0.0.1:10037 udp://[::1]:10037\n"
    "builtin = time\n"
    "[sum]\n"
    "listen = tcp://127.0.0.1:10111 tcp://[::1]:10111 udp://127.0.0.1:10111 udp://[::1]:10111\n"
    "builtin = sum\n"
    "[sumbin]\n"
    "listen = tcp://127.0.0.1:10112 tcp://[::1]:10112 udp://127.0.0.1:10112 udp://[::1]:10112\n"
    "builtin = sumbin\n";

static void conf_free(struct conf *conf);

static const char *const builtin_names[BUILTIN_COUNT] = {
    [BUILTIN_ECHO] = "echo",       [BUILTIN_DISCARD] = "discard", [BUILTIN_DAYTIME] = "daytime",
    [BUILTIN_CHARGEN] = "chargen", [BUILTIN_TIME] = "time",       [BUILTIN_SUM] = "sum",
    [BUILTIN_SUMBIN] = "sumbin",
};

const char *conf_builtin_name(enum builtin_id id)
{
    return id >= 0 && id < BUILTIN_COUNT ? builtin_names[id] : NULL;
}

enum builtin_id conf_builtin_lookup(const char *name)
{
    for (int i = 0; i < BUILTIN_COUNT; i++)
        if (strcmp(name, builtin_names[i]) == 0)
            return (enum builtin_id)i;
    return BUILTIN_NONE;
}

/* Error text, growing; at most CONF_ERRORS_MAX lines. */
struct errs {
    char *text;
    size_t len;
    unsigned count;
};

struct parser {
    const char *file;
    int line;
    struct conf *conf;
    struct svc_conf *svc; /* current service section, or NULL */
    bool in_section;      /* inside [global] or a service */
    bool skip_section;    /* a bad header: ignore its keys */
    int global_line;      /* of the [global] header, once seen */
    int seen[32];         /* line each key was set on in this section */
    struct errs errs;
};

static void add_error(struct parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_error(struct parser *p, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    int n;
    char *grown;

    if (++p->errs.count > CONF_ERRORS_MAX)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (p->errs.count == CONF_ERRORS_MAX)
        snprintf(msg, sizeof(msg), "too many errors, giving up");
    n = snprintf(NULL, 0, "%s:%d: %s\n", p->file, line, msg);
    grown = realloc(p->errs.text, p->errs.len + (size_t)n + 1);
    if (grown == NULL)
        return;
    p->errs.text = grown;
    snprintf(grown + p->errs.len, (size_t)n + 1, "%s:%d: %s\n", p->file, line, msg);
    p->errs.len += (size_t)n;
}

#define ERR(p, ...) add_error((p), (p)->line, __VA_ARGS__)

/* Split a list value on blanks and commas; returns the count (<= max). */
static size_t split_list(char *value, char **items, size_t max, bool *overflow)
{
    size_t n = 0;
    char *save = NULL;

    *overflow = false;
    for (char *tok = strtok_r(value, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
        if (n == max) {
            *overflow = true;
            break;
        }
        items[n++] = tok;
    }
    return n;
}

static bool parse_duration_value(struct parser *p, const char *key, const char *value, int64_t *out)
{
    if (parse_duration_ms(value, out) == 0)
        return true;
    ERR(p, "%s: '%s' is not a duration (e.g. 30s, 500ms, 5m, 1h)", key, value);
    return false;
}

static bool parse_count(struct parser *p, const char *key, const char *value, int64_t min,
                        int64_t max, int64_t *out)
{
    if (parse_i64(value, min, max, out) == 0)
        return true;
    ERR(p, "%s: '%s' is not a whole number from %lld to %lld", key, value, (long long)min,
        (long long)max);
    return false;
}

/* Key handlers.  `value` is trimmed and non-empty; they may modify it. */

static void key_log(struct parser *p, char *value)
{
    char err[256];

    if (log_target_parse(value, &p->conf->log, err, sizeof(err)) < 0) {
        ERR(p, "log: %s", err);
        return;
    }
    p->conf->log_set = true;
}

static void key_log_facility(struct parser *p, char *value)
{
    int facility = log_facility_parse(value);

    if (facility < 0) {
        ERR(p, "log_facility: '%s' is not a syslog facility (daemon, user, local0-7, ...)", value);
        return;
    }
    p->conf->log_facility = facility;
}

static void key_pidfile(struct parser *p, char *value)
{
    if (value[0] != '/') {
        ERR(p, "pidfile: '%s' must be an absolute path", value);
        return;
    }
    if (str_copy(p->conf->pidfile, sizeof(p->conf->pidfile), value) < 0)
        ERR(p, "pidfile: path longer than %zu bytes", sizeof(p->conf->pidfile) - 1);
}

static void key_umask(struct parser *p, char *value)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(value, &end, 8);
    if (*end != '\0' || errno != 0 || v < 0 || v > 0777) {
        ERR(p, "umask: '%s' is not an octal mask from 000 to 777", value);
        return;
    }
    p->conf->umask = (int)v;
}

static void key_shutdown_timeout(struct parser *p, char *value)
{
    parse_duration_value(p, "shutdown_timeout", value, &p->conf->shutdown_timeout_ms);
}

static void key_global_max_conns(struct parser *p, char *value)
{
    int64_t v;

    if (parse_count(p, "max_conns", value, 0, 10000000, &v))
        p->conf->max_conns = (unsigned)v;
}

static void add_listen(struct parser *p, const char *text, bool optional)
{
    struct svc_conf *svc = p->svc;
    struct addr_spec spec;
    struct addr addrs[16];
    char err[256];
    int n;

    if (addr_parse(text, &spec, err, sizeof(err)) < 0) {
        ERR(p, "listen: %s", err);
        return;
    }
    /* Relative paths would change meaning with the working directory. */
    if (!addr_kind_is_inet(spec.kind) && spec.path[0] != '/' && spec.path[0] != '@') {
        ERR(p, "listen: %s: a socket path must be absolute (or @name for an abstract socket)",
            text);
        return;
    }
    n = addr_resolve(&spec, true, addrs, ARRAY_LEN(addrs), err, sizeof(err));
    if (n < 0) {
        ERR(p, "listen: %s", err);
        return;
    }
    if (svc->nlistens + (size_t)n > CONF_LISTEN_MAX) {
        ERR(p, "listen: more than %d addresses in one service", CONF_LISTEN_MAX);
        return;
    }
    for (int i = 0; i < n; i++) {
        struct conf_listen *l = &svc->listens[svc->nlistens++];
        l->addr = addrs[i];
        l->line = p->line;
        l->optional = optional && addrs[i].ss.ss_family == AF_INET6;
        str_copy(l->text, sizeof(l->text), text);
    }
}

static void key_listen(struct parser *p, char *value)
{
    char *items[CONF_LISTEN_MAX];
    bool overflow;
    size_t n = split_list(value, items, ARRAY_LEN(items), &overflow);

    if (overflow) {
        ERR(p, "listen: more than %d addresses in one service", CONF_LISTEN_MAX);
        return;
    }
    if (p->svc->listens == NULL) {
        p->svc->listens = calloc(CONF_LISTEN_MAX, sizeof(*p->svc->listens));
        if (p->svc->listens == NULL) {
            ERR(p, "listen: out of memory");
            return;
        }
    }
    for (size_t i = 0; i < n; i++)
        add_listen(p, items[i], p->conf->embedded);
}

static void key_builtin(struct parser *p, char *value)
{
    enum builtin_id id = conf_builtin_lookup(value);

    if (id == BUILTIN_NONE) {
        ERR(p,
            "builtin: unknown service '%s' (echo, discard, daytime, chargen, time, sum, "
            "sumbin)",
            value);
        return;
    }
    p->svc->builtin = id;
}

static void key_model(struct parser *p, char *value)
{
    if (strcmp(value, "event") == 0)
        p->svc->model = MODEL_EVENT;
    else
        ERR(p, "model: '%s' is not supported by this build (event)", value);
}

static void key_idle_timeout(struct parser *p, char *value)
{
    parse_duration_value(p, "idle_timeout", value, &p->svc->idle_timeout_ms);
}

static void key_backlog(struct parser *p, char *value)
{
    int64_t v;

    if (parse_count(p, "backlog", value, 1, 65535, &v))
        p->svc->backlog = (int)v;
}

static void key_keepalive(struct parser *p, char *value)
{
    if (strcmp(value, "yes") == 0)
        p->svc->keepalive_ms = DEFAULT_KEEPALIVE_MS;
    else if (strcmp(value, "no") == 0)
        p->svc->keepalive_ms = 0;
    else if (parse_duration_ms(value, &p->svc->keepalive_ms) < 0 || p->svc->keepalive_ms < 1000 ||
             p->svc->keepalive_ms > 32767 * 1000LL)
        ERR(p, "keepalive: '%s' is not yes, no, or a duration from 1s to 32767s", value);
}

static void key_mode(struct parser *p, char *value)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(value, &end, 8);
    if (*value == '\0' || *end != '\0' || errno != 0 || v < 0 || v > 0777) {
        ERR(p, "mode: '%s' is not an octal file mode from 0000 to 0777", value);
        return;
    }
    p->svc->sock_mode = (int)v;
}

static void key_owner(struct parser *p, char *value)
{
    struct passwd *pw = getpwnam(value);
    int64_t id;

    if (pw != NULL)
        p->svc->sock_owner = pw->pw_uid;
    else if (parse_i64(value, 0, UINT32_MAX - 1, &id) == 0)
        p->svc->sock_owner = (uid_t)id;
    else {
        ERR(p, "owner: no such user '%s'", value);
        return;
    }
    p->svc->sock_owner_set = true;
}

static void key_group(struct parser *p, char *value)
{
    struct group *gr = getgrnam(value);
    int64_t id;

    if (gr != NULL)
        p->svc->sock_group = gr->gr_gid;
    else if (parse_i64(value, 0, UINT32_MAX - 1, &id) == 0)
        p->svc->sock_group = (gid_t)id;
    else {
        ERR(p, "group: no such group '%s'", value);
        return;
    }
    p->svc->sock_group_set = true;
}

enum key_scope { IN_GLOBAL, IN_SERVICE };

static const struct key {
    const char *name;
    enum key_scope scope;
    bool list; /* may be given more than once; values add up */
    void (*parse)(struct parser *p, char *value);
} keys[] = {
    {"log", IN_GLOBAL, false, key_log},
    {"log_facility", IN_GLOBAL, false, key_log_facility},
    {"pidfile", IN_GLOBAL, false, key_pidfile},
    {"umask", IN_GLOBAL, false, key_umask},
    {"shutdown_timeout", IN_GLOBAL, false, key_shutdown_timeout},
    {"max_conns", IN_GLOBAL, false, key_global_max_conns},
    {"listen", IN_SERVICE, true, key_listen},
    {"builtin", IN_SERVICE, false, key_builtin},
    {"model", IN_SERVICE, false, key_model},
    {"idle_timeout", IN_SERVICE, false, key_idle_timeout},
    {"backlog", IN_SERVICE, false, key_backlog},
    {"keepalive", IN_SERVICE, false, key_keepalive},
    {"mode", IN_SERVICE, false, key_mode},
    {"owner", IN_SERVICE, false, key_owner},
    {"group", IN_SERVICE, false, key_group},
};

static void set_key(struct parser *p, const char *name, char *value)
{
    bool in_service = p->svc != NULL;

    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        const struct key *k = &keys[i];
        if (strcmp(k->name, name) != 0 || (k->scope == IN_SERVICE) != in_service)
            continue;
        if (p->seen[i] != 0 && !k->list) {
            ERR(p, "%s: set twice in this section (first on line %d)", name, p->seen[i]);
            return;
        }
        p->seen[i] = p->line;
        if (*value == '\0') {
            ERR(p, "%s: empty value", name);
            return;
        }
        k->parse(p, value);
        return;
    }
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        if (strcmp(keys[i].name, name) == 0) {
            ERR(p, "'%s' belongs in %s", name,
                keys[i].scope == IN_GLOBAL ? "[global]" : "a service section");
            return;
        }
    }
    ERR(p, "unknown key '%s'", name);
}

static bool seen_key(const struct parser *p, const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(keys); i++)
        if (strcmp(keys[i].name, name) == 0 && keys[i].scope == IN_SERVICE)
            return p->seen[i] != 0;
    return false;
}

static void service_defaults(struct svc_conf *svc)
{
    svc->builtin = BUILTIN_NONE;
    svc->model = MODEL_EVENT;
    svc->idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
    svc->backlog = DEFAULT_BACKLOG;
    svc->keepalive_ms = DEFAULT_KEEPALIVE_MS;
    svc->sock_mode = -1;
}

static bool has_unix_listener(const struct svc_conf *svc)
{
    for (size_t i = 0; i < svc->nlistens; i++)
        if (!addr_kind_is_inet(svc->listens[i].addr.kind))
            return true;
    return false;
}

/* Checks that need the whole section. */
static void finish_service(struct parser *p)
{
    struct svc_conf *svc = p->svc;

    if (svc == NULL)
        return;
    if (svc->nlistens == 0 && !seen_key(p, "listen"))
        add_error(p, svc->line, "[%s]: no listen addresses", svc->name);
    if (svc->builtin == BUILTIN_NONE && !seen_key(p, "builtin"))
        add_error(p, svc->line,
                  "[%s]: no builtin (echo, discard, daytime, chargen, time, sum, "
                  "sumbin)",
                  svc->name);
    if ((svc->sock_mode >= 0 || svc->sock_owner_set || svc->sock_group_set) &&
        !has_unix_listener(svc))
        add_error(p, svc->line,
                  "[%s]: mode, owner and group apply to unix: and unixgram: "
                  "listeners, and this service has none",
                  svc->name);
    p->svc = NULL;
}

static bool valid_section_name(const char *name)
{
    if (*name == '\0')
        return false;
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.')
            return false;
    return true;
}

static void start_section(struct parser *p, char *line)
{
    char *close = strchr(line, ']');
    char *name = line + 1;
    struct svc_conf *grown;

    finish_service(p);
    memset(p->seen, 0, sizeof(p->seen));
    p->in_section = true;
    p->skip_section = true;
    if (close == NULL || close[1] != '\0') {
        ERR(p, "expected [NAME]");
        return;
    }
    *close = '\0';
    if (strcmp(name, "global") == 0) {
        if (p->global_line != 0) {
            ERR(p, "[global]: defined twice (first on line %d)", p->global_line);
            return;
        }
        p->global_line = p->line;
        p->skip_section = false;
        return;
    }
    if (!valid_section_name(name) || strlen(name) >= sizeof(p->svc->name)) {
        ERR(p, "[%s]: a service name is 1-63 letters, digits, '-', '_' or '.'", name);
        return;
    }
    if (conf_find(p->conf, name) != NULL) {
        ERR(p, "[%s]: defined twice (first on line %d)", name, conf_find(p->conf, name)->line);
        return;
    }
    p->skip_section = false;
    grown = realloc(p->conf->svcs, (p->conf->nsvcs + 1) * sizeof(*grown));
    if (grown == NULL) {
        ERR(p, "out of memory");
        return;
    }
    p->conf->svcs = grown;
    p->svc = &grown[p->conf->nsvcs++];
    memset(p->svc, 0, sizeof(*p->svc));
    service_defaults(p->svc);
    str_copy(p->svc->name, sizeof(p->svc->name), name);
    p->svc->line = p->line;
}

static char *trim(char *s)
{
    char *end = s + strlen(s);

    while (isspace((unsigned char)*s))
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/*
 * Cut a comment off the end of a line: '#' or ';' after a blank, outside
 * quotes (values may quote words, as exec lines do).
 */
static void strip_comment(char *line)
{
    char quote = 0;

    for (char *c = line; *c; c++) {
        if (quote) {
            if (*c == '\\' && quote == '"' && c[1] != '\0')
                c++;
            else if (*c == quote)
                quote = 0;
        } else if (*c == '\\' && c[1] != '\0') {
            c++;
        } else if (*c == '"' || *c == '\'') {
            quote = *c;
        } else if ((*c == '#' || *c == ';') && (c == line || isblank((unsigned char)c[-1]))) {
            *c = '\0';
            return;
        }
    }
}

static void parse_line(struct parser *p, char *raw)
{
    char *line, *eq, *key;

    strip_comment(raw);
    line = trim(raw);
    if (*line == '\0')
        return;
    if (*line == '[') {
        start_section(p, line);
        return;
    }
    eq = strchr(line, '=');
    if (eq == NULL) {
        ERR(p, "expected 'key = value' or '[section]'");
        return;
    }
    *eq = '\0';
    key = trim(line);
    if (*key == '\0') {
        ERR(p, "missing key before '='");
        return;
    }
    if (!p->in_section) {
        ERR(p, "'%s' before any section: put it under [global] or a [service]", key);
        return;
    }
    if (p->skip_section)
        return;
    set_key(p, key, trim(eq + 1));
}

/* Rules across services. */
static void check_duplicate_listeners(struct parser *p)
{
    struct conf *c = p->conf;

    for (size_t i = 0; i < c->nsvcs; i++) {
        for (size_t j = 0; j < c->svcs[i].nlistens; j++) {
            const struct conf_listen *a = &c->svcs[i].listens[j];
            if (addr_kind_is_inet(a->addr.kind) && addr_port((struct sockaddr *)&a->addr.ss) == 0)
                continue;
            for (size_t k = i; k < c->nsvcs; k++) {
                for (size_t m = k == i ? j + 1 : 0; m < c->svcs[k].nlistens; m++) {
                    const struct conf_listen *b = &c->svcs[k].listens[m];
                    if (a->addr.kind != b->addr.kind || a->addr.len != b->addr.len ||
                        memcmp(&a->addr.ss, &b->addr.ss, a->addr.len) != 0)
                        continue;
                    add_error(p, b->line, "listen: %s is already used by [%s] on line %d", b->text,
                              c->svcs[i].name, a->line);
                }
            }
        }
    }
}

static struct conf *parse_text(const char *text, size_t len, const char *name, bool embedded,
                               char **errors)
{
    struct parser p = {.file = name};
    char *copy, *line, *next, unused[64];

    *errors = NULL;
    p.conf = calloc(1, sizeof(*p.conf));
    copy = malloc(len + 1);
    if (p.conf == NULL || copy == NULL || (p.conf->path = strdup(name)) == NULL) {
        free(copy);
        conf_free(p.conf);
        *errors = strdup("out of memory\n");
        return NULL;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    p.conf->embedded = embedded;
    p.conf->shutdown_timeout_ms = DEFAULT_SHUTDOWN_TIMEOUT_MS;
    p.conf->max_conns = DEFAULT_MAX_CONNS;
    p.conf->refs = 1;
    p.conf->log_facility = LOG_DAEMON;
    p.conf->umask = DEFAULT_UMASK;
    log_target_parse("stderr", &p.conf->log, unused, sizeof(unused));
    for (line = copy; line != NULL; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        p.line++;
        if (next == NULL && *line == '\0')
            break;
        parse_line(&p, line);
    }
    finish_service(&p);
    check_duplicate_listeners(&p);
    free(copy);
    if (p.errs.count > 0) {
        *errors = p.errs.text ? p.errs.text : strdup("out of memory\n");
        conf_free(p.conf);
        return NULL;
    }
    free(p.errs.text);
    return p.conf;
}

struct conf *conf_parse(const char *text, const char *name, char **errors)
{
    return parse_text(text, strlen(text), name, false, errors);
}

struct conf *conf_load_default(char **errors)
{
    return parse_text(conf_default_text, strlen(conf_default_text), CONF_DEFAULT_NAME, true,
                      errors);
}

static int errorf(char **errors, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int errorf(char **errors, const char *fmt, ...)
{
    va_list ap;
    char buf[512];

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    *errors = strdup(buf);
    return -1;
}

struct conf *conf_load(const char *path, char **errors)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *text;
    ssize_t n;
    struct conf *conf;

    *errors = NULL;
    if (fd < 0) {
        errorf(errors, "%s: unable to open: %s\n", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CONF_FILE_MAX) {
        errorf(errors, "%s: not a regular file of at most %d bytes\n", path, CONF_FILE_MAX);
        close(fd);
        return NULL;
    }
    text = malloc((size_t)st.st_size + 1);
    if (text == NULL) {
        errorf(errors, "%s: out of memory\n", path);
        close(fd);
        return NULL;
    }
    n = read_full(fd, text, (size_t)st.st_size);
    close(fd);
    if (n < 0) {
        errorf(errors, "%s: unable to read: %s\n", path, strerror(errno));
        free(text);
        return NULL;
    }
    if (memchr(text, '\0', (size_t)n) != NULL) {
        errorf(errors, "%s: NUL byte in the file (is it a text file?)\n", path);
        free(text);
        return NULL;
    }
    conf = parse_text(text, (size_t)n, path, false, errors);
    free(text);
    return conf;
}

struct conf *conf_ref(struct conf *conf)
{
    conf->refs++;
    return conf;
}

void conf_unref(struct conf *conf)
{
    if (conf != NULL && --conf->refs == 0)
        conf_free(conf);
}

bool conf_svc_equal(const struct svc_conf *a, const struct svc_conf *b)
{
    if (strcmp(a->name, b->name) != 0 || a->nlistens != b->nlistens || a->builtin != b->builtin ||
        a->model != b->model || a->idle_timeout_ms != b->idle_timeout_ms ||
        a->backlog != b->backlog || a->keepalive_ms != b->keepalive_ms ||
        a->sock_mode != b->sock_mode || a->sock_owner_set != b->sock_owner_set ||
        a->sock_group_set != b->sock_group_set ||
        (a->sock_owner_set && a->sock_owner != b->sock_owner) ||
        (a->sock_group_set && a->sock_group != b->sock_group))
        return false;
    for (size_t i = 0; i < a->nlistens; i++)
        if (!addr_equal(&a->listens[i].addr, &b->listens[i].addr))
            return false;
    return true;
}

static void conf_free(struct conf *conf)
{
    if (conf == NULL)
        return;
    for (size_t i = 0; i < conf->nsvcs; i++)
        free(conf->svcs[i].listens);
    free(conf->svcs);
    free(conf->path);
    free(conf);
}

const struct svc_conf *conf_find(const struct conf *conf, const char *name)
{
    for (size_t i = 0; i < conf->nsvcs; i++)
        if (strcmp(conf->svcs[i].name, name) == 0)
            return &conf->svcs[i];
    return NULL;
}
