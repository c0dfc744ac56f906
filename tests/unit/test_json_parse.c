/*
 * Unit tests: the strict JSON reader (json_parse.c).  Each accepted input
 * is written back in a compact canonical form and compared; each rejected
 * one must say why, at the right place.  Hostile inputs: nesting past the
 * bound, more values than the bound, every truncation of a document,
 * numbers past 64 bits, bad escapes and bad UTF-8.
 */
#include "json_parse.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Canonical text of a value: no space, strings with '"', '\' escaped and other odd bytes as \xHH.
 */
static void put_string(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c >= 0x20 && c < 0x7f)
            fputc(c, f);
        else
            fprintf(f, "\\x%02x", c);
    }
    fputc('"', f);
}

static void put_value(FILE *f, const struct json_doc *d, const struct json_value *v)
{
    const struct json_value *c;

    switch (v->type) {
    case JSON_NULL:
        fputs("null", f);
        break;
    case JSON_BOOL:
        fputs(v->boolean ? "true" : "false", f);
        break;
    case JSON_NUMBER:
        fputs(v->text, f);
        break;
    case JSON_STRING:
        put_string(f, v->text, v->len);
        break;
    case JSON_ARRAY:
    case JSON_OBJECT:
        fputc(v->type == JSON_ARRAY ? '[' : '{', f);
        for (c = json_first(d, v); c != NULL; c = json_next(d, c)) {
            if (c != json_first(d, v))
                fputc(',', f);
            if (v->type == JSON_OBJECT) {
                put_string(f, c->key, c->key_len);
                fputc(':', f);
            }
            put_value(f, d, c);
        }
        fputc(v->type == JSON_ARRAY ? ']' : '}', f);
        break;
    }
}

/* The canonical text of a parsed document (malloc'd). */
static char *canonical(const struct json_doc *d)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    T_ASSERT(f != NULL);
    put_value(f, d, json_root(d));
    T_ASSERT(fclose(f) == 0);
    return out;
}

static const struct {
    const char *in;
    size_t len; /* 0: strlen(in) */
    const char *out;
} good[] = {
    {"0", 0, "0"},
    {" \t\r\n-0 ", 0, "-0"},
    {"[1, -2.5e+3, 1E-2, true,false , null]", 0, "[1,-2.5e+3,1E-2,true,false,null]"},
    {"{\"a\":{\"b\":[]},\"c\":\"\",\"d\":{}}", 0, "{\"a\":{\"b\":[]},\"c\":\"\",\"d\":{}}"},
    {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", 0, "\"\\\"\\\\/\\x08\\x0c\\x0a\\x0d\\x09\""},
    {"\"\\u00e9\\u20AC\\ud83d\\ude00\"", 0, "\"\\xc3\\xa9\\xe2\\x82\\xac\\xf0\\x9f\\x98\\x80\""},
    {"\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"", 0,
     "\"\\xc3\\xa9\\xe2\\x82\\xac\\xf0\\x9f\\x98\\x80\\xf4\\x8f\\xbf\\xbf\""},
    {"\"a\\u0000b\"", 0, "\"a\\x00b\""},
    {"123456789012345678901234567890", 0, "123456789012345678901234567890"},
    {"1e999999", 0, "1e999999"},
    {"{\"k\":1,\"k\":2}", 0, "{\"k\":1,\"k\":2}"}, /* legal; json_member refuses to choose */
    {"\"\x7f\"", 0, "\"\\x7f\""},
};

static void test_accepts(void)
{
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        struct json_doc d;
        char err[128] = "";
        size_t len = good[i].len ? good[i].len : strlen(good[i].in);
        char *out;
        if (json_parse(good[i].in, len, &d, err, sizeof(err)) < 0)
            T_FAIL("case %zu (%s): %s", i, good[i].in, err);
        out = canonical(&d);
        if (strcmp(out, good[i].out) != 0)
            T_FAIL("case %zu: got %s, want %s", i, out, good[i].out);
        free(out);
        json_free(&d);
    }
}

