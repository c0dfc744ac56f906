/*
 * status: decoding usherd's status document, rates between two samples,
 * and the table of status.h.
 *
 * The table is made in two passes: every cell is formatted first, into a
 * grid of fixed-size cells, so that each column can be as wide as its
 * widest cell; then the rows are printed.  Cells are bounded (a long
 * name is cut, with "..."), so a row's width is too.
 */
#include "status.h"

#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CELL_MAX  48  /* a cell's text and its NUL */
#define SHOWN_MAX 33  /* a name or a peer in a cell: 32 bytes shown, or 29 and "..." */
#define TEXT_MAX  160 /* the version, the config path, a reason in the header lines */
#define COLS_MAX  11

/* Decoding */

/* Where in the document a value is, for messages: "services[2].refused". */
struct where {
    char path[96];
};

/* A path too long for its buffer is cut, and says so: it is only for a message. */
static void where_cut(struct where *w, int n)
{
    if (n < 0 || (size_t)n >= sizeof(w->path))
        memcpy(w->path + sizeof(w->path) - 4, "...", 4);
}

static void where_key(struct where *w, const struct where *parent, const char *key)
{
    int n =
        snprintf(w->path, sizeof(w->path), "%s%s%s", parent->path, parent->path[0] ? "." : "", key);
    where_cut(w, n);
}

static void where_index(struct where *w, const struct where *parent, const char *key, size_t i)
{
    int n = snprintf(w->path, sizeof(w->path), "%s%s%s[%zu]", parent->path,
                     parent->path[0] ? "." : "", key, i);
    where_cut(w, n);
}

static const char *type_name(enum json_type t)
{
    static const char *const names[] = {
        [JSON_NULL] = "null",       [JSON_BOOL] = "a boolean", [JSON_NUMBER] = "a number",
        [JSON_STRING] = "a string", [JSON_ARRAY] = "an array", [JSON_OBJECT] = "an object",
    };
    return names[t];
}

/* The member `key` of obj, of `type` (or null, if `nullable`: then *v is NULL). */
static int member(const struct status *st, const struct json_value *obj, const struct where *w,
                  const char *key, enum json_type type, bool nullable, const struct json_value **v,
                  char *err, size_t errlen)
{
    struct where at;

    if (json_member(&st->doc, obj, key, v) < 0) {
        if (errno == EEXIST)
            return err_set(err, errlen, "%s%s\"%s\" given twice", w->path, w->path[0] ? ": " : "",
                           key);
        return err_set(err, errlen, "%s%sno \"%s\"", w->path, w->path[0] ? ": " : "", key);
    }
    if (nullable && (*v)->type == JSON_NULL) {
        *v = NULL;
        return 0;
    }
    if ((*v)->type != type) {
        where_key(&at, w, key);
        return err_set(err, errlen, "%s: expected %s, not %s", at.path, type_name(type),
                       type_name((*v)->type));
    }
    return 0;
}

static int get_string(const struct status *st, const struct json_value *obj, const struct where *w,
                      const char *key, bool nullable, const char **out, char *err, size_t errlen)
{
    const struct json_value *v;
    struct where at;

    if (member(st, obj, w, key, JSON_STRING, nullable, &v, err, errlen) < 0)
        return -1;
    *out = v != NULL ? v->text : NULL;
    if (v != NULL && strlen(v->text) != v->len) {
        where_key(&at, w, key);
        return err_set(err, errlen, "%s: a NUL in the string", at.path);
    }
    return 0;
}

static int number_failed(const struct where *w, const char *key, char *err, size_t errlen)
{
    struct where at;

    where_key(&at, w, key);
    return err_set(err, errlen, "%s: expected a whole number from 0 to 2^64-1", at.path);
}

static int get_u64(const struct status *st, const struct json_value *obj, const struct where *w,
                   const char *key, uint64_t *out, char *err, size_t errlen)
{
    const struct json_value *v;

    if (member(st, obj, w, key, JSON_NUMBER, false, &v, err, errlen) < 0)
        return -1;
    if (json_u64(v, out) < 0)
        return number_failed(w, key, err, errlen);
    return 0;
}

static int decode_refused(struct status *st, const struct json_value *obj, const struct where *w,
                          struct status_service *s, char *err, size_t errlen)
{
    const struct json_value *r;
    struct where at;
    size_t i = 0;

