/*
 * conf_keys: every configuration key, as one table of parsers, and the
 * checks a service section must pass as a whole.
 *
 * A key is looked up by name and section kind; given twice in a section it
 * is an error unless it is a list (listen, env).  Each service keeps the
 * text of its keys ("canon") so a reload can tell a changed service from an
 * unchanged one.
 */
#include "conf_parse.h"

#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_IDLE_TIMEOUT_MS (300 * 1000)
#define DEFAULT_BACKLOG         511
#define DEFAULT_KEEPALIVE_MS    (300 * 1000)
/* Where a bare program name is looked for: inetd's daemons live in the sbin ones. */
#define PROGRAM_SEARCH_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define ARGV_MAX            256
#define ENV_MAX             256
#define WAIT_RATE_DEFAULT   100 /* spawns a second of a wait = yes service */

/* Value helpers */

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

/*
 * Durations are at most a year: timers add them to the clock, and nothing
 * usherd times needs more.  A value past that is a mistake, not a wish.
 */
#define DURATION_MAX_MS (365LL * 24 * 3600 * 1000)

/* `value` as a duration from `min_ms` to `max_ms`; false if it is not one. */
static bool parse_duration_in(const char *value, int64_t min_ms, int64_t max_ms, int64_t *out)
{
    int64_t ms;

    if (parse_duration_ms(value, &ms) < 0 || ms < min_ms || ms > max_ms)
        return false;
    *out = ms;
    return true;
}

static bool duration_value(struct parser *p, const char *key, const char *value, int64_t *out)
{
    if (parse_duration_in(value, 0, DURATION_MAX_MS, out))
        return true;
    CONF_ERR(p, "%s: '%s' is not a duration from 0 to 365 days (e.g. 30s, 500ms, 5m, 1h)", key,
             value);
    return false;
}

static bool count_value(struct parser *p, const char *key, const char *value, int64_t min,
                        int64_t max, int64_t *out)
{
    if (parse_i64(value, min, max, out) == 0)
        return true;
    CONF_ERR(p, "%s: '%s' is not a whole number from %lld to %lld", key, value, (long long)min,
             (long long)max);
    return false;
}

static bool octal_value(struct parser *p, const char *key, const char *value, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(value, &end, 8);
    if (*value == '\0' || *end != '\0' || errno != 0 || v < 0 || v > 0777) {
        CONF_ERR(p, "%s: '%s' is not an octal mode from 000 to 777", key, value);
        return false;
    }
    *out = (int)v;
    return true;
}

static bool yes_no(struct parser *p, const char *key, const char *value, bool *out)
{
    if (strcmp(value, "yes") == 0 || strcmp(value, "no") == 0) {
        *out = value[0] == 'y';
        return true;
    }
    CONF_ERR(p, "%s: '%s' is not yes or no", key, value);
    return false;
}

/* The exec service's part of the section, made on first need. */
static struct exec_conf *exec_of(struct parser *p)
{
    if (p->svc->exec == NULL && (p->svc->exec = calloc(1, sizeof(*p->svc->exec))) == NULL)
        CONF_ERR(p, "out of memory");
    return p->svc->exec;
}

/* [global] keys */

static void key_log(struct parser *p, char *value)
{
    char err[256];

    if (log_target_parse(value, &p->conf->log, err, sizeof(err)) < 0) {
        CONF_ERR(p, "log: %s", err);
        return;
    }
    p->conf->log_set = true;
}

static void key_log_facility(struct parser *p, char *value)
{
    int facility = log_facility_parse(value);

    if (facility < 0) {
        CONF_ERR(p, "log_facility: '%s' is not a syslog facility (daemon, user, local0-7, ...)",
                 value);
        return;
    }
    p->conf->log_facility = facility;
}

static void key_log_format(struct parser *p, char *value)
{
    int format = log_format_parse(value);

    if (format < 0) {
        CONF_ERR(p, "log_format: '%s' is not text or json", value);
        return;
    }
    p->conf->log_format = (enum log_format)format;
}

static void key_log_ip(struct parser *p, char *value)
{
    int mode = logip_parse(value);

    if (mode < 0) {
        CONF_ERR(p, "log_ip: '%s' is not full, truncate, hash or none", value);
        return;
    }
    p->conf->log_ip = (enum log_ip)mode;
}

static void absolute_path(struct parser *p, const char *key, const char *value, char *out,
                          size_t size)
{
    if (value[0] != '/') {
        CONF_ERR(p, "%s: '%s' must be an absolute path", key, value);
        return;
    }
    if (str_copy(out, size, value) < 0)
        CONF_ERR(p, "%s: path longer than %zu bytes", key, size - 1);
}

static void key_pidfile(struct parser *p, char *value)
{
    absolute_path(p, "pidfile", value, p->conf->pidfile, sizeof(p->conf->pidfile));
}

static void key_control(struct parser *p, char *value)
{
    if (strcmp(value, "none") == 0) {
        str_copy(p->conf->control, sizeof(p->conf->control), value);
        return;
    }
    absolute_path(p, "control", value, p->conf->control, sizeof(p->conf->control));
}

static void key_inetd(struct parser *p, char *value)
{
    absolute_path(p, "inetd", value, p->conf->inetd, sizeof(p->conf->inetd));
}

static void key_xinetd(struct parser *p, char *value)
{
    absolute_path(p, "xinetd", value, p->conf->xinetd, sizeof(p->conf->xinetd));
}

static void key_umask(struct parser *p, char *value)
{
    octal_value(p, "umask", value, &p->conf->umask);
}

static void key_shutdown_timeout(struct parser *p, char *value)
{
    duration_value(p, "shutdown_timeout", value, &p->conf->shutdown_timeout_ms);
}

static void key_global_max_conns(struct parser *p, char *value)
{
    int64_t v;

    if (count_value(p, "max_conns", value, 0, 10000000, &v))
        p->conf->max_conns = (unsigned)v;
}

/* Service keys: listening */

