/*
 * Unit tests: usherd's status document as usher status reads and shows it
 * (status.c): decoding (and the errors of a document that is not one),
 * rates between fake samples, units, and the table, byte for byte, with
 * and without rates, cut to a number of connections, and with names a
 * hostile server chose.
 */
#include "status.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STARTED 1700000000

/* A document of the shape of SPEC 15; %s are the counters of echo (total, received, sent). */
#define DOC_FMT                                                                                    \
    "{\"version\":\"0.1.0\",\"pid\":4242,\"started\":1700000000,\"config\":\"/etc/usherd.conf\","  \
    "\"reloads\":2,\"services\":["                                                                 \
    "{\"name\":\"echo\",\"listen\":[\"tcp://127.0.0.1:10007\",\"udp://127.0.0.1:10007\"],"         \
    "\"model\":\"event\",\"active\":3,\"total\":%s,"                                               \
    "\"refused\":{\"max_conns\":2,\"rate\":0,\"denied\":5},"                                       \
    "\"received_bytes\":%s,\"sent_bytes\":%s,\"children\":0},"                                     \
    "{\"name\":\"greeter\",\"listen\":[\"tcp://127.0.0.1:10100\"],\"model\":\"fork\","             \
    "\"active\":1,\"total\":18446744073709551615,\"refused\":{},\"received_bytes\":512,"           \
    "\"sent_bytes\":0,\"children\":1,\"future_key\":[1,2,3]}],"                                    \
    "\"connections\":["                                                                            \
    "{\"service\":\"echo\",\"peer\":\"127.0.0.1:54321\",\"age_ms\":12345,\"pid\":4242},"           \
    "{\"service\":\"greeter\",\"peer\":\"[::1]:40000\",\"age_ms\":3723000,\"pid\":null},"          \
    "{\"service\":\"echo\",\"peer\":\"unix\",\"age_ms\":0,\"pid\":4243}]}"

/* The document with echo's counters filled in (static: one at a time). */
static const char *doc(const char *total, const char *received, const char *sent)
{
    static char buf[4096];
    int n = snprintf(buf, sizeof(buf), DOC_FMT, total, received, sent);

    T_ASSERT(n > 0 && (size_t)n < sizeof(buf));
    return buf;
}

static void decode(struct status *st, const char *text)
{
    char err[256];

    if (status_decode(text, strlen(text), st, err, sizeof(err)) < 0)
        T_FAIL("decode: %s", err);
}

/* The table of st (malloc'd). */
static char *table(const struct status *st, const struct status_view *v)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    int lines;

    T_ASSERT(f != NULL);
    lines = status_format(f, st, v);
    T_ASSERT(fclose(f) == 0);
    T_ASSERT(lines > 0);
    return out;
}

static void test_decode(void)
{
    struct status st;

    decode(&st, doc("1520", "1258291", "1258291"));
    T_EQ_STR(st.version, "0.1.0");
    T_EQ_INT(st.pid, 4242);
    T_ASSERT(st.started == STARTED);
    T_EQ_STR(st.config, "/etc/usherd.conf");
    T_EQ_INT(st.reloads, 2);
    T_EQ_INT(st.nservices, 2);
    T_EQ_STR(st.services[0].name, "echo");
    T_EQ_STR(st.services[0].model, "event");
    T_EQ_INT(st.services[0].nlisten, 2);
    T_EQ_INT(st.services[0].active, 3);
    T_EQ_INT(st.services[0].total, 1520);
    T_EQ_INT(st.services[0].refused, 7);
    T_EQ_INT(st.services[0].nreasons, 3);
    T_EQ_STR(st.services[0].reasons[2].reason, "denied");
    T_EQ_INT(st.services[0].reasons[2].count, 5);
    T_EQ_INT(st.services[0].received, 1258291);
    T_ASSERT(st.services[1].total == UINT64_MAX);
    T_EQ_INT(st.services[1].nreasons, 0);
    T_EQ_INT(st.services[1].children, 1);
    T_EQ_INT(st.nconns, 3);
    T_EQ_STR(st.conns[1].peer, "[::1]:40000");
    T_EQ_INT(st.conns[1].age_ms, 3723000);
    T_ASSERT(!st.conns[1].has_pid);
    T_ASSERT(st.conns[0].has_pid && st.conns[0].pid == 4242);
    status_free(&st);
    status_free(&st);
}

static void test_decode_minimal(void)
{
    static const char text[] = "{\"version\":\"x\",\"pid\":1,\"started\":1.5e9,\"config\":null,"
                               "\"reloads\":0,\"services\":[],\"connections\":[]}";
    struct status st;

    decode(&st, text);
    T_ASSERT(st.config == NULL);
    T_ASSERT(st.started == 1.5e9);
    T_EQ_INT(st.nservices, 0);
    T_EQ_INT(st.nconns, 0);
    status_free(&st);
}

