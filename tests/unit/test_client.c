/*
 * Unit tests: the client's pure pieces (client.c): address operands, -w,
 * the ISO 8601 time, and the bounded line reader.
 */
#include "client.h"
#include "proto.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *args[3];
    bool udp;
    int rc;
    const char *name; /* as messages will show it */
    enum addr_kind kind;
    const char *host, *port, *path;
} target_cases[] = {
    {{"tcp://127.0.0.1:7"}, false, 0, "tcp://127.0.0.1:7", ADDR_TCP, "127.0.0.1", "7", ""},
    {{"udp://[::1]:7"}, true, 0, "udp://[::1]:7", ADDR_UDP, "::1", "7", ""},
    {{"unix:/run/e.sock"}, false, 0, "unix:/run/e.sock", ADDR_UNIX, "", "", "/run/e.sock"},
    {{"unixgram:@echo"}, false, 0, "unixgram:@echo", ADDR_UNIXGRAM, "", "", "@echo"},
    {{"localhost", "echo"}, false, 0, "tcp://localhost:echo", ADDR_TCP, "localhost", "echo", ""},
    {{"::1", "7"}, false, 0, "tcp://[::1]:7", ADDR_TCP, "::1", "7", ""},
    {{"[::1]", "7"}, true, 0, "udp://[::1]:7", ADDR_UDP, "::1", "7", ""},
    {{"127.0.0.1", "7"}, true, 0, "udp://127.0.0.1:7", ADDR_UDP, "127.0.0.1", "7", ""},
    {{NULL}, false, -1, NULL, 0, NULL, NULL, NULL},
    {{"a", "b", "c"}, false, -1, NULL, 0, NULL, NULL, NULL},
    {{"127.0.0.1:7"}, false, -1, NULL, 0, NULL, NULL, NULL},
    {{"tcp://127.0.0.1:7"}, true, -1, NULL, 0, NULL, NULL, NULL},
    {{"tcp://*:7"}, false, -1, NULL, 0, NULL, NULL, NULL},
    {{"tcp://h:1", "7"}, false, -1, NULL, 0, NULL, NULL, NULL},
    {{"127.0.0.1", ""}, false, -1, NULL, 0, NULL, NULL, NULL},
};

static void test_target_parse(void)
{
    for (size_t i = 0; i < ARRAY_LEN(target_cases); i++) {
        struct client_target t = {.wait_ms = -1, .tries = 1};
        char err[256] = "";
        int n = 0, rc;
        while (n < 3 && target_cases[i].args[n] != NULL)
            n++;
        rc = client_target_parse(n, (char *const *)target_cases[i].args, target_cases[i].udp, &t,
                                 err, sizeof(err));
        if (rc != target_cases[i].rc)
            T_FAIL("case %zu (%s): rc %d, error \"%s\"", i, target_cases[i].args[0], rc, err);
        if (rc < 0) {
            T_ASSERT(err[0] != '\0');
            continue;
        }
        T_EQ_STR(t.name, target_cases[i].name);
        T_EQ_INT(t.spec.kind, target_cases[i].kind);
        T_EQ_STR(t.spec.host, target_cases[i].host);
        T_EQ_STR(t.spec.port, target_cases[i].port);
        T_EQ_STR(t.spec.path, target_cases[i].path);
        T_EQ_INT(t.wait_ms, -1); /* left alone */
    }
}

static const struct {
    const char *text;
    int rc, err;
    int64_t ms;
} wait_cases[] = {
    {"2", 0, 0, 2000},
    {"0.5", 0, 0, 500},
    {"1.25", 0, 0, 1250},
    {"0.001", 0, 0, 1},
    {"500ms", 0, 0, 500},
    {"3s", 0, 0, 3000},
    {"1m", 0, 0, 60000},
    {"2147483", 0, 0, 2147483000},
    {"0", -1, ERANGE, 0},
    {"0.0", -1, ERANGE, 0},
    {"0ms", -1, ERANGE, 0},
    {"2147484", -1, ERANGE, 0},
    {"2147483.648", -1, ERANGE, 0},
    {"", -1, EINVAL, 0},
    {"soon", -1, EINVAL, 0},
    {"-1", -1, EINVAL, 0},
    {".5", -1, EINVAL, 0},
    {"1.", -1, EINVAL, 0},
    {"0.0001", -1, EINVAL, 0},
    {"1.5s", -1, EINVAL, 0},
    {"+1.5", -1, EINVAL, 0},
    {"1.-5", -1, EINVAL, 0},
    {"1.2.3", -1, EINVAL, 0},
};

static void test_parse_wait(void)
{
    for (size_t i = 0; i < ARRAY_LEN(wait_cases); i++) {
        int64_t ms = -7;
        int rc;
        errno = 0;
        rc = client_parse_wait(wait_cases[i].text, &ms);
        if (rc != wait_cases[i].rc || (rc < 0 && errno != wait_cases[i].err) ||
            (rc == 0 && ms != wait_cases[i].ms))
            T_FAIL("client_parse_wait(\"%s\"): rc %d errno %d, %lld ms", wait_cases[i].text, rc,
                   errno, (long long)ms);
    }
}

static void test_format_time(void)
{
    char buf[32];

    T_EQ_INT(client_format_time(RFC868_UNIX_OFFSET, buf, sizeof(buf)), 0);
    T_EQ_STR(buf, "1970-01-01T00:00:00Z");
    T_EQ_INT(client_format_time(rfc868_from_unix(1795279200), buf, sizeof(buf)), 0);
    T_EQ_STR(buf, "2026-11-21T16:40:00Z");
    /* Below 1970's value: the era that starts in February 2036. */
    T_EQ_INT(client_format_time(0, buf, sizeof(buf)), 0);
    T_EQ_STR(buf, "2036-02-07T06:28:16Z");
    T_EQ_INT(client_format_time(0, buf, 10), -1);
}