    where_key(&at, w, "refused");
    if (obj->count > 0 && (s->reasons = calloc(obj->count, sizeof(*s->reasons))) == NULL)
        return err_set(err, errlen, "out of memory");
    for (r = json_first(&st->doc, obj); r != NULL; r = json_next(&st->doc, r), i++) {
        struct status_refusal *f = &s->reasons[i];
        if (strlen(r->key) != r->key_len)
            return err_set(err, errlen, "%s: a NUL in a reason", at.path);
        f->reason = r->key;
        if (r->type != JSON_NUMBER || json_u64(r, &f->count) < 0)
            return number_failed(&at, r->key, err, errlen);
        s->refused = f->count > UINT64_MAX - s->refused ? UINT64_MAX : s->refused + f->count;
        s->nreasons++;
    }
    return 0;
}

static int decode_listen(struct status *st, const struct json_value *obj, const struct where *w,
                         struct status_service *s, char *err, size_t errlen)
{
    const struct json_value *list, *a;
    struct where at;

    if (member(st, obj, w, "listen", JSON_ARRAY, false, &list, err, errlen) < 0)
        return -1;
    where_key(&at, w, "listen");
    for (a = json_first(&st->doc, list); a != NULL; a = json_next(&st->doc, a))
        if (a->type != JSON_STRING)
            return err_set(err, errlen, "%s: expected strings, not %s", at.path,
                           type_name(a->type));
    s->nlisten = list->count;
    return 0;
}

static int decode_service(struct status *st, const struct json_value *obj, const struct where *w,
                          struct status_service *s, char *err, size_t errlen)
{
    const struct json_value *refused;

    if (obj->type != JSON_OBJECT)
        return err_set(err, errlen, "%s: expected an object, not %s", w->path,
                       type_name(obj->type));
    if (get_string(st, obj, w, "name", false, &s->name, err, errlen) < 0 ||
        get_string(st, obj, w, "model", false, &s->model, err, errlen) < 0 ||
        decode_listen(st, obj, w, s, err, errlen) < 0 ||
        get_u64(st, obj, w, "active", &s->active, err, errlen) < 0 ||
        get_u64(st, obj, w, "total", &s->total, err, errlen) < 0 ||
        get_u64(st, obj, w, "received_bytes", &s->received, err, errlen) < 0 ||
        get_u64(st, obj, w, "sent_bytes", &s->sent, err, errlen) < 0 ||
        get_u64(st, obj, w, "children", &s->children, err, errlen) < 0 ||
        member(st, obj, w, "refused", JSON_OBJECT, false, &refused, err, errlen) < 0)
        return -1;
    return decode_refused(st, refused, w, s, err, errlen);
}

static int decode_conn(struct status *st, const struct json_value *obj, const struct where *w,
                       struct status_conn *c, char *err, size_t errlen)
{
    const struct json_value *pid;

    if (obj->type != JSON_OBJECT)
        return err_set(err, errlen, "%s: expected an object, not %s", w->path,
                       type_name(obj->type));
    if (get_string(st, obj, w, "service", false, &c->service, err, errlen) < 0 ||
        get_string(st, obj, w, "peer", false, &c->peer, err, errlen) < 0 ||
        get_u64(st, obj, w, "age_ms", &c->age_ms, err, errlen) < 0 ||
        member(st, obj, w, "pid", JSON_NUMBER, true, &pid, err, errlen) < 0)
        return -1;
    c->has_pid = pid != NULL;
    if (pid != NULL && json_u64(pid, &c->pid) < 0)
        return number_failed(w, "pid", err, errlen);
    return 0;
}

/* The array `key` of the document: its elements decoded by `one` into *items (each `size` bytes).
 */