/* bind() would fail on a socket path whose directory is missing: say so at its line. */
static bool socket_dir_exists(struct parser *p, const struct addr_spec *spec, const char *text)
{
    char dir[sizeof(spec->path)];
    struct stat st;
    char *slash;

    str_copy(dir, sizeof(dir), spec->path);
    slash = strrchr(dir, '/');
    if (slash == dir)
        return true; /* in / */
    *slash = '\0';
    if (stat(dir, &st) < 0) {
        CONF_ERR(p, "listen: %s: directory %s: %s", text, dir, strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        CONF_ERR(p, "listen: %s: %s is not a directory", text, dir);
        return false;
    }
    return true;
}

void conf_add_listen(struct parser *p, const char *text, bool optional)
{
    struct svc_conf *svc = p->svc;
    struct addr_spec spec;
    struct addr addrs[16];
    char err[256];
    int n;

    if (addr_parse(text, &spec, err, sizeof(err)) < 0) {
        CONF_ERR(p, "listen: %s", err);
        return;
    }
    if (spec.tls)
        conf_tls_listener(p);
    /* Relative paths would change meaning with the working directory. */
    if (!addr_kind_is_inet(spec.kind) && spec.path[0] != '/' && spec.path[0] != '@') {
        CONF_ERR(p, "listen: %s: a socket path must be absolute (or @name for an abstract socket)",
                 text);
        return;
    }
    if (!addr_kind_is_inet(spec.kind) && spec.path[0] == '/' && !socket_dir_exists(p, &spec, text))
        return;
    n = addr_resolve(&spec, true, addrs, ARRAY_LEN(addrs), err, sizeof(err));
    if (n < 0) {
        CONF_ERR(p, "listen: %s", err);
        return;
    }
    if (svc->listens == NULL &&
        (svc->listens = calloc(CONF_LISTEN_MAX, sizeof(*svc->listens))) == NULL) {
        CONF_ERR(p, "listen: out of memory");
        return;
    }
    if (svc->nlistens + (size_t)n > CONF_LISTEN_MAX) {
        CONF_ERR(p, "listen: more than %d addresses in one service", CONF_LISTEN_MAX);
        return;
    }
    for (int i = 0; i < n; i++) {
        struct conf_listen *l = &svc->listens[svc->nlistens++];
        l->addr = addrs[i];
        l->file = p->file;
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
        CONF_ERR(p, "listen: more than %d addresses in one service", CONF_LISTEN_MAX);
        return;
    }
    for (size_t i = 0; i < n; i++)
        conf_add_listen(p, items[i], p->conf->embedded);
}

static void key_backlog(struct parser *p, char *value)
{
    int64_t v;

    if (count_value(p, "backlog", value, 1, 65535, &v))
        p->svc->backlog = (int)v;
}

static void key_keepalive(struct parser *p, char *value)
{
    if (strcmp(value, "yes") == 0)
        p->svc->keepalive_ms = DEFAULT_KEEPALIVE_MS;
    else if (strcmp(value, "no") == 0)
        p->svc->keepalive_ms = 0;
    else if (!parse_duration_in(value, 1000, 32767 * 1000LL, &p->svc->keepalive_ms))
        CONF_ERR(p, "keepalive: '%s' is not yes, no, or a duration from 1s to 32767s", value);
}

static void key_mode(struct parser *p, char *value)
{
    octal_value(p, "mode", value, &p->svc->sock_mode);
}

static bool lookup_uid(const char *value, uid_t *uid)
{
    struct passwd *pw = getpwnam(value);
    int64_t id;

    if (pw != NULL)
        *uid = pw->pw_uid;
    else if (parse_i64(value, 0, UINT32_MAX - 1, &id) == 0)
        *uid = (uid_t)id;
    else
        return false;
    return true;
}

static void key_owner(struct parser *p, char *value)
{
    if (!lookup_uid(value, &p->svc->sock_owner)) {
        CONF_ERR(p, "owner: no such user '%s' (a user name, or a uid from 0 to %u)", value,
                 UINT32_MAX - 1);
        return;
    }
    p->svc->sock_owner_set = true;
}

/* `group`: the socket files' group, and an exec service's group too. */
static void key_group(struct parser *p, char *value)
{
    struct group *gr = getgrnam(value);
    int64_t id;

    if (gr != NULL)
        p->svc->sock_group = gr->gr_gid;
    else if (parse_i64(value, 0, UINT32_MAX - 1, &id) == 0)
        p->svc->sock_group = (gid_t)id;
    else {
        CONF_ERR(p, "group: no such group '%s' (a group name, or a gid from 0 to %u)", value,
                 UINT32_MAX - 1);
        return;
    }
    p->svc->sock_group_set = true;
}

static void key_log_connections(struct parser *p, char *value)
{
    int mode = log_conns_parse(value);

    if (mode < 0) {
        CONF_ERR(p, "log_connections: '%s' is not all, failures or none", value);
        return;
    }
    p->svc->log_conns = (enum log_conns)mode;
}

/* Service keys: what serves */

static void key_builtin(struct parser *p, char *value)
{
    enum builtin_id id = conf_builtin_lookup(value);

    if (id == BUILTIN_NONE) {
        CONF_ERR(p,
                 "builtin: unknown service '%s' (echo, discard, daytime, chargen, time, sum, "
                 "sumbin)",
                 value);
        return;
    }
    p->svc->builtin = id;
}

#define PREFORK_MAX 1024

static void key_model(struct parser *p, char *value)
{
    int64_t n;

    if (strcmp(value, "event") == 0) {
        p->svc->model = MODEL_EVENT;
    } else if (strcmp(value, "fork") == 0) {
        p->svc->model = MODEL_FORK;
    } else if (strncmp(value, "prefork:", 8) == 0 &&
               parse_i64(value + 8, 1, PREFORK_MAX, &n) == 0) {
        p->svc->model = MODEL_PREFORK;
        p->svc->prefork = (unsigned)n;
    } else {
        CONF_ERR(p, "model: '%s' is not a model (event, fork, prefork:N with N from 1 to %d)",
                 value, PREFORK_MAX);
    }
}

/*
 * Split like a shell splits words: blanks separate, '...' quotes all,
 * "..." quotes all but \" and \\, a backslash outside quotes escapes the
 * next character.  No expansion of any kind.  Returns the count, or -1 with
 * a message in err.
 */
static int split_words(const char *s, char **words, int max, char *err, size_t errlen)
{
    int n = 0;

    while (*s) {
        char *w, *o;
        char quote = 0;
        while (isblank((unsigned char)*s))
            s++;
        if (*s == '\0')
            break;
        if (n == max - 1) {
            snprintf(err, errlen, "more than %d words", max - 1);
            goto fail;
        }
        if ((w = o = malloc(strlen(s) + 1)) == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        words[n++] = w;
        for (; *s && (quote || !isblank((unsigned char)*s)); s++) {
            if (quote == '\'' && *s == '\'')
                quote = 0;
            else if (quote == '"' && *s == '"')
                quote = 0;
            else if (quote == '"' && *s == '\\' && (s[1] == '"' || s[1] == '\\'))
                *o++ = *++s;
            else if (quote)
                *o++ = *s;
            else if (*s == '\'' || *s == '"')
                quote = *s;
            else if (*s == '\\' && s[1] != '\0')
                *o++ = *++s;
            else
                *o++ = *s;
        }
        *o = '\0';
        if (quote) {
            snprintf(err, errlen, "unterminated %c quote", quote);
            goto fail;
        }
    }
    words[n] = NULL;
    return n;
fail:
    while (n > 0)
        free(words[--n]);
    return -1;
}

/*
 * A program without '/' is looked for in PROGRAM_SEARCH_PATH, inside the
 * chroot when there is one; not found, the bare name stays (check_program
 * reports it).
 */
static char *find_program(const char *name, const char *root)
{
    char buf[4096];
    const char *dir = PROGRAM_SEARCH_PATH;

    if (strchr(name, '/') != NULL)
        return strdup(name);
    while (*dir) {
        size_t len = strcspn(dir, ":");
        snprintf(buf, sizeof(buf), "%s%.*s/%s", root ? root : "", (int)len, dir, name);
        if (access(buf, X_OK) == 0) {
            snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, dir, name);
            return strdup(buf);
        }
        dir += len + (dir[len] == ':');
    }
    return strdup(name);
}

static void key_exec(struct parser *p, char *value)
{
    struct exec_conf *ex = exec_of(p);
    char *words[ARGV_MAX], err[128];
    int n;

    if (ex == NULL)
        return;
    n = split_words(value, words, ARGV_MAX, err, sizeof(err));
    if (n <= 0) {
        CONF_ERR(p, "exec: %s", n == 0 ? "no program" : err);
        return;
    }
    ex->argv = calloc((size_t)n + 1, sizeof(*ex->argv));
    if (ex->argv == NULL) {
        while (n > 0)
            free(words[--n]);
        CONF_ERR(p, "out of memory");
        return;
    }
    memcpy(ex->argv, words, ((size_t)n + 1) * sizeof(*words));
}

static void key_wait(struct parser *p, char *value)
{
    struct exec_conf *ex = exec_of(p);

    if (ex != NULL)
        yes_no(p, "wait", value, &ex->wait);
}

static void free_strings(char **v);

/* What login and systemd set for a user, from its password entry; an empty shell is /bin/sh. */
static void set_user_env(struct parser *p, struct exec_conf *ex, const struct passwd *pw)
{
    const char *shell = pw->pw_shell != NULL && pw->pw_shell[0] != '\0' ? pw->pw_shell : "/bin/sh";
    const char *names[] = {"HOME", "USER", "LOGNAME", "SHELL"};
    const char *values[] = {pw->pw_dir ? pw->pw_dir : "/", pw->pw_name, pw->pw_name, shell};
    char **env = calloc(ARRAY_LEN(names) + 1, sizeof(*env));

    if (env == NULL) {
        CONF_ERR(p, "out of memory");
        return;
    }
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        size_t len = strlen(names[i]) + strlen(values[i]) + 2;
        if ((env[i] = malloc(len)) == NULL) {
            free_strings(env);
            CONF_ERR(p, "out of memory");
            return;
        }
        snprintf(env[i], len, "%s=%s", names[i], values[i]);
    }
    free_strings(ex->user_env);
    ex->user_env = env;
}

