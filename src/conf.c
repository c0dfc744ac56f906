/*
 * conf: reading a configuration file (see conf.h for the format).
 *
 * The text is walked line by line: comments stripped, sections opened,
 * each "key = value" handed to conf_set_key (conf_keys.c).  Each error is
 * recorded with its line and reading goes on, so that one run reports
 * every mistake; the result is NULL if there was any.
 */
#include "conf.h"

#include "conf_parse.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#define CONF_FILE_MAX   (4 << 20)
#define CONF_ERRORS_MAX 50

#define DEFAULT_SHUTDOWN_TIMEOUT_MS (10 * 1000)
#define DEFAULT_MAX_CONNS           10000
#define DEFAULT_UMASK               022

static void conf_free(struct conf *conf);

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

static const char *const builtin_names[BUILTIN_COUNT] = {
    [BUILTIN_ECHO] = "echo",       [BUILTIN_DISCARD] = "discard", [BUILTIN_DAYTIME] = "daytime",
    [BUILTIN_CHARGEN] = "chargen", [BUILTIN_TIME] = "time",       [BUILTIN_SUM] = "sum",
    [BUILTIN_SUMBIN] = "sumbin",   [BUILTIN_METRICS] = "metrics",
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

/* Add "FILE:LINE: msg" (line 0: about the file as a whole, "FILE: msg"). */
static void add_error(struct conf_errs *e, const char *file, int line, const char *msg)
{
    int n;
    char *grown;

    if (line > 0)
        n = snprintf(NULL, 0, "%s:%d: %s\n", file, line, msg);
    else
        n = snprintf(NULL, 0, "%s: %s\n", file, msg);
    grown = realloc(e->text, e->len + (size_t)n + 1);
    if (grown == NULL)
        return;
    e->text = grown;
    if (line > 0)
        snprintf(grown + e->len, (size_t)n + 1, "%s:%d: %s\n", file, line, msg);
    else
        snprintf(grown + e->len, (size_t)n + 1, "%s: %s\n", file, msg);
    e->len += (size_t)n;
}

static void verror_in(struct parser *p, struct conf_errs *e, const char *file, int line,
                      const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

/*
 * Messages quote the file's names and values, which may hold any byte but
 * NUL: the whole message is escaped (str_escape) here, once for every
 * caller, so that an error is one printable line wherever it is shown
 * (the terminal at -t, the log at a reload).  The texts of the messages
 * are ours and printable: escaping leaves them as they are.
 */
static void verror_in(struct parser *p, struct conf_errs *e, const char *file, int line,
                      const char *fmt, va_list ap)
{
    char raw[512], msg[1024], name[512];
    size_t rawlen;
    int n;

    if (++e->count > CONF_ERRORS_MAX)
        return;
    n = vsnprintf(raw, sizeof(raw), fmt, ap);
    if (e->count == CONF_ERRORS_MAX)
        n = snprintf(raw, sizeof(raw), "too many %s, giving up",
                     e == p->errs ? "errors" : "warnings");
    rawlen = n < 0 ? 0 : (size_t)n;
    if (rawlen >= sizeof(raw))
        rawlen = sizeof(raw) - 1;
    str_escape(msg, sizeof(msg), raw, rawlen);
    str_escape(name, sizeof(name), file, strlen(file));
    add_error(e, name, line, msg);
}

static void __attribute__((format(printf, 4, 5)))
error_in_list(struct parser *p, struct conf_errs *e, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    verror_in(p, e, p->file, line, fmt, ap);
    va_end(ap);
}

void conf_error(struct parser *p, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    verror_in(p, p->errs, p->file, line, fmt, ap);
    va_end(ap);
}

void conf_warning(struct parser *p, int line, const char *fmt, ...)
{
    char text[512];
    va_list ap;

    if (p->warns == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    error_in_list(p, p->warns, line, "warning: %s", text);
}

/* An error in `file`, which need not be the one being read. */
static void __attribute__((format(printf, 4, 5)))
error_in(struct parser *p, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    verror_in(p, p->errs, file, line, fmt, ap);
    va_end(ap);
}

static void finish_section(struct parser *p)
{
    if (p->svc != NULL)
        conf_finish_service(p, p->svc);
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

/*
 * Where a section came from, for -P: the "# from WHERE" comment just above
 * its header, which -P wrote (so that printing a printed file gives the
 * same text); else this file and line.
 */
static void note_origin(struct parser *p, struct svc_conf *svc)
{
    char file[512], where[600];

    if (p->conf->embedded) {
        svc->origin = strdup("the embedded default");
    } else if (p->from_line != 0 && p->from_line == p->line - 1) {
        svc->origin = strdup(p->from);
    } else {
        str_escape(file, sizeof(file), p->file, strlen(p->file));
        snprintf(where, sizeof(where), "%s:%d", file, p->line);
        svc->origin = strdup(where);
    }
    if (svc->origin == NULL)
        CONF_ERR(p, "out of memory");
}

static void start_global(struct parser *p)
{
    if (p->global_line != 0) {
        CONF_ERR(p, "[global]: defined twice (first on line %d)", p->global_line);
        return;
    }
    p->global_line = p->line;
    p->skip_section = false;
}

static void start_section(struct parser *p, char *line)
{
    char *close = strchr(line, ']');
    char *name = line + 1;

    finish_section(p);
    memset(p->seen, 0, sizeof(p->seen));
    p->in_section = true;
    p->skip_section = true;
    if (close == NULL || close[1] != '\0') {
        CONF_ERR(p, "expected [NAME]");
        return;
    }
    *close = '\0';
    if (strcmp(name, "global") == 0) {
        start_global(p);
        return;
    }
    if (!valid_section_name(name) || strlen(name) >= sizeof(p->svc->name)) {
        CONF_ERR(p, "[%s]: a service name is 1-63 letters, digits, '-', '_' or '.'", name);
        return;
    }
    if (conf_find(p->conf, name) != NULL) {
        CONF_ERR(p, "[%s]: defined twice (first on line %d)", name, conf_find(p->conf, name)->line);
        return;
    }
    p->svc = conf_add_service(p, name);
    p->skip_section = p->svc == NULL;
    if (p->svc != NULL)
        note_origin(p, p->svc);
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

/* A comment line "# from WHERE", as -P writes above each section: remember WHERE. */
static void note_from_comment(struct parser *p, const char *raw)
{
    while (isspace((unsigned char)*raw))
        raw++;
    if (strncmp(raw, "# from ", 7) != 0 || str_copy(p->from, sizeof(p->from), raw + 7) < 0)
        return;
    p->from[strcspn(p->from, "\r")] = '\0';
    p->from_line = p->line;
}

static void parse_line(struct parser *p, char *raw)
{
    char *line, *eq, *key;

    note_from_comment(p, raw);
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
        CONF_ERR(p, "expected 'key = value' or '[section]'");
        return;
    }
    *eq = '\0';
    key = trim(line);
    if (*key == '\0') {
        CONF_ERR(p, "missing key before '='");
        return;
    }
    if (!p->in_section) {
        CONF_ERR(p, "'%s' before any section: put it under [global] or a [service]", key);
        return;
    }
    if (p->skip_section)
        return;
    conf_set_key(p, key, trim(eq + 1));
}

static void walk_lines(struct parser *p, char *text)
{
    char *line, *next;

    for (line = text; line != NULL; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        p->line++;
        if (next == NULL && *line == '\0')
            break;
        parse_line(p, line);
    }
    finish_section(p);
}

/* Rules across services: an address is served once, whichever file names it. */
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
                    if (!addr_equal(&a->addr, &b->addr))
                        continue;
                    if (a->file == b->file)
                        error_in(p, b->file, b->line,
                                 "listen: %s is already used by [%s] on line %d", b->text,
                                 c->svcs[i].name, a->line);
                    else
                        error_in(p, b->file, b->line, "listen: %s is already used by [%s] at %s:%d",
                                 b->text, c->svcs[i].name, a->file, a->line);
                }
            }
        }
    }
}