/* A document with the member `from` replaced by `to` (static). */
static const char *edited(const char *from, const char *to)
{
    static char buf[4096];
    const char *base = doc("1520", "1258291", "1258291"), *at = strstr(base, from);
    int n;

    T_ASSERT(at != NULL);
    n = snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - base), base, to, at + strlen(from));
    T_ASSERT(n > 0 && (size_t)n < sizeof(buf));
    return buf;
}

static const struct {
    const char *from, *to, *why;
} bad_docs[] = {
    {"\"pid\":4242,", "", "not a usherd status: no \"pid\""},
    {"\"pid\":4242,", "\"pid\":\"4242\",",
     "not a usherd status: pid: expected a number, not a string"},
    {"\"pid\":4242,", "\"pid\":-1,", "pid: expected a whole number from 0 to 2^64-1"},
    {"\"pid\":4242,", "\"pid\":4242,\"pid\":1,", "\"pid\" given twice"},
    {"\"started\":1700000000", "\"started\":-5", "started: expected a Unix time, not -5"},
    {"\"started\":1700000000", "\"started\":1e999", "started: expected a Unix time"},
    {"\"reloads\":2", "\"reloads\":2.5", "reloads: expected a whole number"},
    {"\"config\":\"/etc/usherd.conf\"", "\"config\":7", "config: expected a string, not a number"},
    {"\"version\":\"0.1.0\"", "\"version\":\"0\\u0000\"", "version: a NUL in the string"},
    {"\"services\":[", "\"services\":7,\"x\":[", "services: expected an array, not a number"},
    {"\"services\":[", "\"services\":[3,", "services[0]: expected an object, not a number"},
    {"\"total\":18446744073709551615", "\"total\":18446744073709551616",
     "services[1].total: expected a whole number from 0 to 2^64-1"},
    {"\"received_bytes\":512,", "", "services[1]: no \"received_bytes\""},
    {"\"model\":\"fork\"", "\"model\":null", "services[1].model: expected a string, not null"},
    {"\"listen\":[\"tcp://127.0.0.1:10100\"]", "\"listen\":[1]",
     "services[1].listen: expected strings, not a number"},
    {"\"listen\":[\"tcp://127.0.0.1:10100\"]", "\"listen\":\"tcp://x:1\"",
     "services[1].listen: expected an array, not a string"},
    {"\"denied\":5", "\"denied\":\"5\"", "services[0].refused.denied: expected a whole number"},
    {"\"refused\":{}", "\"refused\":[]", "services[1].refused: expected an object, not an array"},
    {"\"age_ms\":12345", "\"age_ms\":-1", "connections[0].age_ms: expected a whole number"},
    {"\"pid\":null", "\"pid\":\"x\"", "connections[1].pid: expected a number, not a string"},
    {"\"pid\":null", "\"pid\":1.5", "connections[1].pid: expected a whole number"},
    {"\"peer\":\"unix\",", "", "connections[2]: no \"peer\""},
    {"\"connections\":[", "\"connexions\":[", "not a usherd status: no \"connections\""},
    {"\"version\":\"0.1.0\"", "\"version\":\"0.1.0\",", "not JSON: offset"},
};

static void test_decode_errors(void)
{
    struct status st;
    char err[256];
    const char *text;

    for (size_t i = 0; i < ARRAY_LEN(bad_docs); i++) {
        text = edited(bad_docs[i].from, bad_docs[i].to);
        if (status_decode(text, strlen(text), &st, err, sizeof(err)) == 0)
            T_FAIL("case %zu (%s): accepted", i, bad_docs[i].to);
        if (strstr(err, bad_docs[i].why) == NULL)
            T_FAIL("case %zu: error \"%s\", want \"%s\"", i, err, bad_docs[i].why);
    }
    T_EQ_INT(status_decode("[]", 2, &st, err, sizeof(err)), -1);
    T_EQ_STR(err, "not a usherd status: expected an object, not an array");
    T_EQ_INT(status_decode("", 0, &st, err, sizeof(err)), -1);
    T_CONTAINS(err, "not JSON: offset 0: unexpected end of input");
}