static void key_user(struct parser *p, char *value)
{
    struct exec_conf *ex = exec_of(p);
    struct passwd *pw;

    if (ex == NULL)
        return;
    pw = getpwnam(value);
    if (pw == NULL) {
        CONF_ERR(p, "user: no such user '%s'", value);
        return;
    }
    ex->user_set = true;
    ex->uid = pw->pw_uid;
    ex->gid = pw->pw_gid;
    set_user_env(p, ex, pw);
}

static void key_chroot(struct parser *p, char *value)
{
    struct exec_conf *ex = exec_of(p);

    if (ex == NULL)
        return;
    if (value[0] != '/') {
        CONF_ERR(p, "chroot: '%s' must be an absolute path", value);
        return;
    }
    free(ex->chroot);
    if ((ex->chroot = strdup(value)) == NULL)
        CONF_ERR(p, "out of memory");
}

static bool valid_env_name(const char *s, size_t len)
{
    if (len == 0 || isdigit((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return false;
    return true;
}

/* Add "NAME=VALUE" (`name_len` bytes of name, then `value`) to the service's env. */
static void add_env(struct parser *p, const char *key, struct exec_conf *ex, const char *name,
                    size_t name_len, const char *value)
{
    char **grown;
    size_t size = name_len + strlen(value) + 2;

    if (ex->nenv == ENV_MAX) {
        CONF_ERR(p, "%s: more than %d variables", key, ENV_MAX);
        return;
    }
    grown = realloc(ex->env, (ex->nenv + 2) * sizeof(*grown));
    if (grown == NULL || (grown[ex->nenv] = malloc(size)) == NULL) {
        if (grown != NULL)
            ex->env = grown;
        CONF_ERR(p, "out of memory");
        return;
    }
    snprintf(grown[ex->nenv], size, "%.*s=%s", (int)name_len, name, value);
    ex->env = grown;
    ex->env[++ex->nenv] = NULL;
}

static void key_env(struct parser *p, char *value)
{
    struct exec_conf *ex = exec_of(p);
    char *eq = strchr(value, '=');

    if (ex == NULL)
        return;
    if (eq == NULL || !valid_env_name(value, (size_t)(eq - value))) {
        CONF_ERR(p, "env: '%s' is not NAME=VALUE", value);
        return;
    }
    add_env(p, "env", ex, value, (size_t)(eq - value), eq + 1);
}

/*
 * passenv = NAME...: each variable as usherd's own environment has it when
 * the configuration is loaded (a name usherd does not have is left out, as
 * xinetd leaves it out).
 */
static void key_passenv(struct parser *p, char *value)
{
    struct exec_conf *ex = exec_of(p);
    char *names[ENV_MAX];
    bool overflow;
    size_t n = split_list(value, names, ARRAY_LEN(names), &overflow);

    if (ex == NULL)
        return;
    if (overflow) {
        CONF_ERR(p, "passenv: more than %d variables", ENV_MAX);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *v;
        if (!valid_env_name(names[i], strlen(names[i]))) {
            CONF_ERR(p, "passenv: '%s' is not a variable name (letters, digits, '_')", names[i]);
            continue;
        }
        if ((v = getenv(names[i])) != NULL)
            add_env(p, "passenv", ex, names[i], strlen(names[i]), v);
    }
}

static void key_stderr(struct parser *p, char *value)
{
    static const char *const names[] = {
        [STDERR_LOG] = "log", [STDERR_SOCKET] = "socket", [STDERR_NULL] = "null"};
    struct exec_conf *ex = exec_of(p);

    if (ex == NULL)
        return;
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        if (strcmp(value, names[i]) == 0) {
            ex->stderr_to = (enum stderr_target)i;
            return;
        }
    }
    CONF_ERR(p, "stderr: '%s' is not log, socket or null", value);
}

static void key_on_stop(struct parser *p, char *value)
{
    struct exec_conf *ex = exec_of(p);

    if (ex == NULL)
        return;
    if (strcmp(value, "term") == 0)
        ex->on_stop = ON_STOP_TERM;
    else if (strcmp(value, "leave") == 0)
        ex->on_stop = ON_STOP_LEAVE;
    else
        CONF_ERR(p, "on_stop: '%s' is not term or leave", value);
}

static void key_nice(struct parser *p, char *value)
{
    struct exec_conf *ex = exec_of(p);
    int64_t v;

    if (ex != NULL && count_value(p, "nice", value, -20, 19, &v)) {
        ex->nice_set = true;
        ex->nice = (int)v;
    }
}

/*
 * rlimit_*: "unlimited", or a number: seconds for cpu, sizes for
 * as/fsize/core, counts else.  Sizes stay below 2^63: RLIM_INFINITY is
 * 2^64 - 1, and only "unlimited" may say that.
 */
static void set_rlimit(struct parser *p, int which, const char *key, const char *value)
{
    struct exec_conf *ex = exec_of(p);
    uint64_t v;
    int64_t ms, n;

    if (ex == NULL)
        return;
    if (strcmp(value, "unlimited") == 0 || strcmp(value, "infinity") == 0)
        v = RLIM_INFINITY;
    else if (which == RLIM_CPU && parse_duration_in(value, 0, DURATION_MAX_MS, &ms))
        v = (uint64_t)(ms + 999) / 1000;
    else if ((which == RLIM_AS || which == RLIM_FSIZE || which == RLIM_CORE || which == RLIM_DATA ||
              which == RLIM_RSS || which == RLIM_STACK) &&
             parse_size(value, &v) == 0 && v <= INT64_MAX)
        ;
    else if ((which == RLIM_NOFILE || which == RLIM_NPROC) &&
             parse_i64(value, 0, INT32_MAX, &n) == 0)
        v = (uint64_t)n;
    else {
        CONF_ERR(p, "%s: '%s' is not %s or unlimited", key, value,
                 which == RLIM_CPU ? "a duration from 0 to 365 days"
                 : which == RLIM_NOFILE || which == RLIM_NPROC
                     ? "a count from 0 to 2147483647"
                     : "a size from 0 to 2^63-1 bytes (K, M, G)");
        return;
    }
    ex->rlimit_set[which] = true;
    ex->rlimit[which] = (rlim_t)v;
}

#define RLIMIT_KEY(fn, which, key)                                                                 \
    static void fn(struct parser *p, char *value)                                                  \
    {                                                                                              \
        set_rlimit(p, which, key, value);                                                          \
    }
RLIMIT_KEY(key_rlimit_cpu, RLIM_CPU, "rlimit_cpu")
RLIMIT_KEY(key_rlimit_as, RLIM_AS, "rlimit_as")
RLIMIT_KEY(key_rlimit_nofile, RLIM_NOFILE, "rlimit_nofile")
RLIMIT_KEY(key_rlimit_nproc, RLIM_NPROC, "rlimit_nproc")
RLIMIT_KEY(key_rlimit_fsize, RLIM_FSIZE, "rlimit_fsize")
RLIMIT_KEY(key_rlimit_core, RLIM_CORE, "rlimit_core")
RLIMIT_KEY(key_rlimit_data, RLIM_DATA, "rlimit_data")
RLIMIT_KEY(key_rlimit_rss, RLIM_RSS, "rlimit_rss")
RLIMIT_KEY(key_rlimit_stack, RLIM_STACK, "rlimit_stack")

/* umask in a service: the program's file creation mask (default: usherd's own). */
static void key_service_umask(struct parser *p, char *value)
{
    struct exec_conf *ex = exec_of(p);
    int mode;

    if (ex != NULL && octal_value(p, "umask", value, &mode)) {
        ex->umask_set = true;
        ex->umask = (mode_t)mode;
    }
}

/* argv0 = NAME: what the program sees as argv[0], the program being exec's first word. */
static void key_argv0(struct parser *p, char *value)
{
    struct exec_conf *ex = exec_of(p);

    if (ex == NULL)
        return;
    free(ex->argv0);
    if ((ex->argv0 = strdup(value)) == NULL)
        CONF_ERR(p, "out of memory");
}

/* Service keys: limits */

static void key_max_conns(struct parser *p, char *value)
{
    int64_t v;

    if (count_value(p, "max_conns", value, 0, 10000000, &v))
        p->svc->max_conns = (unsigned)v;
}

static void key_max_per_ip(struct parser *p, char *value)
{
    int64_t v;

    if (count_value(p, "max_per_ip", value, 0, 10000000, &v))
        p->svc->max_per_ip = (unsigned)v;
}

#define RATE_MAX 10000000

/* "N/s", "N/m", "N/h" (a bare N is per second); 0 for no limit. */
static void rate_value(struct parser *p, const char *key, const char *value, struct conf_rate *out)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } periods[] = {{"", 1000}, {"/s", 1000}, {"/m", 60000}, {"/h", 3600000}};
    const char *slash = strchr(value, '/');
    size_t numlen = slash ? (size_t)(slash - value) : strlen(value);
    char num[32];
    int64_t n;

    /* A number too long for `num` is too large anyway: never cut it short. */
    if (numlen < sizeof(num)) {
        memcpy(num, value, numlen);
        num[numlen] = '\0';
        for (size_t i = 0; i < ARRAY_LEN(periods); i++) {
            if (strcmp(slash ? slash : "", periods[i].unit) != 0)
                continue;
            if (parse_i64(num, 0, RATE_MAX, &n) < 0)
                break;
            out->count = (unsigned)n;
            out->period_ms = periods[i].ms;
            return;
        }
    }
    CONF_ERR(p,
             "%s: '%s' is not a rate N/s, N/m or N/h with N from 0 to %d (e.g. 200/s; 0: no limit)",
             key, value, RATE_MAX);
}

