/*
 * Unit tests: -P's printing (conf_print.c) as a property over every
 * configuration of the test suite.
 *
 * The corpus is gathered where the tests keep their configurations: every
 * C string literal (adjacent ones joined, as the compiler joins them) of
 * tests/unit/ and tests/integration/ that reads as a usherd.conf, the seeds
 * of the config fuzzer, the example configurations of contrib/, and the
 * embedded default.  Texts with printf conversions or the harness's @DIR@
 * placeholders are left out (they are not configurations until filled).
 * For each text that loads: printing it, loading what was printed and
 * printing again gives the same text, and the same services
 * (conf_svc_equal) and [global] settings.  A corpus smaller than a floor
 * fails, so the property cannot hold by having nothing to hold for.
 */
#include "conf.h"
#include "harness.h"
#include "t.h"
#include "util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORPUS_FLOOR 100 /* configurations that load, at the least */

struct corpus {
    char **texts;
    size_t n;
};

static void add_text(struct corpus *c, char *text)
{
    char **grown = realloc(c->texts, (c->n + 1) * sizeof(*grown));

    T_ASSERT(grown != NULL);
    c->texts = grown;
    grown[c->n++] = text;
}

/* Does `s` read as a configuration worth trying?  A section header, a key, no placeholders. */
static bool looks_like_conf(const char *s)
{
    return (strncmp(s, "[", 1) == 0 || strstr(s, "\n[") != NULL) && strstr(s, " = ") != NULL &&
           strchr(s, '%') == NULL && strchr(s, '@') == NULL;
}

/* One escape of a C literal at *p (after the backslash) into out; returns the new p. */
static const char *unescape(const char *p, char *out, size_t *len)
{
    static const char from[] = "ntr0\\\"'", to[] = "\n\t\r\0\\\"'";
    const char *hit = *p ? strchr(from, *p) : NULL;

    if (*p == 'x') {
        char *end;
        unsigned long v = strtoul(p + 1, &end, 16);
        out[(*len)++] = (char)v;
        return end;
    }
    if (hit != NULL) {
        out[(*len)++] = to[hit - from];
        return p + 1;
    }
    out[(*len)++] = *p;
    return *p ? p + 1 : p;
}

/* Every joined string literal of the C source `src` that looks like a configuration. */
static void literals_of(struct corpus *c, const char *src)
{
    size_t cap = strlen(src) + 1, len = 0;
    char *cur = malloc(cap);
    bool open = false; /* a literal being joined */

    T_ASSERT(cur != NULL);
    for (const char *p = src; *p;) {
        if (p[0] == '/' && p[1] == '/') {
            p += strcspn(p, "\n");
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            p = end ? end + 2 : p + strlen(p);
        } else if (*p == '\'') {
            p += p[1] == '\\' ? 4 : 3; /* a character constant: '"', '\"' */
        } else if (*p == '"') {
            for (p++; *p && *p != '"';)
                p = *p == '\\' ? unescape(p + 1, cur, &len) : (cur[len++] = *p, p + 1);
            p += *p == '"';
            open = true;
        } else if (open && strchr(" \t\n", *p) != NULL) {
            p++;
        } else {
            if (open && len > 0) {
                cur[len] = '\0';
                if (memchr(cur, '\0', len) == NULL && looks_like_conf(cur))
                    add_text(c, strdup(cur));
            }
            open = false;
            len = 0;
            p++;
        }
    }
    free(cur);
}

/* Each file of `dir` (ending in `suffix`, "" for all) to `fn`. */
static void each_file(struct corpus *c, const char *dir, const char *suffix,
                      void (*fn)(struct corpus *, const char *path))
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL)
        T_FAIL("unable to read %s (the tests run from the top of the source tree)", dir);
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name), sl = strlen(suffix);
        if (e->d_name[0] == '.' || nl < sl || strcmp(e->d_name + nl - sl, suffix) != 0)
            continue;
        fn(c, h_fmt("%s/%s", dir, e->d_name));
    }
    closedir(d);
}

static void add_source(struct corpus *c, const char *path)
{
    char *src = h_read_file(path);

    literals_of(c, src);
    free(src);
}