static void test_rates(void)
{
    struct status a, b;
    struct status_rate r[2];

    decode(&a, doc("1000", "1048576", "0"));
    decode(&b, doc("1250", "3145728", "512"));
    status_rates(&a, &b, 2000, r);
    T_ASSERT(r[0].known);
    T_ASSERT(r[0].conns == 125.0);
    T_ASSERT(r[0].received == 1048576.0);
    T_ASSERT(r[0].sent == 256.0);
    T_ASSERT(r[1].known && r[1].conns == 0 && r[1].received == 0); /* at 2^64-1, still */
    /* No time between them, or no earlier sample: nothing known. */
    status_rates(&a, &b, 0, r);
    T_ASSERT(!r[0].known && !r[1].known);
    status_rates(NULL, &b, 1000, r);
    T_ASSERT(!r[0].known && !r[1].known);
    /* Counters that went back: another run of the daemon, or a service anew. */
    status_rates(&b, &a, 1000, r);
    T_ASSERT(!r[0].known);
    T_ASSERT(r[1].known);
    status_free(&a);
    decode(&a, edited("\"started\":1700000000", "\"started\":1700000001"));
    status_rates(&a, &b, 1000, r);
    T_ASSERT(!r[0].known && !r[1].known);
    status_free(&a);
    /* A service that was not there before. */
    decode(&a, edited("\"name\":\"greeter\"", "\"name\":\"other\""));
    status_free(&b);
    decode(&b, doc("2520", "1258291", "1258291"));
    status_rates(&a, &b, 1000, r);
    T_ASSERT(r[0].known && r[0].conns == 1000.0 && !r[1].known);
    status_free(&a);
    status_free(&b);
}

static const struct {
    double bytes;
    const char *text;
} byte_cases[] = {
    {0, "0 B"},
    {1, "1 B"},
    {1023, "1023 B"},
    {1023.6, "1.0 KiB"},
    {1024, "1.0 KiB"},
    {1536, "1.5 KiB"},
    {10188, "9.9 KiB"},
    {10189, "10 KiB"},
    {10240, "10 KiB"},
    {1047552, "1023 KiB"},
    {1048575, "1.0 MiB"},
    {1258291, "1.2 MiB"},
    {5e9, "4.7 GiB"},
    {18446744073709551615.0, "16 EiB"},
    {1e30, "867361737988 EiB"},
};

static void test_bytes(void)
{
    for (size_t i = 0; i < ARRAY_LEN(byte_cases); i++) {
        char buf[32];
        status_bytes(buf, sizeof(buf), byte_cases[i].bytes);
        if (strcmp(buf, byte_cases[i].text) != 0)
            T_FAIL("%g bytes: \"%s\", want \"%s\"", byte_cases[i].bytes, buf, byte_cases[i].text);
    }
}

static const struct {
    int64_t s;
    const char *text;
} duration_cases[] = {
    {-1, "-"},
    {0, "0s"},
    {59, "59s"},
    {60, "1m 00s"},
    {3599, "59m 59s"},
    {3600, "1h 00m"},
    {7384, "2h 03m"},
    {86399, "23h 59m"},
    {86400, "1d 00h"},
    {200000, "2d 07h"},
    {INT64_MAX, "106751991167300d 15h"},
};

static void test_duration(void)
{
    for (size_t i = 0; i < ARRAY_LEN(duration_cases); i++) {
        char buf[32];
        status_duration(buf, sizeof(buf), duration_cases[i].s);
        T_EQ_STR(buf, duration_cases[i].text);
    }
}

static const char TABLE[] =
    "usherd 0.1.0  pid 4242  up 2h 03m  reloads 2  config /etc/usherd.conf\n"
    "SERVICE  MODEL  ACTIVE                 TOTAL  REFUSED  RECEIVED     SENT  CHILDREN\n"
    "echo     event       3                  1520        7   1.2 MiB  1.2 MiB         0\n"
    "  refused: max_conns 2, denied 5\n"
    "greeter  fork        1  18446744073709551615        0     512 B      0 B         1\n"
    "\n"
    "SERVICE  PEER                AGE   PID\n"
    "echo     127.0.0.1:54321     12s  4242\n"
    "greeter  [::1]:40000      1h 02m     -\n"
    "echo     unix                 0s  4243\n";

static void test_table(void)
{
    struct status_view v = {.now = STARTED + 7384, .max_conns = 20, .eol = "\n"};
    struct status st;
    char *out;

    decode(&st, doc("1520", "1258291", "1258291"));
    out = table(&st, &v);
    T_EQ_STR(out, TABLE);
    free(out);
    status_free(&st);
}

