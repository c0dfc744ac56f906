/*
 * json_parse: the strict JSON reader of json_parse.h.
 *
 * A recursive descent over the input, one function per production of
 * RFC 8259, its depth bounded by JSON_DEPTH_MAX.  Values go into one
 * growing array and are linked by index (child, next), so that growing it
 * moves nothing a caller holds: the parse hands out pointers only once it
 * is done.  Decoded strings and number texts go into one buffer allocated
 * once: each takes at most the bytes it had in the input, plus a NUL
 * that a string's quotes or the delimiter after a number pays for, so
 * the input's length plus one always suffices (and is checked anyway).
 */
#include "json_parse.h"

#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    const char *start, *p, *end;
    struct json_doc *doc;
    char *err;
    size_t errlen;
};

/* errno for the message: ENOMEM where an allocation failed, EINVAL for the input. */
static int fail(struct parser *ps, int errnum, const char *what)
{
    err_set(ps->err, ps->errlen, "offset %zu: %s", (size_t)(ps->p - ps->start), what);
    errno = errnum;
    return -1;
}

/* "unexpected 'x'" or "unexpected byte 0x01", or "unexpected end" at the end. */
static int unexpected(struct parser *ps, const char *expected)
{
    char what[96];
    unsigned char c;

    if (ps->p >= ps->end) {
        snprintf(what, sizeof(what), "unexpected end of input, expected %s", expected);
        return fail(ps, EINVAL, what);
    }
    c = (unsigned char)*ps->p;
    if (c > 0x20 && c < 0x7f)
        snprintf(what, sizeof(what), "unexpected '%c', expected %s", c, expected);
    else
        snprintf(what, sizeof(what), "unexpected byte 0x%02x, expected %s", c, expected);
    return fail(ps, EINVAL, what);
}

