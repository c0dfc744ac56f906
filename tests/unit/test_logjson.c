/*
 * Unit tests: log messages as JSON (logjson.c).  The escaping, as a table
 * of byte strings and the exact JSON they become: quotes, backslashes,
 * every kind of control byte, valid UTF-8 kept, each kind of invalid UTF-8
 * replaced byte by byte.  The fields of a message, as a table: which words
 * are fields and which are prose, whatever the prose looks like.  Whole
 * lines: exact objects, cut lines that stay valid, and random bytes of
 * every kind into buffers of every size, each checked by a strict JSON
 * validator of the flat objects logjson makes.
 */
#include "logjson.h"
#include "t.h"
#include "util.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* --- a strict validator: {"k":"v",...}, string values only ---------------------------- */

static bool hex4(const char *s)
{
    return strspn(s, "0123456789abcdefABCDEF") >= 4;
}

/* One JSON string at *p (RFC 8259: no raw control byte, known escapes, valid UTF-8). */
static bool json_string(const char **p)
{
    const unsigned char *s = (const unsigned char *)*p;

    if (*s++ != '"')
        return false;
    while (*s != '"') {
        if (*s < 0x20)
            return false;
        if (*s == '\\') {
            s++;
            if (*s == 'u' && hex4((const char *)s + 1))
                s += 5;
            else if (*s != '\0' && strchr("\"\\/bfnrt", *s) != NULL)
                s++;
            else
                return false;
        } else if (*s < 0x80) {
            s++;
        } else {
            int n = *s >= 0xf0 ? 4 : *s >= 0xe0 ? 3 : *s >= 0xc2 ? 2 : 0;
            if (n == 0 || *s > 0xf4)
                return false;
            for (int i = 1; i < n; i++)
                if (s[i] < 0x80 || s[i] > 0xbf)
                    return false;
            s += n;
        }
    }
    *p = (const char *)s + 1;
    return true;
}

static bool json_object(const char *p)
{
    if (*p++ != '{')
        return false;
    for (bool first = true; *p != '}'; first = false) {
        if (!first && *p++ != ',')
            return false;
        if (!json_string(&p) || *p++ != ':' || !json_string(&p))
            return false;
    }
    return p[1] == '\0';
}

/* --- escaping --------------------------------------------------------------------------- */

static const char *escaped(const char *src, size_t len)
{
    static char buf[512];
    size_t n = logjson_escape(buf, sizeof(buf) - 1, src, len, NULL);

    buf[n] = '\0';
    return buf;
}

#define RAW(s) s, sizeof(s) - 1