static const struct {
    const char *in;
    size_t len; /* 0: strlen(in) */
    const char *why;
} bad[] = {
    {"", 0, "offset 0: unexpected end of input, expected a value"},
    {"  ", 0, "offset 2: unexpected end of input"},
    {"[1,]", 0, "offset 3: unexpected ']', expected a value"},
    {"{\"a\":1,}", 0, "offset 7: unexpected '}', expected a member name"},
    {"[01]", 0, "leading zero"},
    {"-", 0, "expected a digit"},
    {"-a", 0, "offset 1: unexpected 'a', expected a digit"},
    {"1.", 0, "after the decimal point"},
    {"1.e5", 0, "after the decimal point"},
    {"1e", 0, "in the exponent"},
    {"1e+", 0, "in the exponent"},
    {".5", 0, "unexpected '.'"},
    {"+1", 0, "unexpected '+'"},
    {"\"\\q\"", 0, "offset 2: bad escape \\q"},
    {"\"\\", 0, "unexpected end of input, expected an escape"},
    {"\"\\u12\"", 0, "four hex digits"},
    {"\"\\u12g4\"", 0, "offset 5: unexpected 'g', expected four hex digits"},
    {"\"\\ud800\"", 0, "high surrogate"},
    {"\"\\ud800\\u0041\"", 0, "high surrogate"},
    {"\"\\udc00\"", 0, "low surrogate"},
    {"\"abc", 0, "offset 4: unexpected end of input, expected the end of the string"},
    {"\"a\x01\"", 0, "offset 2: a control character"},
    {"\"a\nb\"", 0, "control character"},
    {"\"\xc0\xaf\"", 0, "offset 1: a string that is not well-formed UTF-8"}, /* overlong '/' */
    {"\"\xe0\x80\xaf\"", 0, "UTF-8"},                                        /* overlong */
    {"\"\xed\xa0\x80\"", 0, "UTF-8"},     /* an encoded surrogate */
    {"\"\xf4\x90\x80\x80\"", 0, "UTF-8"}, /* past U+10FFFF */
    {"\"\xe2\x82\"", 0, "UTF-8"},         /* cut short */
    {"\"\x80\"", 0, "UTF-8"},             /* a lone continuation byte */
    {"\"\xff\"", 0, "UTF-8"},
    {"\xef\xbb\xbf{}", 0, "unexpected byte 0xef"}, /* a byte-order mark */
    {"{} {}", 0, "offset 3: unexpected '{', expected the end after the value"},
    {"[1 2]", 0, "expected ',' or ']'"},
    {"{\"a\" 1}", 0, "expected ':'"},
    {"{\"a\":1 \"b\":2}", 0, "expected ',' or '}'"},
    {"{1:2}", 0, "expected a member name"},
    {"tru", 0, "unexpected 't'"},
    {"True", 0, "unexpected 'T'"},
    {"nul", 0, "unexpected 'n'"},
    {"nullx", 0, "offset 4: unexpected 'x'"},
    {"[", 0, "unexpected end of input, expected a value"},
    {"{\"a\":", 0, "unexpected end of input, expected a value"},
    {"[1,", 0, "unexpected end of input"},
    {"{\"a\":1", 0, "unexpected end of input, expected ',' or '}'"},
    {"/* c */ 1", 0, "unexpected '/'"},
    {"NaN", 0, "unexpected 'N'"},
    {"-Infinity", 0, "expected a digit"},
    {"'a'", 0, "unexpected '''"},
    {"1\0", 2, "offset 1: unexpected byte 0x00"},
    {"[\"\0\"]", 4, "control character"},
    {"\"\\\0\"", 4, "bad escape \\ and byte 0x00"},
};

static void test_rejects(void)
{
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct json_doc d;
        char err[128] = "";
        size_t len = bad[i].len ? bad[i].len : strlen(bad[i].in);
        errno = 0;
        if (json_parse(bad[i].in, len, &d, err, sizeof(err)) == 0)
            T_FAIL("case %zu (%s): accepted", i, bad[i].in);
        if (strstr(err, bad[i].why) == NULL)
            T_FAIL("case %zu (%s): error \"%s\", want \"%s\"", i, bad[i].in, err, bad[i].why);
        T_EQ_INT(errno, EINVAL);
    }
}

/* n arrays inside each other: "[[[...]]]" (malloc'd). */
static char *nested(size_t n)
{
    char *s = malloc(2 * n + 1);

    T_ASSERT(s != NULL);
    memset(s, '[', n);
    memset(s + n, ']', n);
    s[2 * n] = '\0';
    return s;
}