static void key_rate(struct parser *p, char *value)
{
    rate_value(p, "rate", value, &p->svc->rate);
}

static void key_rate_per_ip(struct parser *p, char *value)
{
    rate_value(p, "rate_per_ip", value, &p->svc->rate_per_ip);
}

void conf_add_prefixes(struct parser *p, const char *key, char *value, struct addr_prefix **list,
                       size_t *n)
{
    char *items[CONF_LISTEN_MAX];
    bool overflow;
    size_t count = split_list(value, items, ARRAY_LEN(items), &overflow);
    struct addr_prefix *grown;

    if (overflow) {
        CONF_ERR(p, "%s: more than %d prefixes on one line", key, CONF_LISTEN_MAX);
        return;
    }
    grown = realloc(*list, (*n + count + 1) * sizeof(*grown));
    if (grown == NULL) {
        CONF_ERR(p, "out of memory");
        return;
    }
    *list = grown;
    for (size_t i = 0; i < count; i++) {
        char err[128];
        if (addr_prefix_parse(items[i], &grown[*n], err, sizeof(err)) < 0)
            CONF_ERR(p, "%s: %s", key, err);
        else
            (*n)++;
    }
}

static void key_allow(struct parser *p, char *value)
{
    conf_add_prefixes(p, "allow", value, &p->svc->access.allow, &p->svc->access.nallow);
}