static int decode_list(struct status *st, const char *key, size_t size, void **items, size_t *n,
                       int (*one)(struct status *, const struct json_value *, const struct where *,
                                  void *, char *, size_t),
                       char *err, size_t errlen)
{
    const struct where top = {""};
    const struct json_value *list, *e;
    size_t i = 0;

    if (member(st, json_root(&st->doc), &top, key, JSON_ARRAY, false, &list, err, errlen) < 0)
        return -1;
    if (list->count > 0 && (*items = calloc(list->count, size)) == NULL)
        return err_set(err, errlen, "out of memory");
    for (e = json_first(&st->doc, list); e != NULL; e = json_next(&st->doc, e), i++) {
        struct where w;
        where_index(&w, &top, key, i);
        *n = i + 1; /* so that status_free frees what this one holds, whatever happens */
        if (one(st, e, &w, (char *)*items + i * size, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int one_service(struct status *st, const struct json_value *v, const struct where *w,
                       void *item, char *err, size_t errlen)
{
    return decode_service(st, v, w, item, err, errlen);
}

static int one_conn(struct status *st, const struct json_value *v, const struct where *w,
                    void *item, char *err, size_t errlen)
{
    return decode_conn(st, v, w, item, err, errlen);
}

static int decode_top(struct status *st, char *err, size_t errlen)
{
    const struct json_value *root = json_root(&st->doc), *started;
    const struct where top = {""};

    if (root->type != JSON_OBJECT)
        return err_set(err, errlen, "expected an object, not %s", type_name(root->type));
    if (get_string(st, root, &top, "version", false, &st->version, err, errlen) < 0 ||
        get_u64(st, root, &top, "pid", &st->pid, err, errlen) < 0 ||
        member(st, root, &top, "started", JSON_NUMBER, false, &started, err, errlen) < 0 ||
        get_string(st, root, &top, "config", true, &st->config, err, errlen) < 0 ||
        get_u64(st, root, &top, "reloads", &st->reloads, err, errlen) < 0)
        return -1;
    if (json_double(started, &st->started) < 0 || st->started < 0)
        return err_set(err, errlen, "started: expected a Unix time, not %s", started->text);
    if (decode_list(st, "services", sizeof(*st->services), (void **)&st->services, &st->nservices,
                    one_service, err, errlen) < 0 ||
        decode_list(st, "connections", sizeof(*st->conns), (void **)&st->conns, &st->nconns,
                    one_conn, err, errlen) < 0)
        return -1;
    return 0;
}

int status_decode(const char *text, size_t len, struct status *st, char *err, size_t errlen)
{
    char why[256];

    memset(st, 0, sizeof(*st));
    if (json_parse(text, len, &st->doc, why, sizeof(why)) < 0)
        return err_set(err, errlen, "not JSON: %s", why);
    if (decode_top(st, why, sizeof(why)) < 0) {
        status_free(st);
        return err_set(err, errlen, "not a usherd status: %s", why);
    }
    return 0;
}

void status_free(struct status *st)
{
    for (size_t i = 0; i < st->nservices; i++)
        free(st->services[i].reasons);
    free(st->services);
    free(st->conns);
    json_free(&st->doc);
    memset(st, 0, sizeof(*st));
}

/* Rates */

static const struct status_service *find_service(const struct status *st, const char *name)
{
    for (size_t i = 0; i < st->nservices; i++)
        if (strcmp(st->services[i].name, name) == 0)
            return &st->services[i];
    return NULL;
}

static double per_second(uint64_t before, uint64_t after, int64_t elapsed_ms)
{
    return (double)(after - before) * 1000.0 / (double)elapsed_ms;
}

void status_rates(const struct status *prev, const struct status *cur, int64_t elapsed_ms,
                  struct status_rate *rates)
{
    for (size_t i = 0; i < cur->nservices; i++) {
        const struct status_service *s = &cur->services[i], *p = NULL;
        memset(&rates[i], 0, sizeof(rates[i]));
        if (prev != NULL && elapsed_ms > 0 && prev->started == cur->started)
            p = find_service(prev, s->name);
        /* A counter that went back: another daemon answered, or a service of that name anew. */
        if (p == NULL || s->total < p->total || s->received < p->received || s->sent < p->sent)
            continue;
        rates[i].known = true;
        rates[i].conns = per_second(p->total, s->total, elapsed_ms);
        rates[i].received = per_second(p->received, s->received, elapsed_ms);
        rates[i].sent = per_second(p->sent, s->sent, elapsed_ms);
    }
}

/* Units */

void status_bytes(char *buf, size_t size, double bytes)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = bytes / 1024;
    size_t u = 0;

    if (bytes < 1023.5) {
        snprintf(buf, size, "%.0f B", bytes < 0 ? 0 : bytes);
        return;
    }
    /* 1023.6 KiB would show as "1024 KiB": it is 1.0 MiB. */
    while (v >= 1023.5 && u + 1 < ARRAY_LEN(units)) {
        v /= 1024;
        u++;
    }
    snprintf(buf, size, "%.*f %s", v < 9.95 ? 1 : 0, v, units[u]);
}

void status_duration(char *buf, size_t size, int64_t s)
{
    if (s < 0)
        snprintf(buf, size, "-");
    else if (s < 60)
        snprintf(buf, size, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(buf, size, "%lldm %02llds", (long long)(s / 60), (long long)(s % 60));
    else if (s < 86400)
        snprintf(buf, size, "%lldh %02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else
        snprintf(buf, size, "%lldd %02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
}

/* The table */

struct table {
    size_t ncols, nrows;
    const char *heads[COLS_MAX];
    bool right[COLS_MAX]; /* numbers: aligned right */
    size_t width[COLS_MAX];
    char (*cells)[COLS_MAX][CELL_MAX]; /* nrows rows */
};

static void escaped(char *buf, size_t size, const char *s)
{
    str_escape(buf, size, s, strlen(s));
}

static void cell_u64(char *cell, uint64_t n)
{
    snprintf(cell, CELL_MAX, "%llu", (unsigned long long)n);
}

static void service_row(const struct status_service *s, const struct status_rate *r,
                        char row[COLS_MAX][CELL_MAX])
{
    size_t c = 0;

    escaped(row[c++], SHOWN_MAX, s->name);
    escaped(row[c++], SHOWN_MAX, s->model);
    cell_u64(row[c++], s->active);
    cell_u64(row[c++], s->total);
    if (r != NULL && r->known)
        snprintf(row[c++], CELL_MAX, "%.1f", r->conns);
    else if (r != NULL)
        snprintf(row[c++], CELL_MAX, "-");
    cell_u64(row[c++], s->refused);
    status_bytes(row[c++], CELL_MAX, (double)s->received);
    if (r != NULL && r->known)
        status_bytes(row[c++], CELL_MAX, r->received);
    else if (r != NULL)
        snprintf(row[c++], CELL_MAX, "-");
    status_bytes(row[c++], CELL_MAX, (double)s->sent);
    if (r != NULL && r->known)
        status_bytes(row[c++], CELL_MAX, r->sent);
    else if (r != NULL)
        snprintf(row[c++], CELL_MAX, "-");
    cell_u64(row[c++], s->children);
}

static void table_columns(struct table *t, bool rates)
{
    static const struct {
        const char *head;
        bool right, rate;
    } cols[] = {
        {"SERVICE", false, false}, {"MODEL", false, false},   {"ACTIVE", true, false},
        {"TOTAL", true, false},    {"CONN/S", true, true},    {"REFUSED", true, false},
        {"RECEIVED", true, false}, {"RECV/S", true, true},    {"SENT", true, false},
        {"SENT/S", true, true},    {"CHILDREN", true, false},
    };

    t->ncols = 0;
    for (size_t i = 0; i < ARRAY_LEN(cols); i++) {
        if (cols[i].rate && !rates)
            continue;
        t->heads[t->ncols] = cols[i].head;
        t->right[t->ncols++] = cols[i].right;
    }
}

static void table_widths(struct table *t)
{
    for (size_t c = 0; c < t->ncols; c++) {
        t->width[c] = strlen(t->heads[c]);
        for (size_t r = 0; r < t->nrows; r++)
            if (strlen(t->cells[r][c]) > t->width[c])
                t->width[c] = strlen(t->cells[r][c]);
    }
}

/* One row: cells two spaces apart, the last one unpadded. */
static void table_row(FILE *out, const struct table *t, const char *const cells[], const char *eol)
{
    for (size_t c = 0; c < t->ncols; c++) {
        int w = (int)t->width[c];
        bool last = c + 1 == t->ncols;
        fprintf(out, "%s", c > 0 ? "  " : "");
        if (t->right[c])
            fprintf(out, "%*s", w, cells[c]);
        else
            fprintf(out, "%-*s", last ? 0 : w, cells[c]);
    }
    fputs(eol, out);
}

/* "  refused: max_conns 3, rate 12": the reasons with a count. */
static void refusals_line(FILE *out, const struct status_service *s, const char *eol)
{
    const char *sep = "";

    fputs("  refused:", out);
    for (size_t i = 0; i < s->nreasons; i++) {
        char reason[SHOWN_MAX];
        if (s->reasons[i].count == 0)
            continue;
        escaped(reason, sizeof(reason), s->reasons[i].reason);
        fprintf(out, "%s %s %llu", sep, reason, (unsigned long long)s->reasons[i].count);
        sep = ",";
    }
    fputs(eol, out);
}

/* The services' table; the number of lines printed, or -1 (out of memory). */
static int print_services(FILE *out, const struct status *st, const struct status_view *v)
{
    struct table t = {.nrows = st->nservices};
    const char *cells[COLS_MAX];
    int lines = 0;

    table_columns(&t, v->rates != NULL);
    if (t.nrows > 0 && (t.cells = calloc(t.nrows, sizeof(*t.cells))) == NULL)
        return -1;
    for (size_t r = 0; r < t.nrows; r++)
        service_row(&st->services[r], v->rates != NULL ? &v->rates[r] : NULL, t.cells[r]);
    table_widths(&t);
    table_row(out, &t, t.heads, v->eol);
    lines++;
    for (size_t r = 0; r < t.nrows; r++) {
        for (size_t c = 0; c < t.ncols; c++)
            cells[c] = t.cells[r][c];
        table_row(out, &t, cells, v->eol);
        lines++;
        if (st->services[r].refused > 0) {
            refusals_line(out, &st->services[r], v->eol);
            lines++;
        }
    }
    free(t.cells);
    return lines;
}

/* Up to v->max_conns connections, and how many more the document lists. */
static int print_conns(FILE *out, const struct status *st, const struct status_view *v)
{
    size_t shown = st->nconns < v->max_conns ? st->nconns : v->max_conns;
    struct table t = {.ncols = 4, .nrows = shown, .heads = {"SERVICE", "PEER", "AGE", "PID"}};
    const char *cells[COLS_MAX];
    int lines = 0;

    t.right[2] = t.right[3] = true;
    if (st->nconns == 0)
        return 0;
    fputs(v->eol, out);
    lines++;
    if (shown > 0 && (t.cells = calloc(shown, sizeof(*t.cells))) == NULL)
        return -1;
    for (size_t r = 0; r < shown; r++) {
        const struct status_conn *c = &st->conns[r];
        escaped(t.cells[r][0], SHOWN_MAX, c->service);
        escaped(t.cells[r][1], CELL_MAX, c->peer);
        status_duration(t.cells[r][2], CELL_MAX, (int64_t)(c->age_ms / 1000));
        if (c->has_pid)
            cell_u64(t.cells[r][3], c->pid);
        else
            snprintf(t.cells[r][3], CELL_MAX, "-");
    }
    table_widths(&t);
    if (shown > 0) {
        table_row(out, &t, t.heads, v->eol);
        lines++;
    }
    for (size_t r = 0; r < shown; r++) {
        for (size_t c = 0; c < t.ncols; c++)
            cells[c] = t.cells[r][c];
        table_row(out, &t, cells, v->eol);
        lines++;
    }
    if (shown < st->nconns) {
        fprintf(out, "%s%zu %sconnections%s%s", shown > 0 ? "... and " : "", st->nconns - shown,
                shown > 0 ? "more " : "", shown > 0 ? "" : " (usher status --json lists them)",
                v->eol);
        lines++;
    }
    free(t.cells);
    return lines;
}

static void print_daemon(FILE *out, const struct status *st, const struct status_view *v)
{
    char version[TEXT_MAX], config[TEXT_MAX], up[32];
    double started = floor(st->started);

    escaped(version, sizeof(version), st->version);
    if (st->config != NULL)
        escaped(config, sizeof(config), st->config);
    else
        snprintf(config, sizeof(config), "(embedded default)");
    status_duration(up, sizeof(up),
                    started > (double)v->now ? -1 : (int64_t)((double)v->now - started));
    fprintf(out, "usherd %s  pid %llu  up %s  reloads %llu  config %s%s", version,
            (unsigned long long)st->pid, up, (unsigned long long)st->reloads, config, v->eol);
}

int status_format(FILE *out, const struct status *st, const struct status_view *v)
{
    int lines = 0, n;

    if (v->title != NULL) {
        fprintf(out, "%s%s", v->title, v->eol);
        lines++;
    }
    print_daemon(out, st, v);
    lines++;
    if ((n = print_services(out, st, v)) < 0)
        return -1;
    lines += n;
    if ((n = print_conns(out, st, v)) < 0)
        return -1;
    lines += n;
    if (ferror(out)) {
        errno = EIO;
        return -1;
    }
    return lines;
}

size_t status_conns_fitting(const struct status *st, const struct status_view *v, size_t rows)
{
    /* The title, the daemon's line, the heading, then the services and their refusals. */
    size_t used = (size_t)(v->title != NULL) + 2 + st->nservices;

    for (size_t i = 0; i < st->nservices; i++)
        used += (size_t)(st->services[i].refused > 0);
    /* The blank line, the heading and the "... and N more" line; one for the cursor. */
    used += 4;
    return rows > used ? rows - used : 0;
}