static void test_table_with_rates(void)
{
    struct status_view v = {.now = STARTED + 90061,
                            .max_conns = 1,
                            .eol = "\033[K\n",
                            .title = "tcp://127.0.0.1:9100  every 1s"};
    struct status a, b;
    struct status_rate r[2];
    char *out;

    decode(&a, doc("1000", "1048576", "0"));
    decode(&b, doc("1250", "3145728", "512"));
    b.services[1].name = "renamed"; /* no earlier sample of it */
    status_rates(&a, &b, 2000, r);
    v.rates = r;
    out = table(&b, &v);
    T_EQ_STR(out, "tcp://127.0.0.1:9100  every 1s\033[K\n"
                  "usherd 0.1.0  pid 4242  up 1d 01h  reloads 2  config /etc/usherd.conf\033[K\n"
                  "SERVICE  MODEL  ACTIVE                 TOTAL  CONN/S  REFUSED  RECEIVED   "
                  "RECV/S   SENT  SENT/S  CHILDREN\033[K\n"
                  "echo     event       3                  1250   125.0        7   3.0 MiB  "
                  "1.0 MiB  512 B   256 B         0\033[K\n"
                  "  refused: max_conns 2, denied 5\033[K\n"
                  "renamed  fork        1  18446744073709551615       -        0     512 B        "
                  "-    0 B       -         1\033[K\n"
                  "\033[K\n"
                  "SERVICE  PEER             AGE   PID\033[K\n"
                  "echo     127.0.0.1:54321  12s  4242\033[K\n"
                  "... and 2 more connections\033[K\n");
    free(out);
    status_free(&a);
    status_free(&b);
}

static void test_table_no_conns_shown(void)
{
    struct status_view v = {.now = STARTED - 10, .max_conns = 0, .eol = "\n"};
    struct status st;
    char *out;

    decode(&st, edited("\"config\":\"/etc/usherd.conf\"", "\"config\":null"));
    out = table(&st, &v);
    T_CONTAINS(out, "up -  reloads 2  config (embedded default)\n");
    T_CONTAINS(out, "\n\n3 connections (usher status --json lists them)\n");
    T_ASSERT(strstr(out, "PEER") == NULL);
    free(out);
    status_free(&st);
}

/* Names, peers and reasons come from the server: none reaches the terminal raw. */
static void test_table_escapes(void)
{
    struct status_view v = {.now = STARTED, .max_conns = 20, .eol = "\n"};
    struct status st;
    char *out;

    decode(&st, "{\"version\":\"1\\u001b[2J\",\"pid\":1,\"started\":0,\"config\":\"a\\nb\","
                "\"reloads\":0,\"services\":[{\"name\":\"x\\u001b]0;pwned\\u0007\","
                "\"listen\":[],\"model\":\"\\u00e9vent\",\"active\":0,\"total\":0,"
                "\"refused\":{\"r\\r\":1},\"received_bytes\":0,\"sent_bytes\":0,"
                "\"children\":0}],\"connections\":[{\"service\":\"s\",\"peer\":\"p\\u009b\","
                "\"age_ms\":0,\"pid\":null}]}");
    out = table(&st, &v);
    for (const char *p = out; *p != '\0'; p++)
        if ((*p < 0x20 && *p != '\n') || (unsigned char)*p >= 0x7f)
            T_FAIL("byte 0x%02x at %zu in the table:\n%s", (unsigned char)*p, (size_t)(p - out),
                   out);
    T_CONTAINS(out, "usherd 1\\x1b[2J ");
    T_CONTAINS(out, "config a\\x0ab\n");
    T_CONTAINS(out, "x\\x1b]0;pwned\\x07  \\xc3\\xa9vent");
    T_CONTAINS(out, "refused: r\\x0d 1\n");
    T_CONTAINS(out, "p\\xc2\\x9b");
    free(out);
    status_free(&st);
}

/* A long name is cut, so the columns stay bounded. */
static void test_table_long_name(void)
{
    struct status_view v = {.now = STARTED, .max_conns = 20, .eol = "\n"};
    struct status st;
    char name[200], text[1024], *out;

    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    snprintf(text, sizeof(text),
             "{\"version\":\"1\",\"pid\":1,\"started\":0,\"config\":null,\"reloads\":0,"
             "\"services\":[{\"name\":\"%s\",\"listen\":[],\"model\":\"event\",\"active\":0,"
             "\"total\":0,\"refused\":{},\"received_bytes\":0,\"sent_bytes\":0,\"children\":0}],"
             "\"connections\":[]}",
             name);
    decode(&st, text);
    out = table(&st, &v);
    T_CONTAINS(out, "\nnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...  event");
    free(out);
    status_free(&st);
}

static const struct t_case cases[] = {
    T_CASE(test_decode),
    T_CASE(test_decode_minimal),
    T_CASE(test_decode_errors),
    T_CASE(test_rates),
    T_CASE(test_bytes),
    T_CASE(test_duration),
    T_CASE(test_table),
    T_CASE(test_table_with_rates),
    T_CASE(test_table_no_conns_shown),
    T_CASE(test_table_escapes),
    T_CASE(test_table_long_name),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