static void key_deny(struct parser *p, char *value)
{
    conf_add_prefixes(p, "deny", value, &p->svc->access.deny, &p->svc->access.ndeny);
}

static void key_workers(struct parser *p, char *value)
{
    int64_t v;

    if (count_value(p, "workers", value, 1, 256, &v))
        p->conf->workers = (unsigned)v;
}

/* Service keys: time */

static void key_idle_timeout(struct parser *p, char *value)
{
    duration_value(p, "idle_timeout", value, &p->svc->idle_timeout_ms);
}

static void key_max_time(struct parser *p, char *value)
{
    duration_value(p, "max_time", value, &p->svc->max_time_ms);
}

static const struct conf_key keys[] = {
    {"log", IN_GLOBAL, false, false, KEY_TEXT, key_log},
    {"log_facility", IN_GLOBAL, false, false, KEY_TEXT, key_log_facility},
    {"log_format", IN_GLOBAL, false, false, KEY_TEXT, key_log_format},
    {"log_ip", IN_GLOBAL, false, false, KEY_TEXT, key_log_ip},
    {"pidfile", IN_GLOBAL, false, false, KEY_TEXT, key_pidfile},
    {"control", IN_GLOBAL, false, false, KEY_TEXT, key_control},
    {"umask", IN_GLOBAL, false, false, KEY_OCTAL, key_umask},
    {"shutdown_timeout", IN_GLOBAL, false, false, KEY_DURATION, key_shutdown_timeout},
    {"max_conns", IN_GLOBAL, false, false, KEY_COUNT, key_global_max_conns},
    {"inetd", IN_GLOBAL, false, false, KEY_TEXT, key_inetd},
    {"xinetd", IN_GLOBAL, false, false, KEY_TEXT, key_xinetd},
    {"workers", IN_GLOBAL, false, false, KEY_COUNT, key_workers},
    {"listen", IN_SERVICE, true, false, KEY_TEXT, key_listen},
    {"builtin", IN_SERVICE, false, false, KEY_TEXT, key_builtin},
    {"exec", IN_SERVICE, false, true, KEY_TEXT, key_exec},
    {"model", IN_SERVICE, false, false, KEY_COUNT, key_model},
    {"wait", IN_SERVICE, false, true, KEY_TEXT, key_wait},
    {"user", IN_SERVICE, false, true, KEY_TEXT, key_user},
    {"group", IN_SERVICE, false, false, KEY_ID, key_group},
    {"chroot", IN_SERVICE, false, true, KEY_TEXT, key_chroot},
    {"env", IN_SERVICE, true, true, KEY_TEXT, key_env},
    {"stderr", IN_SERVICE, false, true, KEY_TEXT, key_stderr},
    {"on_stop", IN_SERVICE, false, true, KEY_TEXT, key_on_stop},
    {"nice", IN_SERVICE, false, true, KEY_COUNT, key_nice},
    {"rlimit_cpu", IN_SERVICE, false, true, KEY_DURATION, key_rlimit_cpu},
    {"rlimit_as", IN_SERVICE, false, true, KEY_SIZE, key_rlimit_as},
    {"rlimit_nofile", IN_SERVICE, false, true, KEY_COUNT, key_rlimit_nofile},
    {"rlimit_nproc", IN_SERVICE, false, true, KEY_COUNT, key_rlimit_nproc},
    {"rlimit_fsize", IN_SERVICE, false, true, KEY_SIZE, key_rlimit_fsize},
    {"rlimit_core", IN_SERVICE, false, true, KEY_SIZE, key_rlimit_core},
    {"rlimit_data", IN_SERVICE, false, true, KEY_SIZE, key_rlimit_data},
    {"rlimit_rss", IN_SERVICE, false, true, KEY_SIZE, key_rlimit_rss},
    {"rlimit_stack", IN_SERVICE, false, true, KEY_SIZE, key_rlimit_stack},
    {"umask", IN_SERVICE, false, true, KEY_OCTAL, key_service_umask},
    {"passenv", IN_SERVICE, true, true, KEY_TEXT, key_passenv},
    {"argv0", IN_SERVICE, false, true, KEY_TEXT, key_argv0},
    {"banner", IN_SERVICE, false, false, KEY_TEXT, conf_key_banner},
    {"banner_success", IN_SERVICE, false, false, KEY_TEXT, conf_key_banner_success},
    {"banner_fail", IN_SERVICE, false, false, KEY_TEXT, conf_key_banner_fail},
    {"max_time", IN_SERVICE, false, false, KEY_DURATION, key_max_time},
    {"max_conns", IN_SERVICE, false, false, KEY_COUNT, key_max_conns},
    {"max_per_ip", IN_SERVICE, false, false, KEY_COUNT, key_max_per_ip},
    {"rate", IN_SERVICE, false, false, KEY_RATE, key_rate},
    {"rate_per_ip", IN_SERVICE, false, false, KEY_RATE, key_rate_per_ip},
    {"allow", IN_SERVICE, true, false, KEY_TEXT, key_allow},
    {"deny", IN_SERVICE, true, false, KEY_TEXT, key_deny},
    {"idle_timeout", IN_SERVICE, false, false, KEY_DURATION, key_idle_timeout},
    {"backlog", IN_SERVICE, false, false, KEY_COUNT, key_backlog},
    {"keepalive", IN_SERVICE, false, false, KEY_DURATION, key_keepalive},
    {"mode", IN_SERVICE, false, false, KEY_OCTAL, key_mode},
    {"log_connections", IN_SERVICE, false, false, KEY_TEXT, key_log_connections},
    {"owner", IN_SERVICE, false, false, KEY_ID, key_owner},
    {"forward", IN_SERVICE, true, false, KEY_TEXT, conf_key_forward},
    {"connect_timeout", IN_SERVICE, false, false, KEY_DURATION, conf_key_connect_timeout},
    {"proxy_protocol", IN_SERVICE, false, false, KEY_TEXT, conf_key_proxy_protocol},
    {"proxy_from", IN_SERVICE, true, false, KEY_TEXT, conf_key_proxy_from},
    {"proxy_timeout", IN_SERVICE, false, false, KEY_DURATION, conf_key_proxy_timeout},
    {"forward_proxy_protocol", IN_SERVICE, false, false, KEY_TEXT, conf_key_forward_proxy_protocol},
    {"tls_cert", IN_SERVICE, true, false, KEY_TEXT, conf_key_tls_cert},
    {"tls_key", IN_SERVICE, true, false, KEY_TEXT, conf_key_tls_key},
    {"tls_client_ca", IN_SERVICE, false, false, KEY_TEXT, conf_key_tls_client_ca},
    {"tls_verify", IN_SERVICE, false, false, KEY_TEXT, conf_key_tls_verify},
    {"tls_min", IN_SERVICE, false, false, KEY_TEXT, conf_key_tls_min},
    {"tls_ciphers", IN_SERVICE, false, false, KEY_TEXT, conf_key_tls_ciphers},
    {"tls_ciphersuites", IN_SERVICE, false, false, KEY_TEXT, conf_key_tls_ciphersuites},
    {"tls_alpn", IN_SERVICE, false, false, KEY_TEXT, conf_key_tls_alpn},
    {"tls_handshake_timeout", IN_SERVICE, false, false, KEY_DURATION,
     conf_key_tls_handshake_timeout},
};