/* A reader over a pipe holding `text`, its writing end closed. */
static struct client_lines *lines_over(const char *text, size_t len)
{
    struct client_lines *l = malloc(sizeof(*l));
    int fds[2];

    T_ASSERT(l != NULL);
    if (pipe2(fds, O_CLOEXEC) < 0)
        T_FAIL("pipe: %s", strerror(errno));
    if (fcntl(fds[1], F_SETPIPE_SZ, (int)len + 4096) < 0 && len > 60000)
        t_skip("cannot grow a pipe to %zu bytes", len);
    T_EQ_INT(write_all(fds[1], text, len), 0);
    close(fds[1]);
    client_lines_init(l, fds[0]);
    return l;
}

static void expect_line(struct client_lines *l, const char *want)
{
    const char *line;
    size_t len;

    T_EQ_INT(client_lines_next(l, -1, &line, &len), 1);
    T_EQ_INT(len, strlen(want));
    T_EQ_MEM(line, want, len);
}

static void test_lines_split(void)
{
    /* Newlines kept, an empty line is a line, the last one may lack "\n". */
    struct client_lines *l = lines_over("a b\n\nlast", 9);
    const char *line;
    size_t len;

    expect_line(l, "a b\n");
    expect_line(l, "\n");
    expect_line(l, "last");
    T_EQ_INT(client_lines_next(l, -1, &line, &len), 0);
    T_EQ_INT(client_lines_next(l, -1, &line, &len), 0);
    close(l->fd);
    free(l);
}

static void test_lines_too_long(void)
{
    /* A line over the bound is reported once and skipped; the next one is whole. */
    size_t big = CLIENT_LINE_MAX + 100;
    char *text = malloc(big + 8);
    struct client_lines *l;
    const char *line;
    size_t len;

    T_ASSERT(text != NULL);
    memset(text, 'x', big);
    memcpy(text + big, "\n1 2\n", 5);
    l = lines_over(text, big + 5);
    errno = 0;
    T_EQ_INT(client_lines_next(l, -1, &line, &len), -1);
    T_EQ_INT(errno, EMSGSIZE);
    expect_line(l, "1 2\n");
    T_EQ_INT(client_lines_next(l, -1, &line, &len), 0);
    close(l->fd);
    free(l);
    free(text);
}

/* Lines at the bound: `xs` bytes of 'x', then `tail`; what the first call gives, then `next`. */
static const struct {
    size_t xs;
    const char *tail;
    int rc; /* 1: a line of `len` bytes; -1: EMSGSIZE */
    size_t len;
    const char *next; /* the line after it, or NULL for the end */
} bound_cases[] = {
    /* As the fuzzer found it: a last line of exactly CLIENT_LINE_MAX bytes, no "\n". */
    {CLIENT_LINE_MAX, "", 1, CLIENT_LINE_MAX, NULL},
    {CLIENT_LINE_MAX - 1, "\n1 2\n", 1, CLIENT_LINE_MAX, "1 2\n"},
    {CLIENT_LINE_MAX, "\n1 2\n", -1, 0, "1 2\n"},
    {CLIENT_LINE_MAX + 1, "", -1, 0, NULL},
    {CLIENT_LINE_MAX + 1, "\n3 4", -1, 0, "3 4"},
};

static void test_lines_at_the_bound(void)
{
    for (size_t i = 0; i < ARRAY_LEN(bound_cases); i++) {
        size_t tlen = strlen(bound_cases[i].tail), len = 0;
        char *text = malloc(bound_cases[i].xs + tlen);
        struct client_lines *l;
        const char *line;
        int rc;

        T_ASSERT(text != NULL);
        memset(text, 'x', bound_cases[i].xs);
        memcpy(text + bound_cases[i].xs, bound_cases[i].tail, tlen);
        l = lines_over(text, bound_cases[i].xs + tlen);
        errno = 0;
        rc = client_lines_next(l, -1, &line, &len);
        if (rc != bound_cases[i].rc || (rc == 1 && len != bound_cases[i].len) ||
            (rc < 0 && errno != EMSGSIZE))
            T_FAIL("case %zu: rc %d (%s), %zu bytes", i, rc, strerror(errno), rc == 1 ? len : 0);
        if (bound_cases[i].next != NULL)
            expect_line(l, bound_cases[i].next);
        T_EQ_INT(client_lines_next(l, -1, &line, &len), 0);
        close(l->fd);
        free(l);
        free(text);
    }
}

static void test_lines_timeout(void)
{
    /* No input before the deadline: ETIMEDOUT, and the line is still read later. */
    struct client_lines *l = malloc(sizeof(*l));
    const char *line;
    size_t len;
    int fds[2];

    T_ASSERT(l != NULL);
    if (pipe2(fds, O_CLOEXEC) < 0)
        T_FAIL("pipe: %s", strerror(errno));
    client_lines_init(l, fds[0]);
    T_EQ_INT(write_all(fds[1], "par", 3), 0);
    errno = 0;
    T_EQ_INT(client_lines_next(l, now_ms() + 50, &line, &len), -1);
    T_EQ_INT(errno, ETIMEDOUT);
    T_EQ_INT(write_all(fds[1], "tial\n", 5), 0);
    expect_line(l, "partial\n");
    close(fds[0]);
    close(fds[1]);
    free(l);
}

static const struct t_case cases[] = {
    T_CASE(test_target_parse),  T_CASE(test_parse_wait),     T_CASE(test_format_time),
    T_CASE(test_lines_split),   T_CASE(test_lines_too_long), T_CASE(test_lines_at_the_bound),
    T_CASE(test_lines_timeout),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