static void skip_space(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

/* A new value of `type`; its index in *index.  The array grows by doubling, to JSON_VALUES_MAX. */
static int new_value(struct parser *ps, enum json_type type, uint32_t *index)
{
    struct json_doc *d = ps->doc;

    if (d->nvalues == d->cap) {
        size_t cap = d->cap == 0 ? 16 : d->cap * 2;
        struct json_value *v;
        if (d->nvalues >= JSON_VALUES_MAX)
            return fail(ps, EINVAL, "more values than this reader takes");
        if (cap > JSON_VALUES_MAX)
            cap = JSON_VALUES_MAX;
        if ((v = realloc(d->values, cap * sizeof(*v))) == NULL)
            return fail(ps, ENOMEM, "out of memory");
        d->values = v;
        d->cap = cap;
    }
    memset(&d->values[d->nvalues], 0, sizeof(d->values[0]));
    d->values[d->nvalues].type = type;
    *index = (uint32_t)d->nvalues++;
    return 0;
}

/* Room for `n` more bytes of decoded text (the header's bound says there always is). */
static int reserve(struct parser *ps, size_t n)
{
    if (ps->doc->strings_cap - ps->doc->strings_len < n)
        return fail(ps, EINVAL, "string space exhausted");
    return 0;
}

static void put_byte(struct parser *ps, unsigned char c)
{
    ps->doc->strings[ps->doc->strings_len++] = (char)c;
}

/* Literals and numbers */

static int parse_literal(struct parser *ps, const char *word, struct json_value *v)
{
    size_t n = strlen(word);

    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return unexpected(ps, "a value");
    ps->p += n;
    v->boolean = word[0] == 't';
    return 0;
}

static bool is_digit(const char *p, const char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

static void skip_digits(struct parser *ps)
{
    while (is_digit(ps->p, ps->end))
        ps->p++;
}

/* -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?, kept as written. */
static int parse_number(struct parser *ps, struct json_value *v)
{
    const char *first = ps->p;
    size_t n;

    if (ps->p < ps->end && *ps->p == '-')
        ps->p++;
    if (!is_digit(ps->p, ps->end))
        return unexpected(ps, "a digit");
    if (*ps->p++ == '0' && is_digit(ps->p, ps->end))
        return fail(ps, EINVAL, "a number with a leading zero");
    skip_digits(ps);
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (!is_digit(ps->p, ps->end))
            return unexpected(ps, "a digit after the decimal point");
        skip_digits(ps);
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (!is_digit(ps->p, ps->end))
            return unexpected(ps, "a digit in the exponent");
        skip_digits(ps);
    }
    n = (size_t)(ps->p - first);
    if (reserve(ps, n + 1) < 0)
        return -1;
    v->text = ps->doc->strings + ps->doc->strings_len;
    v->len = n;
    memcpy(ps->doc->strings + ps->doc->strings_len, first, n);
    ps->doc->strings_len += n;
    put_byte(ps, '\0');
    return 0;
}

/* Strings */

static int hex4(struct parser *ps, unsigned *out)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++, ps->p++) {
        char c = ps->p < ps->end ? *ps->p : '\0';
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return unexpected(ps, "four hex digits after \\u");
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

static void put_utf8(struct parser *ps, unsigned cp)
{
    if (cp < 0x80) {
        put_byte(ps, (unsigned char)cp);
    } else if (cp < 0x800) {
        put_byte(ps, (unsigned char)(0xc0 | cp >> 6));
        put_byte(ps, (unsigned char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        put_byte(ps, (unsigned char)(0xe0 | cp >> 12));
        put_byte(ps, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
        put_byte(ps, (unsigned char)(0x80 | (cp & 0x3f)));
    } else {
        put_byte(ps, (unsigned char)(0xf0 | cp >> 18));
        put_byte(ps, (unsigned char)(0x80 | (cp >> 12 & 0x3f)));
        put_byte(ps, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
        put_byte(ps, (unsigned char)(0x80 | (cp & 0x3f)));
    }
}

/*
 * After "\u": a code point, a surrogate pair as one.  Six input bytes
 * (or twelve for a pair) become at most four: reserve never fails here.
 */
static int parse_unicode_escape(struct parser *ps)
{
    unsigned cp, low;

    if (hex4(ps, &cp) < 0)
        return -1;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return fail(ps, EINVAL, "a low surrogate escape without a high one before it");
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
            return fail(ps, EINVAL, "a high surrogate escape without a low one after it");
        ps->p += 2;
        if (hex4(ps, &low) < 0)
            return -1;
        if (low < 0xdc00 || low > 0xdfff)
            return fail(ps, EINVAL, "a high surrogate escape without a low one after it");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    if (reserve(ps, 4) < 0)
        return -1;
    put_utf8(ps, cp);
    return 0;
}

static int parse_escape(struct parser *ps)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *at;

    ps->p++; /* the backslash */
    if (ps->p >= ps->end)
        return unexpected(ps, "an escape");
    if (*ps->p == 'u') {
        ps->p++;
        return parse_unicode_escape(ps);
    }
    if (*ps->p == '\0' || (at = strchr(from, *ps->p)) == NULL) {
        char what[40];
        unsigned char c = (unsigned char)*ps->p;
        if (c > 0x20 && c < 0x7f)
            snprintf(what, sizeof(what), "bad escape \\%c", c);
        else
            snprintf(what, sizeof(what), "bad escape \\ and byte 0x%02x", c);
        return fail(ps, EINVAL, what);
    }
    if (reserve(ps, 1) < 0)
        return -1;
    put_byte(ps, (unsigned char)to[at - from]);
    ps->p++;
    return 0;
}

/*
 * The length of the well-formed UTF-8 sequence at p (its lead byte 0x80 or
 * above), or 0 if it is not one: RFC 3629's table, so no overlong form, no
 * surrogate, nothing past U+10FFFF.
 */
static size_t utf8_length(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;
    size_t n;

    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

static int copy_utf8(struct parser *ps)
{
    size_t n = utf8_length((const unsigned char *)ps->p, (const unsigned char *)ps->end);

    if (n == 0)
        return fail(ps, EINVAL, "a string that is not well-formed UTF-8");
    if (reserve(ps, n) < 0)
        return -1;
    memcpy(ps->doc->strings + ps->doc->strings_len, ps->p, n);
    ps->doc->strings_len += n;
    ps->p += n;
    return 0;
}

/* A string at p (its opening quote), decoded: *text and *len. */
static int parse_string(struct parser *ps, const char **text, size_t *len)
{
    size_t first = ps->doc->strings_len;

    ps->p++;
    for (;;) {
        unsigned char c;
        if (ps->p >= ps->end)
            return unexpected(ps, "the end of the string");
        c = (unsigned char)*ps->p;
        if (c == '"')
            break;
        if (c < 0x20)
            return fail(ps, EINVAL, "a control character in a string");
        if (c == '\\') {
            if (parse_escape(ps) < 0)
                return -1;
        } else if (c >= 0x80) {
            if (copy_utf8(ps) < 0)
                return -1;
        } else {
            if (reserve(ps, 1) < 0)
                return -1;
            put_byte(ps, c);
            ps->p++;
        }
    }
    ps->p++;
    if (reserve(ps, 1) < 0)
        return -1;
    put_byte(ps, '\0');
    *text = ps->doc->strings + first;
    *len = ps->doc->strings_len - first - 1;
    return 0;
}

/* Arrays and objects */

static int parse_value(struct parser *ps, unsigned depth, uint32_t *index);

/* Link `child` after `*last` under `parent` (indexes: the array may have moved). */
static void append(struct parser *ps, uint32_t parent, uint32_t *last, uint32_t child)
{
    struct json_value *v = ps->doc->values;

    if (v[parent].count++ == 0)
        v[parent].child = child;
    else
        v[*last].next = child;
    *last = child;
}

/* After a member or element: ',' (true: another one follows) or `close`. */
static int after_item(struct parser *ps, char close, bool *more)
{
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == ',') {
        ps->p++;
        *more = true;
        return 0;
    }
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        *more = false;
        return 0;
    }
    return unexpected(ps, close == ']' ? "',' or ']'" : "',' or '}'");
}

static int parse_array(struct parser *ps, unsigned depth, uint32_t self)
{
    uint32_t last = 0, child;
    bool more = true;

    ps->p++;
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return 0;
    }
    while (more) {
        if (parse_value(ps, depth + 1, &child) < 0)
            return -1;
        append(ps, self, &last, child);
        if (after_item(ps, ']', &more) < 0)
            return -1;
    }
    return 0;
}

static int parse_member(struct parser *ps, unsigned depth, uint32_t *child)
{
    const char *key = NULL;
    size_t key_len = 0;

    skip_space(ps);
    if (ps->p >= ps->end || *ps->p != '"')
        return unexpected(ps, "a member name");
    if (parse_string(ps, &key, &key_len) < 0)
        return -1;
    skip_space(ps);
    if (ps->p >= ps->end || *ps->p != ':')
        return unexpected(ps, "':'");
    ps->p++;
    if (parse_value(ps, depth + 1, child) < 0)
        return -1;
    ps->doc->values[*child].key = key;
    ps->doc->values[*child].key_len = key_len;
    return 0;
}

static int parse_object(struct parser *ps, unsigned depth, uint32_t self)
{
    uint32_t last = 0, child;
    bool more = true;

    ps->p++;
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return 0;
    }
    while (more) {
        if (parse_member(ps, depth, &child) < 0)
            return -1;
        append(ps, self, &last, child);
        if (after_item(ps, '}', &more) < 0)
            return -1;
    }
    return 0;
}

/* The value at p (after any space): its index in *index. */
static int parse_value(struct parser *ps, unsigned depth, uint32_t *index)
{
    char c;

    *index = 0; /* set on every path, failures included */
    skip_space(ps);
    if (ps->p >= ps->end)
        return unexpected(ps, "a value");
    c = *ps->p;
    if ((c == '[' || c == '{') && depth >= JSON_DEPTH_MAX)
        return fail(ps, EINVAL, "nested too deep");
    switch (c) {
    case '[':
        return new_value(ps, JSON_ARRAY, index) < 0 ? -1 : parse_array(ps, depth, *index);
    case '{':
        return new_value(ps, JSON_OBJECT, index) < 0 ? -1 : parse_object(ps, depth, *index);
    case '"':
        if (new_value(ps, JSON_STRING, index) < 0)
            return -1;
        return parse_string(ps, &ps->doc->values[*index].text, &ps->doc->values[*index].len);
    case 't':
    case 'f':
        if (new_value(ps, JSON_BOOL, index) < 0)
            return -1;
        return parse_literal(ps, c == 't' ? "true" : "false", &ps->doc->values[*index]);
    case 'n':
        if (new_value(ps, JSON_NULL, index) < 0)
            return -1;
        return parse_literal(ps, "null", &ps->doc->values[*index]);
    default:
        if (c != '-' && (c < '0' || c > '9'))
            return unexpected(ps, "a value");
        if (new_value(ps, JSON_NUMBER, index) < 0)
            return -1;
        return parse_number(ps, &ps->doc->values[*index]);
    }
}

int json_parse(const char *text, size_t len, struct json_doc *doc, char *err, size_t errlen)
{
    struct parser ps = {text, text, text + len, doc, err, errlen};
    uint32_t root;

    memset(doc, 0, sizeof(*doc));
    if ((doc->strings = malloc(len + 1)) == NULL) {
        err_set(err, errlen, "out of memory");
        errno = ENOMEM;
        return -1;
    }
    doc->strings_cap = len + 1;
    if (parse_value(&ps, 0, &root) < 0)
        goto failed;
    skip_space(&ps);
    if (ps.p < ps.end) {
        unexpected(&ps, "the end after the value");
        goto failed;
    }
    return 0;
failed : {
    int saved = errno;
    json_free(doc);
    errno = saved;
    return -1;
}
}

void json_free(struct json_doc *doc)
{
    free(doc->values);
    free(doc->strings);
    memset(doc, 0, sizeof(*doc));
}

/* Lookups */

const struct json_value *json_root(const struct json_doc *doc)
{
    return &doc->values[0];
}

const struct json_value *json_first(const struct json_doc *doc, const struct json_value *v)
{
    if ((v->type != JSON_ARRAY && v->type != JSON_OBJECT) || v->count == 0)
        return NULL;
    return &doc->values[v->child];
}

const struct json_value *json_next(const struct json_doc *doc, const struct json_value *v)
{
    return v->next == 0 ? NULL : &doc->values[v->next];
}

int json_member(const struct json_doc *doc, const struct json_value *obj, const char *key,
                const struct json_value **out)
{
    size_t n = strlen(key);
    const struct json_value *found = NULL;

    if (obj->type != JSON_OBJECT) {
        errno = EINVAL;
        return -1;
    }
    for (const struct json_value *m = json_first(doc, obj); m != NULL; m = json_next(doc, m)) {
        if (m->key_len != n || memcmp(m->key, key, n) != 0)
            continue;
        if (found != NULL) {
            errno = EEXIST;
            return -1;
        }
        found = m;
    }
    if (found == NULL) {
        errno = ENOENT;
        return -1;
    }
    *out = found;
    return 0;
}

/* Numbers */

int json_u64(const struct json_value *v, uint64_t *out)
{
    uint64_t n = 0;

    if (v->type != JSON_NUMBER || strpbrk(v->text, "-.eE") != NULL) {
        errno = EINVAL;
        return -1;
    }
    /* The grammar has left digits only, without a leading zero. */
    for (const char *p = v->text; *p != '\0'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (n > (UINT64_MAX - d) / 10) {
            errno = ERANGE;
            return -1;
        }
        n = n * 10 + d;
    }
    *out = n;
    return 0;
}

int json_double(const struct json_value *v, double *out)
{
    double d;

    if (v->type != JSON_NUMBER) {
        errno = EINVAL;
        return -1;
    }
    /* The text is JSON's grammar, a subset of strtod's (in the C locale the client keeps). */
    d = strtod(v->text, NULL);
    /* An underflow (1e-999) is near enough to zero; an overflow is not a number we know. */
    if (isinf(d)) {
        errno = ERANGE;
        return -1;
    }
    *out = d;
    return 0;
}