_Static_assert(ARRAY_LEN(keys) <= CONF_KEYS_MAX, "raise CONF_KEYS_MAX");

const struct conf_key *conf_key_at(size_t i)
{
    return i < ARRAY_LEN(keys) ? &keys[i] : NULL;
}

/*
 * Remember the key in a section's canonical text (a service's: for
 * reload's "changed"; both: what -P prints).
 */
static void note_canon(struct parser *p, char **canon, const char *key, const char *value)
{
    size_t old = *canon ? strlen(*canon) : 0;
    size_t add = strlen(key) + strlen(value) + 3;
    char *grown = realloc(*canon, old + add);

    if (grown == NULL) {
        CONF_ERR(p, "out of memory");
        return;
    }
    snprintf(grown + old, add, "%s=%s\n", key, value);
    *canon = grown;
}

void conf_set_key(struct parser *p, const char *name, char *value)
{
    bool in_service = p->svc != NULL;

    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        const struct conf_key *k = &keys[i];
        if (strcmp(k->name, name) != 0 || (k->scope == IN_SERVICE) != in_service)
            continue;
        if (p->seen[i] != 0 && !k->list) {
            CONF_ERR(p, "%s: set twice in this section (first on line %d)", name, p->seen[i]);
            return;
        }
        p->seen[i] = p->line;
        if (*value == '\0') {
            CONF_ERR(p, "%s: empty value", name);
            return;
        }
        if (in_service)
            note_canon(p, &p->svc->canon, name, value);
        else if (strcmp(name, "inetd") != 0 && strcmp(name, "xinetd") != 0)
            note_canon(p, &p->conf->global_canon, name, value); /* their services are printed */
        k->parse(p, value);
        return;
    }
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        if (strcmp(keys[i].name, name) == 0) {
            CONF_ERR(p, "'%s' belongs in %s", name,
                     keys[i].scope == IN_GLOBAL ? "[global]" : "a service section");
            return;
        }
    }
    CONF_ERR(p, "unknown key '%s'", name);
}

