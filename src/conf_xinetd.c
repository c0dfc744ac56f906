/*
 * conf_xinetd: an xinetd configuration, read as xinetd reads it.
 *
 *   # a comment: a line whose first non-blank character is '#'
 *   defaults
 *   {
 *           only_from      = 127.0.0.1 10.0.0.0
 *           instances      = 60
 *   }
 *   service echo
 *   {
 *           socket_type    = stream
 *           wait           = no
 *           type           = INTERNAL
 *           only_from     += 192.168.1.0
 *   }
 *   include /etc/xinetd.extra
 *   includedir /etc/xinetd.d
 *
 * The '{' and '}' of an entry are lines of their own.  Values are split
 * at blanks (no quoting); '=' sets, '+=' and '-=' add to and take from a
 * list attribute (only_from, no_access, env, passenv, log_on_*).  One
 * defaults entry gives its values to every service (its lists and banners
 * as starting values to the services after it, as xinetd does).
 * includedir reads the directory's files in strcmp order, but those whose
 * names contain a '.' or end in '~' (editor and package manager leftovers),
 * and, like xinetd, skips an entry that is not a regular file.  A file
 * already being read, reached again through include or includedir (a
 * symbolic link, say), is an error: an include loop.
 *
 * What each attribute becomes in usherd is conf_xinetd_keys.c's.
 */
#include "conf_xinetd.h"

#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define XI_DEPTH_MAX       16         /* files and directories being read, nested */
#define XI_FILES_MAX       10000      /* files read in one load */
#define XI_DIR_ENTRIES_MAX 10000      /* names in one includedir */
#define XI_BYTES_MAX       (64 << 20) /* all the files together */

/* The attributes */

enum { IN_SVC = 1, IN_DEF = 2 };

struct xi_def {
    const char *name;
    enum xi_attr_id id;
    int nvalues; /* exactly this many values; -1: any number */
    bool list;   /* takes += and -= (xinetd's modifiable attributes) */
    unsigned where;
    bool early;          /* a service after the defaults entry starts with the defaults' value */
    const char *ignored; /* accepted with a warning: what usherd does instead */
    const char *unsupported;
};