static void add_whole(struct corpus *c, const char *path)
{
    add_text(c, h_read_file(path));
}

static struct corpus gather(void)
{
    struct corpus c = {0};

    each_file(&c, "tests/unit", ".c", add_source);
    each_file(&c, "tests/integration", ".c", add_source);
    each_file(&c, "tests/fuzz/corpus/conf", "", add_whole);
    each_file(&c, "contrib", ".conf", add_whole);
    add_text(&c, strdup(conf_default_text));
    return c;
}

static void same_globals(const struct conf *a, const struct conf *b, const char *text)
{
    if (a->shutdown_timeout_ms != b->shutdown_timeout_ms || a->max_conns != b->max_conns ||
        a->workers != b->workers || strcmp(a->pidfile, b->pidfile) != 0 || a->umask != b->umask ||
        a->log_facility != b->log_facility || a->log_set != b->log_set ||
        strcmp(a->log.text, b->log.text) != 0)
        T_FAIL("[global] differs after printing:\n%s", text);
}

/* Print, load, print: the same text, services and settings.  False if `text` does not load. */
static bool round_trip(const char *text)
{
    char *errors = NULL, *first, *second;
    struct conf *a = conf_parse(text, "corpus.conf", &errors), *b;

    if (a == NULL) {
        free(errors);
        return false;
    }
    first = conf_print(a);
    T_ASSERT(first != NULL);
    if ((b = conf_parse(first, "printed.conf", &errors)) == NULL)
        T_FAIL("what -P printed does not load:\n--- from\n%s--- printed\n%s--- errors\n%s", text,
               first, errors);
    second = conf_print(b);
    if (strcmp(first, second) != 0)
        T_FAIL("printing again differs:\n--- first\n%s--- second\n%s", first, second);
    T_EQ_INT(a->nsvcs, b->nsvcs);
    for (size_t i = 0; i < a->nsvcs; i++)
        if (!conf_svc_equal(&a->svcs[i], &b->svcs[i]))
            T_FAIL("service [%s] differs after printing:\n%s", a->svcs[i].name, first);
    same_globals(a, b, first);
    free(first);
    free(second);
    conf_unref(a);
    conf_unref(b);
    return true;
}

static void test_every_test_config_round_trips(void)
{
    struct corpus c = gather();
    size_t loaded = 0;

    for (size_t i = 0; i < c.n; i++)
        loaded += round_trip(c.texts[i]);
    t_note("%zu texts gathered, %zu loaded and round-tripped", c.n, loaded);
    if (loaded < CORPUS_FLOOR)
        T_FAIL("only %zu configurations loaded (of %zu gathered), under %d: is the corpus found?",
               loaded, c.n, CORPUS_FLOOR);
}

static void test_printed_form(void)
{
    /* The header, [global] without inetd, a comment on each section saying
     * where it came from, keys as written; a "# from" comment above a
     * section is its origin when read back. */
    struct conf *c;
    char *errors = NULL, *text;

    c = conf_parse("[global]\nshutdown_timeout = 2s\n\n[e]\nlisten = tcp://127.0.0.1:0\n"
                   "builtin=echo\nallow = 10.0.0.0/8\nallow = ::1\n"
                   "# from somewhere else:3\n[x]\nlisten = tcp://127.0.0.1:0\n"
                   "exec = /bin/echo \"a b\" 'c # d'\n",
                   "in.conf", &errors);
    T_ASSERT(c != NULL);
    text = conf_print(c);
    T_EQ_STR(text, "# usherd configuration (usherd -P)\n"
                   "[global]\n"
                   "shutdown_timeout = 2s\n"
                   "\n"
                   "# from in.conf:4\n"
                   "[e]\n"
                   "listen = tcp://127.0.0.1:0\n"
                   "builtin = echo\n"
                   "allow = 10.0.0.0/8\n"
                   "allow = ::1\n"
                   "\n"
                   "# from somewhere else:3\n"
                   "[x]\n"
                   "listen = tcp://127.0.0.1:0\n"
                   "exec = /bin/echo \"a b\" 'c # d'\n");
    free(text);
    conf_unref(c);
}

static const struct t_case cases[] = {
    T_CASE(test_printed_form),
    T_CASE(test_every_test_config_round_trips),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