int conf_seen_line(const struct parser *p, const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(keys); i++)
        if (strcmp(keys[i].name, name) == 0 && keys[i].scope == IN_SERVICE)
            return p->seen[i];
    return 0;
}

struct svc_conf *conf_add_service(struct parser *p, const char *name)
{
    struct conf *conf = p->conf;
    struct svc_conf *grown = realloc(conf->svcs, (conf->nsvcs + 1) * sizeof(*grown));
    struct svc_conf *svc;

    if (grown == NULL) {
        CONF_ERR(p, "out of memory");
        return NULL;
    }
    conf->svcs = grown;
    svc = &grown[conf->nsvcs++];
    memset(svc, 0, sizeof(*svc));
    str_copy(svc->name, sizeof(svc->name), name);
    svc->line = p->line;
    svc->builtin = BUILTIN_NONE;
    svc->model = MODEL_EVENT;
    svc->idle_timeout_ms = -1; /* the default depends on builtin or exec */
    svc->backlog = DEFAULT_BACKLOG;
    svc->keepalive_ms = DEFAULT_KEEPALIVE_MS;
    svc->sock_mode = -1;
    return svc;
}

static bool has_unix_listener(const struct svc_conf *svc)
{
    for (size_t i = 0; i < svc->nlistens; i++)
        if (!addr_kind_is_inet(svc->listens[i].addr.kind))
            return true;
    return false;
}

/* initgroups' list, looked up now: a child about to exec can do no lookup. */
static void resolve_identity(struct parser *p, struct svc_conf *svc)
{
    struct exec_conf *ex = svc->exec;
    struct passwd *pw;
    int n = 16;

    if (svc->sock_group_set) {
        ex->group_set = true;
        ex->gid = svc->sock_group;
    }
    if (!ex->user_set) {
        if (ex->group_set && (ex->groups = malloc(sizeof(gid_t))) != NULL) {
            ex->groups[0] = ex->gid; /* no supplementary groups inherited from usherd */
            ex->ngroups = 1;
        }
        return;
    }
    pw = getpwuid(ex->uid);
    for (int tries = 0; pw != NULL && tries < 8; tries++) {
        gid_t *list = realloc(ex->groups, (size_t)n * sizeof(*list));
        if (list == NULL)
            break;
        ex->groups = list;
        if (getgrouplist(pw->pw_name, ex->gid, list, &n) >= 0) {
            ex->ngroups = n;
            return;
        }
    }
    conf_error(p, conf_seen_line(p, "user"), "user: unable to list the groups of '%s'",
               pw ? pw->pw_name : "?");
}

/*
 * What would make every spawn fail is an error now, with its line, rather
 * than a service that can only close its connections: a missing chroot, a
 * program that is not there or cannot be executed (seen from inside the
 * chroot, as the child will see it).
 */