static const struct xi_def defs[] = {
    {"socket_type", XA_SOCKET_TYPE, 1, false, IN_SVC, false, NULL, NULL},
    {"protocol", XA_PROTOCOL, 1, false, IN_SVC, false, NULL, NULL},
    {"wait", XA_WAIT, 1, false, IN_SVC, false, NULL, NULL},
    {"user", XA_USER, 1, false, IN_SVC, false, NULL, NULL},
    {"group", XA_GROUP, 1, false, IN_SVC, false, NULL, NULL},
    {"server", XA_SERVER, 1, false, IN_SVC, false, NULL, NULL},
    {"server_args", XA_SERVER_ARGS, -1, false, IN_SVC, false, NULL, NULL},
    {"instances", XA_INSTANCES, 1, false, IN_SVC | IN_DEF, false, NULL, NULL},
    {"per_source", XA_PER_SOURCE, 1, false, IN_SVC | IN_DEF, false, NULL, NULL},
    {"cps", XA_CPS, 2, false, IN_SVC | IN_DEF, false, NULL, NULL},
    {"only_from", XA_ONLY_FROM, -1, true, IN_SVC | IN_DEF, true, NULL, NULL},
    {"no_access", XA_NO_ACCESS, -1, true, IN_SVC | IN_DEF, true, NULL, NULL},
    {"type", XA_TYPE, -1, false, IN_SVC, false, NULL, NULL},
    {"id", XA_ID, 1, false, IN_SVC, false, NULL, NULL},
    {"env", XA_ENV, -1, true, IN_SVC, false, NULL, NULL},
    {"passenv", XA_PASSENV, -1, true, IN_SVC | IN_DEF, true, NULL, NULL},
    {"port", XA_PORT, 1, false, IN_SVC, false, NULL, NULL},
    {"flags", XA_FLAGS, -1, false, IN_SVC, false, NULL, NULL},
    {"nice", XA_NICE, 1, false, IN_SVC, false, NULL, NULL},
    {"redirect", XA_REDIRECT, 2, false, IN_SVC, false, NULL, NULL},
    {"banner", XA_BANNER, 1, false, IN_SVC | IN_DEF, true, NULL, NULL},
    {"banner_success", XA_BANNER_SUCCESS, 1, false, IN_SVC | IN_DEF, true, NULL, NULL},
    {"banner_fail", XA_BANNER_FAIL, 1, false, IN_SVC | IN_DEF, true, NULL, NULL},
    {"bind", XA_BIND, 1, false, IN_SVC | IN_DEF, false, NULL, NULL},
    {"interface", XA_BIND, 1, false, IN_SVC | IN_DEF, false, NULL, NULL},
    {"disable", XA_DISABLE, 1, false, IN_SVC, false, NULL, NULL},
    {"umask", XA_UMASK, 1, false, IN_SVC | IN_DEF, false, NULL, NULL},
    {"v6only", XA_V6ONLY, 1, false, IN_SVC | IN_DEF, false, NULL, NULL},
    {"rlimit_as", XA_RLIMIT_AS, 1, false, IN_SVC, false, NULL, NULL},
    {"rlimit_cpu", XA_RLIMIT_CPU, 1, false, IN_SVC, false, NULL, NULL},
    {"rlimit_data", XA_RLIMIT_DATA, 1, false, IN_SVC, false, NULL, NULL},
    {"rlimit_rss", XA_RLIMIT_RSS, 1, false, IN_SVC, false, NULL, NULL},
    {"rlimit_stack", XA_RLIMIT_STACK, 1, false, IN_SVC, false, NULL, NULL},
    {"rlimit_files", XA_RLIMIT_FILES, 1, false, IN_SVC, false, NULL, NULL},
    {"disabled", XA_DISABLED, -1, true, IN_DEF, false, NULL, NULL},
    {"enabled", XA_ENABLED, -1, true, IN_DEF, false, NULL, NULL},
    {"log_type", XA_LOG_TYPE, -1, false, IN_SVC | IN_DEF, false,
     "usherd logs to its own target (log in [global]: stderr, syslog; log_format = json)", NULL},
    {"log_on_success", XA_LOG_ON_SUCCESS, -1, true, IN_SVC | IN_DEF, true,
     "usherd logs one line per connection as it ends: peer, duration, bytes, exit status "
     "(log_connections = failures: only the failures)",
     NULL},
    {"log_on_failure", XA_LOG_ON_FAILURE, -1, true, IN_SVC | IN_DEF, true,
     "usherd logs every refusal and failure with its reason (end=refused:..., denied)", NULL},
    {"mdns", XA_MDNS, 1, false, IN_SVC | IN_DEF, false, "usherd announces nothing over mDNS", NULL},
    {"groups", XA_GROUPS, 1, false, IN_SVC | IN_DEF, false,
     "usherd gives a program its user's supplementary groups whenever user is set", NULL},
    {"libwrap", XA_LIBWRAP, 1, false, IN_SVC, false,
     "usherd reads no hosts.allow or hosts.deny: only_from and no_access are its allow and deny",
     NULL},
    {"deny_time", XA_DENY_TIME, 1, false, IN_SVC, false,
     "usherd refuses each connection over a limit and bars no address for a time", NULL},
    {"max_load", XA_MAX_LOAD, 1, false, IN_SVC | IN_DEF, false,
     "usherd does not look at the load average: instances, per_source and cps limit", NULL},
    {"access_times", XA_ACCESS_TIMES, -1, false, IN_SVC, false, NULL,
     "usherd has no times of day for access"},
    {"rpc_version", XA_RPC_VERSION, 1, false, IN_SVC, false, NULL,
     "usherd does not serve RPC services"},
    {"rpc_number", XA_RPC_NUMBER, 1, false, IN_SVC, false, NULL,
     "usherd does not serve RPC services"},
};

static const struct xi_def *find_def(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(defs); i++)
        if (strcmp(defs[i].name, name) == 0)
            return &defs[i];
    return NULL;
}

static const struct xi_def *def_of(enum xi_attr_id id)
{
    for (size_t i = 0; i < ARRAY_LEN(defs); i++)
        if (defs[i].id == id)
            return &defs[i];
    return NULL;
}

const char *xinetd_attr_name(enum xi_attr_id id)
{
    const struct xi_def *d = def_of(id);

    return d ? d->name : "?";
}

const char *xinetd_attr_ignored(enum xi_attr_id id)
{
    const struct xi_def *d = def_of(id);

    return d ? d->ignored : NULL;
}

/* Splitting a file */

#define BLANKS " \t\r\v\f"

