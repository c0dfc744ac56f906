/*
 * conf_print: a configuration, whatever its sources (usherd.conf, an
 * inetd.conf, an xinetd.conf, the embedded default), as one usherd.conf.
 *
 *   # usherd configuration (usherd -P)
 *   [global]
 *   pidfile = /run/usherd.pid
 *
 *   # from xinetd /etc/xinetd.d/echo:2, service echo
 *   [echo-stream]
 *   listen = tcp://[::]:7
 *   builtin = echo
 *
 * Every section is printed from its canonical text: the keys and values
 * exactly as the parser was given them, in their order (the readers of the
 * foreign formats hand the parser usherd keys, quoted where a value needs
 * it), so reading the text back sets the same keys to the same values.
 * The `inetd` and `xinetd` keys are left out: their services are printed.
 * The comment above each section says where it came from; the parser
 * takes such a comment back as the section's origin, so the text is a
 * fixed point: printing what was printed gives the same text.
 */
#include "conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct out {
    char *text;
    size_t len, cap;
    bool failed;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        char *grown;
        while (cap < o->len + n + 1)
            cap *= 2;
        if ((grown = realloc(o->text, cap)) == NULL) {
            o->failed = true;
            return;
        }
        o->text = grown;
        o->cap = cap;
    }
    memcpy(o->text + o->len, s, n);
    o->len += n;
    o->text[o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Each "key=value" line of a canonical text as "key = value". */
static void put_canon(struct out *o, const char *canon)
{
    for (const char *line = canon; line != NULL && *line != '\0';) {
        const char *nl = strchr(line, '\n'), *eq = strchr(line, '=');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (eq == NULL || eq > line + len)
            break; /* not one of ours: never so */
        put(o, line, (size_t)(eq - line));
        puts_(o, " = ");
        put(o, eq + 1, len - (size_t)(eq - line) - 1);
        puts_(o, "\n");
        line += len + (nl != NULL);
    }
}

char *conf_print(const struct conf *conf)
{
    struct out o = {0};

    puts_(&o, "# usherd configuration (usherd -P)\n");
    if (conf->global_canon != NULL) {
        puts_(&o, "[global]\n");
        put_canon(&o, conf->global_canon);
    }
    for (size_t i = 0; i < conf->nsvcs; i++) {
        const struct svc_conf *svc = &conf->svcs[i];
        puts_(&o, "\n# from ");
        puts_(&o, svc->origin ? svc->origin : "?");
        puts_(&o, "\n[");
        puts_(&o, svc->name);
        puts_(&o, "]\n");
        put_canon(&o, svc->canon);
    }
    if (o.failed) {
        free(o.text);
        return NULL;
    }
    return o.text;
}