static struct conf *conf_new(const char *name, bool embedded)
{
    struct conf *conf = calloc(1, sizeof(*conf));
    char unused[64];

    if (conf == NULL || (conf->path = strdup(name)) == NULL) {
        free(conf);
        return NULL;
    }
    conf->refs = 1;
    conf->embedded = embedded;
    conf->shutdown_timeout_ms = DEFAULT_SHUTDOWN_TIMEOUT_MS;
    conf->max_conns = DEFAULT_MAX_CONNS;
    conf->workers = 1;
    conf->log_facility = LOG_DAEMON;
    conf->umask = DEFAULT_UMASK;
    log_target_parse("stderr", &conf->log, unused, sizeof(unused));
    return conf;
}

/*
 * Parse `text` (modified in place; NULL: no usherd.conf) as file `name`,
 * then the inetd.conf named by -I or by the file's `inetd` key, and the
 * xinetd.conf named by -X or by its `xinetd` key.
 */
static struct conf *parse(char *text, const char *name, bool embedded, const char *inetd,
                          const char *xinetd, char **errors)
{
    struct conf_errs errs = {0}, warns = {0};
    struct parser p = {.file = name, .errs = &errs, .warns = &warns};

    *errors = NULL;
    p.conf = conf_new(name, embedded);
    if (p.conf == NULL) {
        *errors = strdup("out of memory\n");
        return NULL;
    }
    p.file = p.conf->path; /* the listeners keep it: the conf's own copy */
    if (text != NULL)
        walk_lines(&p, text);
    if (inetd == NULL && p.conf->inetd[0] != '\0')
        inetd = p.conf->inetd;
    if (inetd != NULL)
        conf_read_inetd(&p, inetd);
    if (xinetd == NULL && p.conf->xinetd[0] != '\0')
        xinetd = p.conf->xinetd;
    if (xinetd != NULL)
        conf_read_xinetd(&p, xinetd);
    check_duplicate_listeners(&p);
    if (errs.count > 0) {
        *errors = errs.text ? errs.text : strdup("out of memory\n");
        free(warns.text);
        conf_free(p.conf);
        return NULL;
    }
    free(errs.text);
    p.conf->warnings = warns.text;
    return p.conf;
}