enum split_state { OUTSIDE, WANT_BRACE, IN_ENTRY, SKIPPING };

struct splitter {
    struct parser *p;
    struct xi_file *f;
    enum split_state state;
    struct xi_item *cur; /* the entry being read, once its header is accepted */
    int entry_line;
};

/* Is `line` this one character, blanks around it allowed? */
static bool only_char(const char *line, char ch)
{
    const char *c = line + strspn(line, BLANKS);

    return *c == ch && c[1 + strspn(c + 1, BLANKS)] == '\0';
}

/* Cut `line` into words in place; returns the count (at most max, *more if there were more). */
static size_t cut_words(char *line, char **words, size_t max, bool *more)
{
    size_t n = 0;
    char *save = NULL;

    *more = false;
    for (char *w = strtok_r(line, BLANKS, &save); w; w = strtok_r(NULL, BLANKS, &save)) {
        if (n == max) {
            *more = true;
            break;
        }
        words[n++] = w;
    }
    return n;
}

/* The last item, an entry that turned out to be none: gone, with its attributes. */
static void drop_last(struct xi_file *f)
{
    struct xi_item *it = &f->items[--f->nitems];

    for (size_t j = 0; j < it->nattrs; j++)
        free(it->attrs[j].values);
    free(it->attrs);
}

static struct xi_item *new_item(struct splitter *s, enum xi_item_kind kind, char *name)
{
    struct xi_file *f = s->f;
    struct xi_item *grown = realloc(f->items, (f->nitems + 1) * sizeof(*grown));

    if (grown == NULL) {
        CONF_ERR(s->p, "out of memory");
        return NULL;
    }
    f->items = grown;
    grown[f->nitems] = (struct xi_item){.kind = kind, .name = name, .line = s->p->line};
    return &grown[f->nitems++];
}

/* A line outside any entry: an entry's header or a directive. */
static void split_outside(struct splitter *s, char *line)
{
    struct parser *p = s->p;
    char *w[3] = {NULL};
    bool more;
    size_t n;

    if (only_char(line, '}')) {
        CONF_ERR(p, "'}' without an entry open: braces do not balance");
        return;
    }
    if (only_char(line, '{')) {
        CONF_ERR(p, "'{' without 'service NAME' or 'defaults' on the line before");
        s->state = SKIPPING;
        s->entry_line = p->line;
        return;
    }
    if ((n = cut_words(line, w, 3, &more)) == 0)
        return; /* a blank line: never here */
    s->entry_line = p->line;
    if (strcmp(w[0], "defaults") == 0 && n == 1) {
        s->cur = new_item(s, XI_DEFAULTS, w[0]);
    } else if (strcmp(w[0], "service") == 0 && n == 2) {
        s->cur = new_item(s, XI_SERVICE, w[1]);
    } else if ((strcmp(w[0], "include") == 0 || strcmp(w[0], "includedir") == 0) && n == 2) {
        new_item(s, w[0][7] == 'd' ? XI_INCLUDEDIR : XI_INCLUDE, w[1]);
        return;
    } else if (strcmp(w[0], "service") == 0 || strcmp(w[0], "defaults") == 0 ||
               strcmp(w[0], "include") == 0 || strcmp(w[0], "includedir") == 0) {
        CONF_ERR(p, "%s: expected '%s'", w[0],
                 w[0][0] == 's'   ? "service NAME"
                 : w[0][0] == 'd' ? "defaults"
                 : w[0][7] == 'd' ? "includedir DIRECTORY"
                                  : "include FILE");
        s->state = n >= 2 && w[0][0] != 'i' ? WANT_BRACE : OUTSIDE;
        s->cur = NULL;
        return;
    } else {
        CONF_ERR(p,
                 "'%s': expected 'service NAME', 'defaults', 'include FILE' or "
                 "'includedir DIRECTORY'",
                 w[0]);
        return;
    }
    s->state = WANT_BRACE;
}

/* The line after an entry's header must be its '{'. */
static void split_brace(struct splitter *s, char *line)
{
    if (only_char(line, '{')) {
        s->state = s->cur != NULL ? IN_ENTRY : SKIPPING;
        return;
    }
    CONF_ERR(s->p, "expected '{' alone on the line after the entry begun on line %d",
             s->entry_line);
    if (s->cur != NULL)
        drop_last(s->f); /* the header without its brace is no entry */
    s->cur = NULL;
    s->state = OUTSIDE;
    split_outside(s, line);
}