static void check_program(struct parser *p, const struct exec_conf *ex)
{
    int line = conf_seen_line(p, "exec");
    const char *root = ex->chroot ? ex->chroot : "";
    char full[4096];
    struct stat st;

    if (ex->chroot != NULL) {
        int chroot_line = conf_seen_line(p, "chroot");
        if (stat(ex->chroot, &st) < 0) {
            conf_error(p, chroot_line, "chroot: %s: %s", ex->chroot, strerror(errno));
            return;
        }
        if (!S_ISDIR(st.st_mode)) {
            conf_error(p, chroot_line, "chroot: %s: not a directory", ex->chroot);
            return;
        }
    }
    if (strchr(ex->path, '/') == NULL) {
        conf_error(p, line, "exec: '%s' not found in %s%s%s", ex->path, PROGRAM_SEARCH_PATH,
                   ex->chroot ? " inside " : "", ex->chroot ? ex->chroot : "");
        return;
    }
    snprintf(full, sizeof(full), "%s%s", root, ex->path);
    if (stat(full, &st) < 0)
        conf_error(p, line, "exec: %s: %s", full, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        conf_error(p, line, "exec: %s: not a regular file", full);
    else if (access(full, X_OK) < 0)
        conf_error(p, line, "exec: %s: not executable: %s", full, strerror(errno));
}

/*
 * on_stop = leave: what cannot outlive usherd is said now.  A wait = yes
 * program holds the listening socket: left running, it would keep the
 * address from the next usherd (an error).  A stderr pipe to the log and
 * a TLS relay are usherd's and end with it: the program's next write to
 * stderr gets SIGPIPE, a tls:// client loses its connection (warnings).
 */
static void check_on_stop(struct parser *p, const struct svc_conf *svc)
{
    const struct exec_conf *ex = svc->exec;
    int line = conf_seen_line(p, "on_stop");

    if (ex->on_stop != ON_STOP_LEAVE)
        return;
    if (ex->wait) {
        conf_error(p, line,
                   "on_stop: leave: a wait = yes program holds the listening socket, which "
                   "the next usherd must bind");
        return;
    }
    if (ex->stderr_to == STDERR_LOG)
        conf_warning(p, line,
                     "on_stop: leave: a program left running loses its stderr (stderr = log) "
                     "when usherd exits, and gets SIGPIPE if it writes there; stderr = null or "
                     "socket avoids that");
    for (size_t i = 0; i < svc->nlistens; i++)
        if (svc->listens[i].addr.tls) {
            conf_warning(p, line,
                         "on_stop: leave: usherd relays the TLS of %s: its connections end "
                         "when usherd exits",
                         svc->listens[i].text);
            break;
        }
}

static void finish_exec(struct parser *p, struct svc_conf *svc)
{
    struct exec_conf *ex = svc->exec;

    if (ex->argv == NULL) {
        conf_error(p, svc->line, "[%s]: exec service keys without exec", svc->name);
        return;
    }
    if (conf_seen_line(p, "model") && svc->model != MODEL_FORK)
        conf_error(p, conf_seen_line(p, "model"),
                   "model: an exec service runs a process per connection (model = fork)");
    /*
     * A program that exits without reading its datagram leaves the socket
     * readable: without a bound, usherd would spawn it in a loop.
     */
    if (ex->wait && svc->rate.count == 0 && !conf_seen_line(p, "rate")) {
        svc->rate.count = WAIT_RATE_DEFAULT;
        svc->rate.period_ms = 1000;
    }
    if (ex->wait && (svc->max_conns || svc->max_per_ip || svc->rate_per_ip.count))
        conf_error(p, svc->line,
                   "[%s]: with wait = yes the program accepts: max_conns, max_per_ip and "
                   "rate_per_ip cannot apply",
                   svc->name);
    svc->model = MODEL_FORK;
    for (size_t i = 0; i < svc->nlistens && !ex->wait; i++)
        if (addr_kind_socktype(svc->listens[i].addr.kind) == SOCK_DGRAM) {
            conf_error(p, svc->listens[i].line,
                       "listen: %s: a datagram exec service needs wait = yes (the program "
                       "reads the socket)",
                       svc->listens[i].text);
            break;
        }
    if (svc->idle_timeout_ms > 0)
        conf_error(p, conf_seen_line(p, "idle_timeout"),
                   "idle_timeout: usherd does not see an exec service's traffic; use max_time");
    svc->idle_timeout_ms = 0;
    if (ex->path == NULL && (ex->path = find_program(ex->argv[0], ex->chroot)) == NULL)
        conf_error(p, conf_seen_line(p, "exec"), "out of memory");
    else
        check_program(p, ex);
    check_on_stop(p, svc);
    if (ex->argv0 != NULL) { /* the program is found above; the name it is given replaces it */
        free(ex->argv[0]);
        ex->argv[0] = ex->argv0;
        ex->argv0 = NULL;
    }
    resolve_identity(p, svc);
}

static void finish_builtin(struct parser *p, struct svc_conf *svc)
{
    static const char *const exec_keys[] = {
        "wait",         "user",        "chroot",      "env",           "stderr",
        "nice",         "rlimit_cpu",  "rlimit_as",   "rlimit_nofile", "rlimit_nproc",
        "rlimit_fsize", "rlimit_core", "rlimit_data", "rlimit_rss",    "rlimit_stack",
        "umask",        "passenv",     "argv0",       "on_stop"};

    for (size_t i = 0; i < ARRAY_LEN(exec_keys); i++)
        if (conf_seen_line(p, exec_keys[i]))
            conf_error(p, conf_seen_line(p, exec_keys[i]), "%s: applies to exec services only",
                       exec_keys[i]);
    if (svc->idle_timeout_ms < 0)
        svc->idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
    if (svc->sock_group_set && !has_unix_listener(svc))
        conf_error(p, conf_seen_line(p, "group"),
                   "group: for a builtin, the group of its unix: socket files, and it has none");
    for (size_t i = 0; svc->builtin == BUILTIN_METRICS && i < svc->nlistens; i++)
        if (addr_kind_socktype(svc->listens[i].addr.kind) == SOCK_DGRAM) {
            conf_error(p, svc->listens[i].line,
                       "listen: %s: builtin = metrics speaks HTTP, over stream listeners only",
                       svc->listens[i].text);
            break;
        }
}

/* Exactly one of builtin, exec and forward says what serves; a second is an error at its line. */
static void check_one_server(struct parser *p, struct svc_conf *svc)
{
    static const char *const servers[] = {"builtin", "exec", "forward"};
    const char *first = NULL, *second = NULL;
    int first_line = 0, second_line = 0;

    for (size_t i = 0; i < ARRAY_LEN(servers); i++) {
        int line = conf_seen_line(p, servers[i]);
        if (line == 0)
            continue;
        if (first == NULL || line < first_line) {
            second = first, second_line = first_line;
            first = servers[i], first_line = line;
        } else if (second == NULL || line < second_line) {
            second = servers[i], second_line = line;
        }
    }
    if (first == NULL)
        conf_error(p, svc->line, "[%s]: no builtin, exec or forward", svc->name);
    else if (second != NULL)
        conf_error(p, second_line, "%s: [%s] has %s %s already; one of builtin, exec, forward",
                   second, svc->name, strcmp(first, "exec") == 0 ? "an" : "a", first);
}

void conf_finish_service(struct parser *p, struct svc_conf *svc)
{
    if (svc->nlistens == 0 && !conf_seen_line(p, "listen"))
        conf_error(p, svc->line, "[%s]: no listen addresses", svc->name);
    check_one_server(p, svc);
    if (svc->exec != NULL && svc->builtin == BUILTIN_NONE && svc->forward == NULL)
        finish_exec(p, svc);
    else
        finish_builtin(p, svc);
    conf_finish_forward(p, svc);
    conf_finish_proxy(p, svc);
    conf_finish_tls(p, svc);
    conf_finish_banners(p, svc);
    if ((svc->sock_mode >= 0 || svc->sock_owner_set) && !has_unix_listener(svc))
        conf_error(p, svc->line,
                   "[%s]: mode and owner apply to unix: and unixgram: listeners, and this "
                   "service has none",
                   svc->name);
}

static void free_strings(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

void conf_free_service(struct svc_conf *svc)
{
    struct exec_conf *ex = svc->exec;

    free(svc->listens);
    free(svc->canon);
    free(svc->origin);
    for (int i = 0; i < BANNER_COUNT; i++)
        free(svc->banner[i].text);
    free(svc->access.allow);
    free(svc->access.deny);
    free(svc->proxy_from);
    conf_free_tls(svc->tls);
    conf_free_forward(svc->forward);
    if (ex == NULL)
        return;
    free_strings(ex->argv);
    free_strings(ex->env);
    free_strings(ex->user_env);
    free(ex->path);
    free(ex->groups);
    free(ex->chroot);
    free(ex->argv0);
    free(ex);
}