static void test_escaping(void)
{
    static const struct {
        const char *src;
        size_t len;
        const char *want;
    } cases[] = {
        {RAW("plain text"), "plain text"},
        {RAW("say \"hi\""), "say \\\"hi\\\""},
        {RAW("C:\\dir\\x41"), "C:\\\\dir\\\\x41"},
        {RAW("/slash/"), "/slash/"},
        {RAW("\n\r\t\b\f"), "\\u000a\\u000d\\u0009\\u0008\\u000c"},
        {RAW("\x01\x1b[2J\x1f"), "\\u0001\\u001b[2J\\u001f"},
        {RAW("a\0b"), "a\\u0000b"},
        {RAW("del\x7f"), "del\\u007f"},
        /* Valid UTF-8 of every length, as it is. */
        {RAW("caf\xc3\xa9"), "caf\xc3\xa9"},
        {RAW("\xe2\x82\xac 5"), "\xe2\x82\xac 5"},
        {RAW("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80"},
        {RAW("\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf"),
         "\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf"},
        /* Invalid UTF-8: each byte that is not part of a valid sequence. */
        {RAW("\x80"), "\\ufffd"},
        {RAW("\xbf\xbf"), "\\ufffd\\ufffd"},
        {RAW("\xc3"), "\\ufffd"},
        {RAW("x\xc3y"), "x\\ufffdy"},
        {RAW("\xc0\xaf"), "\\ufffd\\ufffd"},            /* overlong '/' */
        {RAW("\xc1\xbf"), "\\ufffd\\ufffd"},            /* overlong */
        {RAW("\xe0\x80\xaf"), "\\ufffd\\ufffd\\ufffd"}, /* overlong, 3 bytes */
        {RAW("\xf0\x80\x80\xaf"), "\\ufffd\\ufffd\\ufffd\\ufffd"},
        {RAW("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd"},            /* a surrogate, U+D800 */
        {RAW("\xf4\x90\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd"}, /* U+110000 */
        {RAW("\xf5\x80"), "\\ufffd\\ufffd"},
        {RAW("\xff\xfe"), "\\ufffd\\ufffd"},
        {RAW("\xe2\x82"), "\\ufffd\\ufffd"}, /* cut short at the end */
        {RAW("\xe2\x82x"), "\\ufffd\\ufffdx"},
        {RAW("\xe2\x28\xa1"), "\\ufffd(\\ufffd"},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const char *got = escaped(cases[i].src, cases[i].len);
        char quoted[600];
        const char *p = quoted;
        if (strcmp(got, cases[i].want) != 0)
            T_FAIL("case %zu: got \"%s\", want \"%s\"", i, got, cases[i].want);
        snprintf(quoted, sizeof(quoted), "\"%s\"", got);
        T_ASSERT(json_string(&p) && *p == '\0');
    }
}

static void test_escaping_stops_at_a_whole_escape(void)
{
    char buf[16];
    size_t taken;

    /* `a"` needs 3 bytes: with 2, only the 'a'. */
    T_EQ_INT(logjson_escape(buf, 2, "a\"b", 3, &taken), 1);
    T_EQ_INT(taken, 1);
    /* A control byte is 6 or nothing. */
    T_EQ_INT(logjson_escape(buf, 5, "\x01", 1, &taken), 0);
    T_EQ_INT(taken, 0);
    /* A UTF-8 sequence is whole or not there. */
    T_EQ_INT(logjson_escape(buf, 3, "\xf0\x9f\x98\x80", 4, &taken), 0);
    T_EQ_INT(logjson_escape(buf, 4, "\xf0\x9f\x98\x80", 4, &taken), 4);
    T_EQ_INT(taken, 4);
    /* Without a buffer: the length of the whole. */
    T_EQ_INT(logjson_escape(NULL, SIZE_MAX, "\"\x01\xff", 3, NULL), 2 + 6 + 6);
}

/* --- fields ----------------------------------------------------------------------------- */

/* The fields of `msg` as "k=v;k=v". */
static const char *fields_of(const char *msg)
{
    static char buf[1024];
    struct logjson_field f[LOGJSON_FIELDS_MAX];
    size_t n = logjson_fields(msg, f, LOGJSON_FIELDS_MAX), used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%.*s=%.*s", i ? ";" : "",
                                 (int)f[i].key_len, f[i].key, (int)f[i].value_len, f[i].value);
    return buf;
}

static void test_fields(void)
{
    static const struct {
        const char *msg, *want;
    } cases[] = {
        {"service=echo proto=tcp peer=127.0.0.1:5 duration_ms=0 in=1 out=1 end=closed",
         "service=echo;proto=tcp;peer=127.0.0.1:5;duration_ms=0;in=1;out=1;end=closed"},
        {"service=echo proto=tcp peer=10.0.0.0/24 via=h:0123456789abcdef duration_ms=3 in=0 "
         "out=0 end=closed tls=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 sni=a\\x20b=c",
         "service=echo;proto=tcp;peer=10.0.0.0/24;via=h:0123456789abcdef;duration_ms=3;in=0;"
         "out=0;end=closed;tls=TLSv1.3;cipher=TLS_AES_256_GCM_SHA384;sni=a\\x20b=c"},
        {"service=greet proto=tcp peer=- duration_ms=1 in=0 out=0 end=exit:3 pid=77",
         "service=greet;proto=tcp;peer=-;duration_ms=1;in=0;out=0;end=exit:3;pid=77"},
        /* One first word, then the fields. */
        {"listening service=echo addr=tcp://127.0.0.1:7", "service=echo;addr=tcp://127.0.0.1:7"},
        {"stats worker=2 service=echo conns_now=0", "worker=2;service=echo;conns_now=0"},
        {"stats log_lines_lost=0", "log_lines_lost=0"},
        /* The prose after the fields is never taken, whatever it looks like. */
        {"service=greet pid=12 stderr: end=forged peer=1.2.3.4", "service=greet;pid=12"},
        {"service=echo: unable to accept on tcp://x: level=0", "service=echo"},
        {"service=echo pid=5: max_time reached: SIGTERM", "service=echo;pid=5"},
        {"service=echo: 3 more refused in the last second (end=refused:rate)", "service=echo"},
        {"usherd 0.1.0 starting, configuration /x a=b", ""},
        {"ready: 7 services, 14 listeners", ""},
        {"SIGHUP: reloading /etc/a b=c", ""},
        {"two words k=v", ""},
        {"", ""},
        /* Keys: a lowercase letter, then letters, digits, '_'. */
        {"a1_b=v 9x=w y=z", "a1_b=v"},
        {"Service=x y=z", "y=z"},
        {"=x y=z", "y=z"},
        {"x-y=1 z=2", "z=2"},
        /* Empty values are values; a word of its own after a field ends them. */
        {"peer= end=denied", "peer=;end=denied"},
        {"x=1  y=2", "x=1"},
        /* The reserved keys and repeated ones stay in msg only. */
        {"msg=a time=b level=c service=s service=t", "service=s"},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const char *got = fields_of(cases[i].msg);
        if (strcmp(got, cases[i].want) != 0)
            T_FAIL("\"%s\": got \"%s\", want \"%s\"", cases[i].msg, got, cases[i].want);
    }
}

static void test_fields_at_most_max(void)
{
    struct logjson_field f[3];

    T_EQ_INT(logjson_fields("a=1 b=2 c=3 d=4 e=5", f, 3), 3);
    T_ASSERT(f[2].key_len == 1 && f[2].key[0] == 'c');
}

/* --- lines ------------------------------------------------------------------------------ */

static void test_line_exact(void)
{
    char buf[512];

    logjson_line(buf, sizeof(buf), "2026-11-03T09:14:07.123Z", "info",
                 "listening service=echo addr=tcp://127.0.0.1:7");
    T_EQ_STR(buf, "{\"time\":\"2026-11-03T09:14:07.123Z\",\"level\":\"info\","
                  "\"msg\":\"listening service=echo addr=tcp://127.0.0.1:7\","
                  "\"service\":\"echo\",\"addr\":\"tcp://127.0.0.1:7\"}");
    logjson_line(buf, sizeof(buf), "T", "warning", "service=x stderr: say \"\\x1b\"");
    T_EQ_STR(buf, "{\"time\":\"T\",\"level\":\"warning\","
                  "\"msg\":\"service=x stderr: say \\\"\\\\x1b\\\"\",\"service\":\"x\"}");
    T_ASSERT(json_object(buf));
}

static void test_long_line_cut_keeps_fields_and_stays_valid(void)
{
    /* A long message into a small buffer: the fields first, then as much
     * of msg as fits, cut at an escape's boundary and marked "...". */
    char msg[3000], buf[300];
    size_t n;

    n = (size_t)snprintf(msg, sizeof(msg), "service=greet pid=9 stderr: ");
    for (; n < sizeof(msg) - 1; n++)
        msg[n] = '"';
    msg[n] = '\0';
    n = logjson_line(buf, sizeof(buf), "T", "info", msg);
    T_EQ_INT(n, strlen(buf));
    T_ASSERT(n < sizeof(buf));
    T_ASSERT(json_object(buf));
    T_CONTAINS(buf, "...\",\"service\":\"greet\",\"pid\":\"9\"}");
    T_CONTAINS(buf, "stderr: \\\"\\\"");
}

static void test_fields_give_way_to_a_bare_msg(void)
{
    /* Fields longer than the buffer: they are left out from the last, msg stays. */
    char msg[2000], buf[200];
    int n = snprintf(msg, sizeof(msg), "a=1 b=");

    memset(msg + n, 'x', 1500);
    msg[n + 1500] = '\0';
    logjson_line(buf, sizeof(buf), "T", "info", msg);
    T_ASSERT(json_object(buf));
    T_CONTAINS(buf, ",\"a\":\"1\"}");
    T_ASSERT(strstr(buf, "\"b\":") == NULL);
}

static void test_random_bytes_always_give_a_valid_object(void)
{
    /* Any bytes, any buffer size from the smallest: one valid object that fits. */
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    static const char pieces[][8] = {"k=",   " ",    "=",    "\"",   "\\", ":",    "\xc3", "\xa9",
                                     "\xed", "\xf4", "\x80", "\x1b", "\n", "\x7f", "a",    "z_9="};

    for (int round = 0; round < 3000; round++) {
        char msg[600], buf[700];
        size_t len = 0, size, n;
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        size = LOGJSON_MIN + (size_t)(seed >> 33) % 500;
        while (len < (size_t)(seed >> 40) % 550) {
            const char *piece;
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            if ((seed >> 62) == 0) {
                msg[len++] = (char)(1 + (seed >> 20) % 255); /* any byte but NUL */
                continue;
            }
            piece = pieces[(seed >> 33) % ARRAY_LEN(pieces)];
            if (len + strlen(piece) >= sizeof(msg))
                break;
            memcpy(msg + len, piece, strlen(piece));
            len += strlen(piece);
        }
        msg[len] = '\0';
        n = logjson_line(buf, size, "T", "debug", msg);
        if (n >= size || strlen(buf) != n || !json_object(buf))
            T_FAIL("round %d, size %zu: not a valid object: %s", round, size, buf);
    }
}

static void test_too_small_a_buffer_gives_nothing(void)
{
    char buf[LOGJSON_MIN - 1];

    T_EQ_INT(logjson_line(buf, sizeof(buf), "T", "info", "x"), 0);
    T_EQ_STR(buf, "");
}

static const struct t_case cases[] = {
    T_CASE(test_escaping),
    T_CASE(test_escaping_stops_at_a_whole_escape),
    T_CASE(test_fields),
    T_CASE(test_fields_at_most_max),
    T_CASE(test_line_exact),
    T_CASE(test_long_line_cut_keeps_fields_and_stays_valid),
    T_CASE(test_fields_give_way_to_a_bare_msg),
    T_CASE(test_random_bytes_always_give_a_valid_object),
    T_CASE(test_too_small_a_buffer_gives_nothing),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