/* NAME OP: the operator after the name, or -1; *rest after it. */
static int parse_op(char *c, char **rest)
{
    if (c[0] == '=') {
        *rest = c + 1;
        return XI_SET;
    }
    if ((c[0] == '+' || c[0] == '-') && c[1] == '=') {
        *rest = c + 2;
        return c[0] == '+' ? XI_ADD : XI_REMOVE;
    }
    return -1;
}

static bool valid_attr_name(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return false;
    return len > 0;
}

/* An attribute line of the entry being read. */
static void split_attr(struct splitter *s, char *line)
{
    struct parser *p = s->p;
    struct xi_item *it = s->cur;
    char *name = line + strspn(line, BLANKS), *c, *rest, *words[XI_VALUES_MAX];
    size_t len = strcspn(name, BLANKS "=+-"), n;
    struct xi_attr *grown, *a;
    bool more;
    int op;

    c = name + len;
    c += strspn(c, BLANKS);
    if (!valid_attr_name(name, len) || (op = parse_op(c, &rest)) < 0) {
        if (strncmp(name, "service", 7) == 0 || strncmp(name, "defaults", 8) == 0 ||
            strncmp(name, "include", 7) == 0 || only_char(line, '{'))
            CONF_ERR(p, "'%.*s' inside the entry begun on line %d: a '}' is missing before it",
                     (int)strcspn(name, BLANKS), name, it->line);
        else
            CONF_ERR(p, "'%.*s': expected 'ATTRIBUTE = VALUE...' (or += or -=)",
                     (int)strcspn(name, BLANKS), name);
        return;
    }
    name[len] = '\0';
    n = cut_words(rest, words, ARRAY_LEN(words), &more);
    if (more) {
        CONF_ERR(p, "%s: more than %d values", name, XI_VALUES_MAX);
        return;
    }
    if ((grown = realloc(it->attrs, (it->nattrs + 1) * sizeof(*grown))) == NULL) {
        CONF_ERR(p, "out of memory");
        return;
    }
    it->attrs = grown;
    a = &grown[it->nattrs];
    *a = (struct xi_attr){.name = name, .op = (enum xi_op)op, .nvalues = n, .line = p->line};
    if ((a->values = calloc(n + 1, sizeof(*a->values))) == NULL) {
        CONF_ERR(p, "out of memory");
        return;
    }
    memcpy(a->values, words, n * sizeof(*words));
    it->nattrs++;
}

static void split_line(struct splitter *s, char *line)
{
    const char *first = line + strspn(line, BLANKS);

    if (*first == '\0' || *first == '#')
        return;
    switch (s->state) {
    case OUTSIDE:
        split_outside(s, line);
        break;
    case WANT_BRACE:
        split_brace(s, line);
        break;
    case IN_ENTRY:
    case SKIPPING:
        if (only_char(line, '}')) {
            s->state = OUTSIDE;
            s->cur = NULL;
        } else if (s->state == IN_ENTRY) {
            split_attr(s, line);
        }
        break;
    }
}

void xinetd_split(struct parser *p, char *text, struct xi_file *f)
{
    struct splitter s = {.p = p, .f = f, .state = OUTSIDE};
    char *line, *next;

    f->text = text;
    p->line = 0;
    for (line = text; line != NULL; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        p->line++;
        split_line(&s, line);
    }
    if (s.state == IN_ENTRY || s.state == WANT_BRACE || s.state == SKIPPING)
        conf_error(p, s.entry_line ? s.entry_line : p->line,
                   "the entry begun here has no '}' before the end of the file: braces do not "
                   "balance");
    if (s.state != OUTSIDE && s.cur != NULL)
        drop_last(f); /* an entry cut short serves nothing */
}

void xinetd_file_free(struct xi_file *f)
{
    for (size_t i = 0; i < f->nitems; i++) {
        for (size_t j = 0; j < f->items[i].nattrs; j++)
            free(f->items[i].attrs[j].values);
        free(f->items[i].attrs);
    }
    free(f->items);
    free(f->text);
    memset(f, 0, sizeof(*f));
}

/* Merging: each attribute after its operators */

static int value_push(struct parser *p, struct xi_value *v, char *word)
{
    if (v->n + 1 >= v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        char **grown = realloc(v->v, cap * sizeof(*grown));
        if (grown == NULL) {
            CONF_ERR(p, "out of memory");
            return -1;
        }
        v->v = grown;
        v->cap = cap;
    }
    v->v[v->n++] = word;
    v->v[v->n] = NULL;
    return 0;
}