static void test_depth_bound(void)
{
    struct json_doc d;
    char err[128], *s = nested(JSON_DEPTH_MAX), *deep = nested(JSON_DEPTH_MAX + 1);
    char *abyss = nested(1000000);

    T_EQ_INT(json_parse(s, strlen(s), &d, err, sizeof(err)), 0);
    json_free(&d);
    T_EQ_INT(json_parse(deep, strlen(deep), &d, err, sizeof(err)), -1);
    T_CONTAINS(err, "offset 64: nested too deep");
    /* A million levels fail at the bound, not in a stack overflow. */
    T_EQ_INT(json_parse(abyss, strlen(abyss), &d, err, sizeof(err)), -1);
    T_CONTAINS(err, "nested too deep");
    /* Objects count as arrays do. */
    free(s);
    s = malloc(6 * (JSON_DEPTH_MAX + 1) + 1);
    T_ASSERT(s != NULL);
    s[0] = '\0';
    for (int i = 0; i <= JSON_DEPTH_MAX; i++)
        strcat(s, "{\"a\":");
    T_EQ_INT(json_parse(s, strlen(s), &d, err, sizeof(err)), -1);
    T_CONTAINS(err, "nested too deep");
    free(s);
    free(deep);
    free(abyss);
}

/* "[0,0,...]" with n zeros (malloc'd). */
static char *zeros(size_t n, size_t *len)
{
    char *s = malloc(2 * n + 2);

    T_ASSERT(s != NULL);
    s[0] = '[';
    for (size_t i = 0; i < n; i++) {
        s[1 + 2 * i] = '0';
        s[2 + 2 * i] = i + 1 < n ? ',' : ']';
    }
    *len = 2 * n + 1;
    return s;
}

static void test_values_bound(void)
{
    struct json_doc d;
    char err[128];
    size_t len;
    char *fits = zeros(JSON_VALUES_MAX - 1, &len); /* and the array itself */
    char *over;

    T_EQ_INT(json_parse(fits, len, &d, err, sizeof(err)), 0);
    T_EQ_INT(json_root(&d)->count, JSON_VALUES_MAX - 1);
    json_free(&d);
    over = zeros(JSON_VALUES_MAX, &len);
    T_EQ_INT(json_parse(over, len, &d, err, sizeof(err)), -1);
    T_CONTAINS(err, "more values than this reader takes");
    free(fits);
    free(over);
}

static const char DOC[] = "{\"version\":\"0.1.0\",\"pid\":42,\"list\":[1,2.5,\"x\\u00e9\",{},[]],"
                          "\"t\":true,\"f\":false,\"n\":null}";

static void test_every_truncation_fails(void)
{
    for (size_t len = 0; len < sizeof(DOC) - 1; len++) {
        struct json_doc d;
        char err[128];
        if (json_parse(DOC, len, &d, err, sizeof(err)) == 0)
            T_FAIL("the first %zu bytes were accepted", len);
    }
}

static void test_tree(void)
{
    struct json_doc d;
    const struct json_value *v, *e;
    char err[128];
    uint64_t n;

    T_EQ_INT(json_parse(DOC, sizeof(DOC) - 1, &d, err, sizeof(err)), 0);
    T_EQ_INT(json_root(&d)->type, JSON_OBJECT);
    T_EQ_INT(json_root(&d)->count, 6);
    T_EQ_INT(json_member(&d, json_root(&d), "pid", &v), 0);
    T_EQ_INT(json_u64(v, &n), 0);
    T_EQ_INT(n, 42);
    T_EQ_STR(v->key, "pid");
    T_EQ_INT(json_member(&d, json_root(&d), "version", &v), 0);
    T_EQ_STR(v->text, "0.1.0");
    T_EQ_INT(json_member(&d, json_root(&d), "list", &v), 0);
    T_EQ_INT(v->count, 5);
    e = json_first(&d, v);
    T_EQ_STR(e->text, "1");
    T_ASSERT(e->key == NULL);
    e = json_next(&d, json_next(&d, e));
    T_EQ_STR(e->text, "x\xc3\xa9");
    e = json_next(&d, json_next(&d, e));
    T_EQ_INT(e->type, JSON_ARRAY);
    T_ASSERT(json_first(&d, e) == NULL);
    T_ASSERT(json_next(&d, e) == NULL);
    T_EQ_INT(json_member(&d, json_root(&d), "t", &v), 0);
    T_ASSERT(v->type == JSON_BOOL && v->boolean);
    T_EQ_INT(json_member(&d, json_root(&d), "f", &v), 0);
    T_ASSERT(v->type == JSON_BOOL && !v->boolean);
    T_EQ_INT(json_member(&d, json_root(&d), "n", &v), 0);
    T_EQ_INT(v->type, JSON_NULL);
    T_EQ_INT(json_member(&d, json_root(&d), "absent", &v), -1);
    T_EQ_INT(errno, ENOENT);
    T_EQ_INT(json_member(&d, json_root(&d), "pi", &v), -1); /* a prefix of a name is no match */
    T_EQ_INT(errno, ENOENT);
    T_EQ_INT(json_member(&d, e, "x", &v), -1);
    T_EQ_INT(errno, EINVAL);
    json_free(&d);
    json_free(&d); /* a freed doc is a zeroed one */
}