const char *conf_keep_name(struct parser *p, const char *name)
{
    struct conf *c = p->conf;
    char **grown;

    for (size_t i = 0; i < c->nfiles; i++)
        if (strcmp(c->files[i], name) == 0)
            return c->files[i];
    if ((grown = realloc(c->files, (c->nfiles + 1) * sizeof(*grown))) == NULL)
        return NULL;
    c->files = grown;
    if ((grown[c->nfiles] = strdup(name)) == NULL)
        return NULL;
    return grown[c->nfiles++];
}

/*
 * The length of the UTF-8 sequence at `s` (`left` bytes on), or 0 if it is
 * not one: a stray continuation byte, a sequence cut short, an overlong
 * form, a surrogate (U+D800-U+DFFF) or a code point past U+10FFFF.
 */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    size_t n;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
        cp = s[0] & 0x1fu;
    } else if ((s[0] & 0xf0) == 0xe0) {
        n = 3;
        cp = s[0] & 0x0fu;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/*
 * A file's text must be text: a NUL byte or invalid UTF-8 is an error at
 * its line (the first bad byte of each line, by its place in the line).
 * Returns true if there is none.
 */
static bool check_text(struct parser *p, const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t line_start = 0, n;
    int line = 1;
    bool ok = true, line_bad = false;

    for (size_t i = 0; i < len; i += n) {
        n = s[i] == '\0' ? 0 : utf8_len(s + i, len - i);
        if (n == 0) {
            if (!line_bad)
                conf_error(p, line,
                           s[i] == '\0' ? "a NUL byte at byte %zu of the line: not a text file"
                                        : "invalid UTF-8 at byte %zu of the line",
                           i - line_start + 1);
            line_bad = true;
            ok = false;
            n = 1;
        } else if (s[i] == '\n') {
            line++;
            line_start = i + 1;
            line_bad = false;
        }
    }
    return ok;
}

/*
 * A UTF-8 byte order mark at the start, which some editors write, says
 * nothing but "UTF-8": skipped, so that the first line is read as written.
 */
static void skip_bom(char *text, size_t *len)
{
    if (*len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
        memmove(text, text + 3, *len - 3 + 1);
        *len -= 3;
    }
}

struct conf *conf_parse(const char *text, const char *name, char **errors)
{
    struct conf_errs errs = {0};
    struct parser p = {.file = name, .errs = &errs};
    char *copy = strdup(text);
    struct conf *conf;
    size_t len;

    if (copy == NULL) {
        *errors = strdup("out of memory\n");
        return NULL;
    }
    len = strlen(copy);
    if (!check_text(&p, copy, len)) {
        *errors = errs.text ? errs.text : strdup("out of memory\n");
        free(copy);
        return NULL;
    }
    skip_bom(copy, &len);
    conf = parse(copy, name, false, NULL, NULL, errors);
    free(copy);
    return conf;
}

struct conf *conf_load_default(const char *inetd, char **errors)
{
    char *copy = strdup(conf_default_text);
    struct conf *conf;

    if (copy == NULL) {
        *errors = strdup("out of memory\n");
        return NULL;
    }
    conf = parse(copy, CONF_DEFAULT_NAME, true, inetd, NULL, errors);
    free(copy);
    return conf;
}

static const char *file_type(mode_t mode)
{
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "a device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "a special file";
}

char *conf_read_file(struct parser *p, const char *path, size_t *len)
{
    /*
     * O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer,
     * or a reload would stop the daemon there; a regular file ignores it.
     * O_NOCTTY: a terminal named here does not become ours.
     */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    char *text = NULL;
    ssize_t n;

    if (fd < 0) {
        conf_error(p, 0, "unable to open: %s", strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0) {
        conf_error(p, 0, "unable to stat: %s", strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        conf_error(p, 0, "%s, not a regular file", file_type(st.st_mode));
        goto out;
    }
    if (st.st_size > CONF_FILE_MAX) {
        conf_error(p, 0, "larger than %d bytes", CONF_FILE_MAX);
        goto out;
    }
    if ((text = malloc((size_t)st.st_size + 1)) == NULL) {
        conf_error(p, 0, "out of memory");
        goto out;
    }
    n = read_full(fd, text, (size_t)st.st_size);
    if (n < 0)
        conf_error(p, 0, "unable to read: %s", strerror(errno));
    if (n < 0 || !check_text(p, text, (size_t)n)) {
        free(text);
        text = NULL;
        goto out;
    }
    text[n] = '\0';
    *len = (size_t)n;
    skip_bom(text, len);
out:
    close(fd);
    return text;
}

struct conf *conf_load(const char *path, const char *inetd, char **errors)
{
    struct conf_sources src = {.path = path, .inetd = inetd};

    return conf_load_sources(&src, errors);
}

struct conf *conf_load_sources(const struct conf_sources *src, char **errors)
{
    struct conf_errs errs = {0};
    struct parser p = {.file = src->path, .errs = &errs};
    size_t len;
    char *text;
    struct conf *conf;

    if (src->path == NULL && src->inetd == NULL && src->xinetd == NULL)
        return conf_load_default(NULL, errors);
    /* -I or -X alone: exactly that file's services, under the file's name. */
    if (src->path == NULL)
        return parse(NULL, src->xinetd ? src->xinetd : src->inetd, false, src->inetd, src->xinetd,
                     errors);
    if ((text = conf_read_file(&p, src->path, &len)) == NULL) {
        *errors = errs.text;
        return NULL;
    }
    conf = parse(text, src->path, false, src->inetd, src->xinetd, errors);
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

/* The same banner text?  (The keys name the files; a reload reads what they hold now.) */
static bool banners_equal(const struct svc_conf *a, const struct svc_conf *b)
{
    for (int i = 0; i < BANNER_COUNT; i++)
        if (a->banner[i].len != b->banner[i].len ||
            (a->banner[i].len && memcmp(a->banner[i].text, b->banner[i].text, a->banner[i].len)))
            return false;
    return true;
}

bool conf_svc_equal(const struct svc_conf *a, const struct svc_conf *b)
{
    if (strcmp(a->name, b->name) != 0 || a->nlistens != b->nlistens ||
        strcmp(a->canon ? a->canon : "", b->canon ? b->canon : "") != 0 || !banners_equal(a, b))
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
        conf_free_service(&conf->svcs[i]);
    free(conf->svcs);
    free(conf->path);
    free(conf->inetd_path);
    for (size_t i = 0; i < conf->nfiles; i++)
        free(conf->files[i]);
    free(conf->files);
    free(conf->global_canon);
    free(conf->warnings);
    free(conf);
}

const struct svc_conf *conf_find(const struct conf *conf, const char *name)
{
    for (size_t i = 0; i < conf->nsvcs; i++)
        if (strcmp(conf->svcs[i].name, name) == 0)
            return &conf->svcs[i];
    return NULL;
}