static void value_clear(struct xi_value *v)
{
    v->n = 0;
    if (v->v != NULL)
        v->v[0] = NULL;
}

/* Take `word` out of a list, every time it is there. */
static void value_remove(struct xi_value *v, const char *word)
{
    size_t k = 0;

    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->v[i], word) != 0)
            v->v[k++] = v->v[i];
    v->n = k;
    if (v->v != NULL)
        v->v[k] = NULL;
}

static void value_copy(struct parser *p, struct xi_value *to, const struct xi_value *from)
{
    value_clear(to);
    for (size_t i = 0; i < from->n; i++)
        if (value_push(p, to, from->v[i]) < 0)
            return;
    to->file = from->file;
    to->line = from->line;
    to->inherited = true;
}

/* Count and operator of one line; false with the error noted. */
static bool check_line(struct parser *p, const struct xi_def *d, const struct xi_attr *a,
                       const struct xi_value *v, bool in_defaults)
{
    if (!d->list && a->op != XI_SET) {
        CONF_ERR(p, "%s: takes only '=' (not '%s')", a->name, a->op == XI_ADD ? "+=" : "-=");
        return false;
    }
    if (d->id == XA_ENV && a->op == XI_REMOVE) {
        CONF_ERR(p, "env: takes '=' and '+=' (not '-=', as in xinetd)");
        return false;
    }
    if (!d->list && v->line != 0 && !v->inherited) {
        CONF_ERR(p, "%s: set twice in this %s (first on line %d)", a->name,
                 in_defaults ? "defaults entry" : "service", v->line);
        return false;
    }
    if (d->nvalues >= 0 && a->nvalues != (size_t)d->nvalues) {
        CONF_ERR(p, "%s: takes %d value%s, not %zu", a->name, d->nvalues,
                 d->nvalues == 1 ? "" : "s", a->nvalues);
        return false;
    }
    if (d->nvalues < 0 && a->nvalues == 0 && !d->list) {
        CONF_ERR(p, "%s: no value", a->name);
        return false;
    }
    return true;
}

/* Apply one line to its value.  A defaults entry's '=' adds to a list, as xinetd has it. */
static void apply_line(struct parser *p, const struct xi_def *d, const struct xi_attr *a,
                       const char *file, struct xi_value *v, bool in_defaults)
{
    enum xi_op op = a->op;

    if (!check_line(p, d, a, v, in_defaults))
        return;
    if (op == XI_SET && in_defaults && d->list)
        op = XI_ADD;
    if (op == XI_SET)
        value_clear(v); /* '=' replaces, what the defaults gave too */
    v->inherited = false;
    v->file = file;
    v->line = a->line; /* set, even to nothing: "only_from =" admits no one */
    for (size_t i = 0; i < a->nvalues; i++) {
        if (op == XI_REMOVE)
            value_remove(v, a->values[i]);
        else if (value_push(p, v, a->values[i]) < 0)
            return;
    }
}

void xinetd_merge_defaults(struct parser *p, const struct xi_item *it, const char *file,
                           struct xi_service *out)
{
    out->name = "defaults";
    out->file = file;
    out->line = it->line;
    for (size_t i = 0; i < it->nattrs; i++) {
        const struct xi_attr *a = &it->attrs[i];
        const struct xi_def *d = find_def(a->name);
        p->line = a->line;
        if (d == NULL) {
            CONF_ERR(p, "unknown attribute '%s'", a->name);
            continue;
        }
        if (!(d->where & IN_DEF)) {
            CONF_ERR(p, "%s: not an attribute of defaults (a service's)", a->name);
            continue;
        }
        apply_line(p, d, a, file, &out->val[d->id], true);
    }
}

/* The defaults' values the service did not set: all but the early ones, which it began with. */
static void fill_from_defaults(struct parser *p, const struct xi_service *defaults,
                               bool after_defaults, struct xi_service *out)
{
    for (size_t i = 0; i < ARRAY_LEN(defs); i++) {
        const struct xi_def *d = &defs[i];
        const struct xi_value *dv = &defaults->val[d->id];
        if (!(d->where & IN_SVC) || dv->line == 0 || out->val[d->id].line != 0)
            continue;
        if (!d->early || after_defaults)
            value_copy(p, &out->val[d->id], dv);
    }
}