static void test_duplicate_member(void)
{
    static const char text[] = "{\"a\":1,\"b\":2,\"a\":3}";
    const struct json_value *v;
    struct json_doc d;
    char err[128];

    T_EQ_INT(json_parse(text, sizeof(text) - 1, &d, err, sizeof(err)), 0);
    T_EQ_INT(json_member(&d, json_root(&d), "a", &v), -1);
    T_EQ_INT(errno, EEXIST);
    T_EQ_INT(json_member(&d, json_root(&d), "b", &v), 0);
    json_free(&d);
}

static const struct {
    const char *in;
    int rc, err;
    uint64_t value;
} u64_cases[] = {
    {"0", 0, 0, 0},
    {"42", 0, 0, 42},
    {"18446744073709551615", 0, 0, UINT64_MAX},
    {"18446744073709551616", -1, ERANGE, 0},
    {"99999999999999999999999999", -1, ERANGE, 0},
    {"-1", -1, EINVAL, 0},
    {"-0", -1, EINVAL, 0},
    {"1.0", -1, EINVAL, 0},
    {"1e3", -1, EINVAL, 0},
    {"\"7\"", -1, EINVAL, 0},
    {"null", -1, EINVAL, 0},
};

static void test_u64(void)
{
    for (size_t i = 0; i < ARRAY_LEN(u64_cases); i++) {
        struct json_doc d;
        char err[128];
        uint64_t n = 0;
        int rc;
        T_EQ_INT(json_parse(u64_cases[i].in, strlen(u64_cases[i].in), &d, err, sizeof(err)), 0);
        errno = 0;
        rc = json_u64(json_root(&d), &n);
        if (rc != u64_cases[i].rc || (rc < 0 && errno != u64_cases[i].err) ||
            (rc == 0 && n != u64_cases[i].value))
            T_FAIL("case %s: rc %d errno %d value %llu", u64_cases[i].in, rc, errno,
                   (unsigned long long)n);
        json_free(&d);
    }
}

static const struct {
    const char *in;
    int rc;
    double value;
} double_cases[] = {
    {"1.5", 0, 1.5},  {"-2e3", 0, -2000}, {"1700000000", 0, 1700000000},
    {"1e-999", 0, 0}, {"1e999", -1, 0},   {"-1e400", -1, 0},
    {"\"1\"", -1, 0}, {"true", -1, 0},    {"0.1e1", 0, 1},
};

static void test_double(void)
{
    for (size_t i = 0; i < ARRAY_LEN(double_cases); i++) {
        struct json_doc d;
        char err[128];
        double v = -1;
        int rc;
        T_EQ_INT(json_parse(double_cases[i].in, strlen(double_cases[i].in), &d, err, sizeof(err)),
                 0);
        rc = json_double(json_root(&d), &v);
        if (rc != double_cases[i].rc || (rc == 0 && v != double_cases[i].value))
            T_FAIL("case %s: rc %d value %g", double_cases[i].in, rc, v);
        json_free(&d);
    }
}

static const struct t_case cases[] = {
    T_CASE(test_accepts),
    T_CASE(test_rejects),
    T_CASE(test_depth_bound),
    T_CASE(test_values_bound),
    T_CASE(test_every_truncation_fails),
    T_CASE(test_tree),
    T_CASE(test_duplicate_member),
    T_CASE(test_u64),
    T_CASE(test_double),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
