/*
 * logjson: log messages as JSON objects (see logjson.h).
 */
#include "logjson.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define MSG_ROOM_MIN 16 /* msg keeps this much room before a field is given up */

/* The length of the valid UTF-8 sequence at s[0..n) (a lead byte >= 0x80), or 0 (RFC 3629). */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len;

    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4;
    else
        return 0; /* a continuation byte, an overlong lead (c0, c1), or past U+10FFFF */
    /* The second byte's range rules out overlong forms, surrogates and past U+10FFFF. */
    if (s[0] == 0xe0)
        lo = 0xa0;
    else if (s[0] == 0xed)
        hi = 0x9f;
    else if (s[0] == 0xf0)
        lo = 0x90;
    else if (s[0] == 0xf4)
        hi = 0x8f;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* The escape of the unit at s[0..n), n > 0, into out: its length; *adv: the bytes it takes. */
static size_t escape_unit(const unsigned char *s, size_t n, char out[6], size_t *adv)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char c = s[0];
    size_t seq;

    *adv = 1;
    if (c == '"' || c == '\\') {
        out[0] = '\\';
        out[1] = (char)c;
        return 2;
    }
    if (c < 0x20 || c == 0x7f) {
        memcpy(out, "\\u00", 4);
        out[4] = hex[c >> 4];
        out[5] = hex[c & 0xf];
        return 6;
    }
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if ((seq = utf8_sequence(s, n)) == 0) {
        memcpy(out, "\\ufffd", 6);
        return 6;
    }
    memcpy(out, s, seq);
    *adv = seq;
    return seq;
}

size_t logjson_escape(char *dst, size_t room, const char *src, size_t len, size_t *taken)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t in = 0, out = 0;

    while (in < len) {
        char unit[6];
        size_t adv, n = escape_unit(s + in, len - in, unit, &adv);
        if (n > room - out)
            break;
        if (dst != NULL)
            memcpy(dst + out, unit, n);
        out += n;
        in += adv;
    }
    if (taken != NULL)
        *taken = in;
    return out;
}

/* Fields */

/* The length of the key of a field word w[0..n) (up to its '='), or 0 if it is not a field. */
static size_t field_key(const char *w, size_t n)
{
    size_t i = 0;

    if (n == 0 || w[0] < 'a' || w[0] > 'z')
        return 0;
    while (i < n && ((w[i] >= 'a' && w[i] <= 'z') || (w[i] >= '0' && w[i] <= '9') || w[i] == '_'))
        i++;
    return i < n && w[i] == '=' ? i : 0;
}

static bool reserved_or_seen(const char *key, size_t len, const struct logjson_field *f, size_t n)
{
    static const char *const reserved[] = {"time", "level", "msg"};

    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strlen(reserved[i]) == len && memcmp(reserved[i], key, len) == 0)
            return true;
    for (size_t i = 0; i < n; i++)
        if (f[i].key_len == len && memcmp(f[i].key, key, len) == 0)
            return true;
    return false;
}

size_t logjson_fields(const char *msg, struct logjson_field *out, size_t max)
{
    const char *w = msg;
    size_t n = 0;
    bool first = true;

    while (*w != '\0') {
        size_t len = strcspn(w, " "), key = field_key(w, len);
        bool last = false;
        if (key == 0 && !first)
            break;
        if (key != 0) {
            size_t vlen = len - key - 1;
            last = vlen > 0 && w[len - 1] == ':';
            vlen -= last;
            if (!reserved_or_seen(w, key, out, n) && n < max)
                out[n++] = (struct logjson_field){w, w + key + 1, key, vlen};
        }
        first = false;
        if (last || w[len] == '\0')
            break;
        w += len + 1;
    }
    return n;
}

/* The line */

struct out {
    char *p;
    size_t len;
};

static void put(struct out *o, const char *s, size_t n)
{
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_str(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Escape all of src: the caller made room for it. */
static void put_escaped(struct out *o, const char *src, size_t len)
{
    o->len += logjson_escape(o->p + o->len, SIZE_MAX, src, len, NULL);
}

static size_t escaped_len(const char *src, size_t len)
{
    return logjson_escape(NULL, SIZE_MAX, src, len, NULL);
}

/* ,"KEY":"VALUE" */
static size_t field_len(const struct logjson_field *f)
{
    return 6 + f->key_len + escaped_len(f->value, f->value_len);
}

size_t logjson_line(char *dst, size_t size, const char *time, const char *level, const char *msg)
{
    struct logjson_field f[LOGJSON_FIELDS_MAX];
    size_t nf = logjson_fields(msg, f, LOGJSON_FIELDS_MAX), fields = 0, msg_len = strlen(msg);
    size_t head, avail, budget, full;
    struct out o = {dst, 0};

    if (size < LOGJSON_MIN) {
        if (size > 0)
            dst[0] = '\0';
        return 0;
    }
    head = 32 + escaped_len(time, strlen(time)) + escaped_len(level, strlen(level));
    if (head > LOGJSON_MIN / 2) { /* not the caller's short texts: a bug, but a valid line */
        time = level = "?";
        head = 32 + 2;
    }
    /* {"time":"","level":"","msg":"   ...   "} and the NUL: 32 bytes with the head's. */
    avail = size - head;
    for (size_t i = 0; i < nf; i++)
        fields += field_len(&f[i]);
    while (nf > 0 && fields + MSG_ROOM_MIN > avail)
        fields -= field_len(&f[--nf]);
    budget = avail - fields;
    put_str(&o, "{\"time\":\"");
    put_escaped(&o, time, strlen(time));
    put_str(&o, "\",\"level\":\"");
    put_escaped(&o, level, strlen(level));
    put_str(&o, "\",\"msg\":\"");
    full = escaped_len(msg, msg_len);
    if (full <= budget) {
        put_escaped(&o, msg, msg_len);
    } else {
        o.len += logjson_escape(o.p + o.len, budget - 3, msg, msg_len, NULL);
        put_str(&o, "...");
    }
    put_str(&o, "\"");
    for (size_t i = 0; i < nf; i++) {
        put_str(&o, ",\"");
        put(&o, f[i].key, f[i].key_len);
        put_str(&o, "\":\"");
        put_escaped(&o, f[i].value, f[i].value_len);
        put_str(&o, "\"");
    }
    put_str(&o, "}");
    dst[o.len] = '\0';
    return o.len;
}