void xinetd_merge_service(struct parser *p, const struct xi_service *defaults, bool after_defaults,
                          const struct xi_item *it, const char *file, struct xi_service *out,
                          void (*ignored)(void *arg, enum xi_attr_id id, int line), void *arg)
{
    out->name = it->name;
    out->file = file;
    out->line = it->line;
    for (size_t i = 0; defaults != NULL && after_defaults && i < ARRAY_LEN(defs); i++)
        if (defs[i].early && (defs[i].where & IN_SVC) && defaults->val[defs[i].id].line != 0)
            value_copy(p, &out->val[defs[i].id], &defaults->val[defs[i].id]);
    for (size_t i = 0; i < it->nattrs; i++) {
        const struct xi_attr *a = &it->attrs[i];
        const struct xi_def *d = find_def(a->name);
        p->line = a->line;
        if (d == NULL) {
            CONF_ERR(p, "unknown attribute '%s'", a->name);
        } else if (!(d->where & IN_SVC)) {
            CONF_ERR(p, "%s: belongs in the defaults entry", a->name);
        } else if (d->unsupported != NULL) {
            CONF_ERR(p, "%s: not supported: %s", a->name, d->unsupported);
        } else {
            if (d->ignored != NULL && ignored != NULL)
                ignored(arg, d->id, a->line);
            apply_line(p, d, a, file, &out->val[d->id], false);
        }
    }
    if (defaults != NULL)
        fill_from_defaults(p, defaults, after_defaults, out);
}

void xinetd_service_free(struct xi_service *s)
{
    for (int i = 0; i < XA_COUNT; i++)
        free(s->val[i].v);
    memset(s, 0, sizeof(*s));
}

bool xinetd_self_disabled(struct parser *p, const struct xi_item *it)
{
    bool disabled = false;

    for (size_t i = 0; i < it->nattrs; i++) {
        const struct xi_attr *a = &it->attrs[i];
        if (strcmp(a->name, "disable") != 0)
            continue;
        p->line = a->line;
        if (a->nvalues == 1 && strcmp(a->values[0], "yes") == 0)
            disabled = true;
        else if (a->nvalues != 1 || strcmp(a->values[0], "no") != 0)
            CONF_ERR(p, "disable: expected yes or no");
    }
    return disabled;
}

const char *xinetd_value(const struct xi_service *s, enum xi_attr_id id)
{
    return s->val[id].line != 0 && s->val[id].n > 0 ? s->val[id].v[0] : NULL;
}

bool xinetd_has(const struct xi_service *s, enum xi_attr_id id, const char *word)
{
    for (size_t i = 0; i < s->val[id].n; i++)
        if (strcmp(s->val[id].v[i], word) == 0)
            return true;
    return false;
}

/* Reading the files */

struct reader {
    struct parser *p;
    struct xi_file *files; /* every file read, kept until the services are made */
    size_t nfiles;
    struct {
        dev_t dev;
        ino_t ino;
    } stack[XI_DEPTH_MAX]; /* the files and directories being read */
    int depth;
    size_t bytes;
    struct xi_item *defaults;
    const char *defaults_file;
    struct entry {
        const struct xi_item *item;
        const char *file;
        bool after_defaults;
    } * entries;
    size_t nentries;
    unsigned long warned; /* the ignored attributes warned about, a bit each */
};

static void read_path(struct reader *r, const char *path, int line);
static void read_dir(struct reader *r, const char *dir, int line);

/* Push (dev, ino) of what is about to be read; false with the error noted if it is being read. */
static bool push(struct reader *r, const struct stat *st, const char *path, int line)
{
    for (int i = 0; i < r->depth; i++) {
        if (r->stack[i].dev == st->st_dev && r->stack[i].ino == st->st_ino) {
            conf_error(r->p, line, "include loop: %s is already being read", path);
            return false;
        }
    }
    if (r->depth == XI_DEPTH_MAX) {
        conf_error(r->p, line, "includes nested more than %d deep at %s", XI_DEPTH_MAX, path);
        return false;
    }
    r->stack[r->depth].dev = st->st_dev;
    r->stack[r->depth].ino = st->st_ino;
    r->depth++;
    return true;
}

static void note_entry(struct reader *r, const struct xi_item *it, const char *file)
{
    struct entry *grown;

    if (it->kind == XI_DEFAULTS) {
        if (r->defaults != NULL) {
            conf_error(r->p, it->line, "a second defaults entry (the first is at %s:%d)",
                       r->defaults_file, r->defaults->line);
            return;
        }
        r->defaults = (struct xi_item *)it;
        r->defaults_file = file;
        return;
    }
    if ((grown = realloc(r->entries, (r->nentries + 1) * sizeof(*grown))) == NULL) {
        conf_error(r->p, it->line, "out of memory");
        return;
    }
    r->entries = grown;
    grown[r->nentries++] = (struct entry){it, file, r->defaults != NULL};
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* xinetd's rule: no '.' in the name (editor, package and hidden files), no '~' at its end. */
static bool skipped_name(const char *name)
{
    size_t len = strlen(name);

    return len == 0 || strchr(name, '.') != NULL || name[len - 1] == '~';
}

/* The names of DIR's entries that includedir reads, sorted; NULL with the error noted. */
static char **list_dir(struct reader *r, int dirfd, const char *dir, int line, size_t *n)
{
    DIR *d = fdopendir(dirfd);
    char **names = NULL;
    struct dirent *e;

    *n = 0;
    if (d == NULL) {
        conf_error(r->p, line, "includedir %s: unable to read: %s", dir, strerror(errno));
        close(dirfd);
        return NULL;
    }
    while ((errno = 0, e = readdir(d)) != NULL) {
        char **grown;
        if (skipped_name(e->d_name))
            continue;
        if (*n == XI_DIR_ENTRIES_MAX) {
            conf_error(r->p, line, "includedir %s: more than %d files", dir, XI_DIR_ENTRIES_MAX);
            break;
        }
        if ((grown = realloc(names, (*n + 1) * sizeof(*grown))) == NULL ||
            (grown[*n] = strdup(e->d_name)) == NULL) {
            names = grown ? grown : names;
            conf_error(r->p, line, "out of memory");
            break;
        }
        names = grown;
        (*n)++;
    }
    if (e == NULL && errno != 0)
        conf_error(r->p, line, "includedir %s: unable to read: %s", dir, strerror(errno));
    closedir(d);
    if (names != NULL)
        qsort(names, *n, sizeof(*names), by_name);
    return names;
}

static void read_dir(struct reader *r, const char *dir, int line)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    size_t n = 0;
    char **names;

    if (fd < 0 || fstat(fd, &st) < 0) {
        conf_error(r->p, line, "includedir %s: unable to open: %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    if (!push(r, &st, dir, line)) {
        close(fd);
        return;
    }
    names = list_dir(r, fd, dir, line, &n);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat fst;
        if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= (int)sizeof(path))
            conf_error(r->p, line, "includedir %s: a name too long in it", dir);
        else if (stat(path, &fst) < 0)
            conf_error(r->p, line, "includedir %s: unable to stat %s: %s", dir, names[i],
                       strerror(errno));
        else if (!S_ISREG(fst.st_mode))
            conf_warning(r->p, line, "includedir %s: %s is not a regular file: skipped", dir,
                         names[i]);
        else
            read_path(r, path, line);
        free(names[i]);
    }
    free(names);
    r->depth--;
}

/* The includes of the file just read (r->files[idx]), in their order, and its entries. */
static void read_items(struct reader *r, size_t idx)
{
    struct parser *p = r->p;
    const char *file = r->files[idx].path;

    /* Index, not pointer: an include read here grows r->files (the items stay where they are). */
    for (size_t i = 0; i < r->files[idx].nitems; i++) {
        const struct xi_item *it = &r->files[idx].items[i];
        p->file = file;
        p->line = it->line;
        if (it->kind == XI_DEFAULTS || it->kind == XI_SERVICE)
            note_entry(r, it, file);
        else if (it->name[0] != '/')
            CONF_ERR(p, "%s: '%s' must be an absolute path",
                     it->kind == XI_INCLUDE ? "include" : "includedir", it->name);
        else if (it->kind == XI_INCLUDE)
            read_path(r, it->name, it->line);
        else
            read_dir(r, it->name, it->line);
    }
}

/* Read the file `path` (named at `line` of the current file, 0 for -X) and its includes. */
static void read_path(struct reader *r, const char *path, int line)
{
    struct parser *p = r->p;
    const char *outer = p->file, *file;
    struct xi_file *grown;
    struct stat st;
    size_t len;
    char *text;
    bool pushed = false;

    if (r->nfiles == XI_FILES_MAX) {
        conf_error(p, line, "more than %d xinetd files", XI_FILES_MAX);
        return;
    }
    if (line > 0 && stat(path, &st) < 0) {
        conf_error(p, line, "include %s: %s", path, strerror(errno));
        return;
    }
    if (stat(path, &st) == 0) {
        if (!push(r, &st, path, line))
            return;
        pushed = true;
    }
    if ((file = conf_keep_name(p, path)) == NULL) {
        conf_error(p, line, "out of memory");
        r->depth -= pushed;
        return;
    }
    p->file = file;
    text = conf_read_file(p, path, &len);
    if (text != NULL && (r->bytes += len) > XI_BYTES_MAX) {
        conf_error(p, 0, "the xinetd files add up to more than %d bytes", XI_BYTES_MAX);
        free(text);
    } else if (text != NULL && (grown = realloc(r->files, (r->nfiles + 1) * sizeof(*grown)))) {
        r->files = grown;
        grown[r->nfiles] = (struct xi_file){.path = file};
        xinetd_split(p, text, &grown[r->nfiles++]);
        read_items(r, r->nfiles - 1);
    } else if (text != NULL) {
        conf_error(p, 0, "out of memory");
        free(text);
    }
    r->depth -= pushed; /* the includes read above have popped what they pushed */
    p->file = outer;
    p->line = line;
}

/* Reporting the ignored attributes, once each */

static void warn_ignored(void *arg, enum xi_attr_id id, int line)
{
    struct reader *r = arg;
    unsigned long bit = 1UL << (id - XA_LOG_TYPE);

    if (r->warned & bit)
        return;
    r->warned |= bit;
    conf_warning(r->p, line, "%s: ignored; %s", xinetd_attr_name(id), xinetd_attr_ignored(id));
}

/* Does the defaults entry's enabled or disabled list leave out the service of id `id`? */
static bool listed_off(const struct xi_service *defaults, const char *id)
{
    const struct xi_value *en = &defaults->val[XA_ENABLED], *dis = &defaults->val[XA_DISABLED];

    for (size_t i = 0; i < dis->n; i++)
        if (strcmp(dis->v[i], id) == 0)
            return true;
    if (en->line == 0)
        return false;
    for (size_t i = 0; i < en->n; i++)
        if (strcmp(en->v[i], id) == 0)
            return false;
    return true;
}

/* The id an entry gives itself (its last id line), or its name. */
static const char *entry_id(const struct xi_item *it)
{
    const char *id = it->name;

    for (size_t i = 0; i < it->nattrs; i++)
        if (strcmp(it->attrs[i].name, "id") == 0 && it->attrs[i].nvalues == 1)
            id = it->attrs[i].values[0];
    return id;
}

static void make_services(struct reader *r, const struct xi_service *defaults)
{
    struct xi_done *done = NULL;
    size_t ndone = 0;

    for (size_t i = 0; i < r->nentries; i++) {
        const struct entry *e = &r->entries[i];
        struct xi_service s = {0};
        r->p->file = e->file;
        if (xinetd_self_disabled(r->p, e->item) || listed_off(defaults, entry_id(e->item)))
            continue; /* not served: its syntax was all there was to check */
        xinetd_merge_service(r->p, defaults, e->after_defaults, e->item, e->file, &s, warn_ignored,
                             r);
        xinetd_add_service(r->p, &s, &done, &ndone);
        xinetd_service_free(&s);
    }
    free(done);
}

void conf_read_xinetd(struct parser *p, const char *path)
{
    struct reader r = {.p = p};
    struct xi_service defaults = {0};
    const char *file = p->file;
    int line = p->line;

    read_path(&r, path, 0);
    if (r.defaults != NULL) {
        p->file = r.defaults_file;
        xinetd_merge_defaults(p, r.defaults, r.defaults_file, &defaults);
        for (int id = XA_LOG_TYPE; id < XA_ACCESS_TIMES; id++)
            if (defaults.val[id].line != 0)
                warn_ignored(&r, (enum xi_attr_id)id, defaults.val[id].line);
    }
    make_services(&r, &defaults);
    xinetd_service_free(&defaults);
    for (size_t i = 0; i < r.nfiles; i++)
        xinetd_file_free(&r.files[i]);
    free(r.files);
    free(r.entries);
    p->file = file;
    p->line = line;
}
