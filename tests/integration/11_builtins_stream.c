/*
 * The built-in services over stream sockets: TCP on IPv4, TCP on IPv6 and
 * Unix stream sockets, byte for byte as SPEC section 4 says.  Every case
 * runs its scenario over all three transports of one daemon that serves
 * every builtin on each.  Expected replies are computed here, from the
 * SPEC, never with the daemon's own code.
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RFC868_OFFSET 2208988800u
#define CHARGEN_LINE  74

static const char *const transports[] = {"tcp://127", "tcp://[", "unix:"};
static const char *const builtins[] = {"echo", "discard", "daytime", "chargen",
                                       "time", "sum",     "sumbin"};

/* One daemon serving every builtin on 127.0.0.1, ::1 and a Unix socket. */
static struct h_daemon *start_all(void)
{
    char conf[4096];
    size_t len = 0;

    for (size_t i = 0; i < ARRAY_LEN(builtins); i++)
        len +=
            (size_t)snprintf(conf + len, sizeof(conf) - len,
                             "[%s]\nlisten = tcp://127.0.0.1:0 tcp://[::1]:0 unix:@DIR@/%s.sock\n"
                             "builtin = %s\n",
                             builtins[i], builtins[i], builtins[i]);
    return h_start(conf, NULL);
}

/* Printable form of some bytes, for failure messages (one of 4 rotating buffers). */
static const char *esc(const void *data, size_t n)
{
    static char bufs[4][600];
    static int next;
    char *out = bufs[next++ % 4];
    const unsigned char *p = data;
    size_t o = 0;

    for (size_t i = 0; i < n && o + 8 < sizeof(bufs[0]); i++) {
        if (p[i] == '\n')
            o += (size_t)snprintf(out + o, sizeof(bufs[0]) - o, "\\n");
        else if (p[i] == '\r')
            o += (size_t)snprintf(out + o, sizeof(bufs[0]) - o, "\\r");
        else if (p[i] < 0x20 || p[i] > 0x7e)
            o += (size_t)snprintf(out + o, sizeof(bufs[0]) - o, "\\x%02x", p[i]);
        else
            out[o++] = (char)p[i];
    }
    out[o] = '\0';
    return out;
}

/* Read exactly strlen(want) bytes from fd and compare. */
static void expect_reply(int fd, const char *addr, const char *req, const char *want)
{
    size_t n = strlen(want);
    char got[256];
    ssize_t r;

    if (n > sizeof(got))
        T_FAIL("expected reply too long");
    r = read_full(fd, got, n);
    if (r < 0)
        T_FAIL("%s: request \"%s\": recv: %s", addr, esc(req, strlen(req)), strerror(errno));
    if ((size_t)r != n || memcmp(got, want, n) != 0)
        T_FAIL("%s: request \"%s\": got \"%s\", want \"%s\"", addr, esc(req, strlen(req)),
               esc(got, (size_t)r), esc(want, n));
}

/* Nothing readable right now (an answer that came too early would be). */
static void expect_nothing_yet(int fd, const char *addr, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    if (poll(&p, 1, ms) > 0) {
        char buf[64];
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        T_FAIL("%s: unexpected bytes before the request was complete: \"%s\"", addr,
               esc(buf, n > 0 ? (size_t)n : 0));
    }
}

/* A position-dependent byte pattern covering every byte value. */
static void fill_pattern(unsigned char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(i + (i >> 8) * 7 + (i >> 16) * 13);
}

/* Check `n` chargen bytes that start at line `first_line`, column 0. */
static void check_chargen(const char *addr, const char *buf, size_t n, size_t first_line)
{
    for (size_t off = 0; off < n; off++) {
        size_t line = first_line + off / CHARGEN_LINE, col = off % CHARGEN_LINE;
        char want = col == 72 ? '\r' : col == 73 ? '\n' : (char)(0x20 + (line + col) % 95);
        if (buf[off] != want)
            T_FAIL("%s: chargen byte %zu (line %zu, column %zu): got 0x%02x, want 0x%02x", addr,
                   off, line, col, (unsigned char)buf[off], (unsigned char)want);
    }
}

/* --- echo ---------------------------------------------------------------- */

static void test_echo_returns_every_byte_then_closes(void)
{
    /* Scenario: 1 MiB holding every byte value goes to echo while we read;
     * then we half-close.  Asserted: exactly the same bytes come back, in
     * order, followed by EOF (echo flushes the rest at our EOF, then closes). */
    struct h_daemon *d = start_all();
    size_t len = 1 << 20;
    unsigned char *data = malloc(len);
    char *back = malloc(len + 1);

    fill_pattern(data, len);
    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "echo", transports[t]);
        int fd = h_connect(addr);
        size_t n = h_stream_exchange(fd, data, len, back, len + 1, 20000);
        if (n != len)
            T_FAIL("%s: %zu bytes came back, want %zu", addr, n, len);
        if (memcmp(back, data, len) != 0)
            T_FAIL("%s: the echoed bytes differ from those sent", addr);
        close(fd);
    }
    free(data);
    free(back);
}

static void test_echo_answers_each_message_at_once(void)
{
    /* Scenario: 100 request/response rounds of 1..1000 bytes in lockstep, the
     * connection left open.  Asserted: each message comes back whole before
     * the next is sent (echo does not wait for more input or for EOF). */
    struct h_daemon *d = start_all();

    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "echo", transports[t]);
        int fd = h_connect(addr);
        for (size_t round = 0; round < 100; round++) {
            size_t len = 1 + round * 10;
            unsigned char msg[1000], back[1000];
            for (size_t i = 0; i < len; i++)
                msg[i] = (unsigned char)(round * 3 + i);
            h_send(fd, msg, len);
            h_recv_exact(fd, back, len);
            if (memcmp(msg, back, len) != 0)
                T_FAIL("%s: round %zu: the echo differs", addr, round);
        }
        close(fd);
    }
}

/* --- discard ------------------------------------------------------------- */

static void test_discard_answers_nothing(void)
{
    /* Scenario: 1 MiB to discard, then a half-close.  Asserted: not one byte
     * comes back, the daemon closes, and it logs in=1048576 out=0 end=closed
     * for each of the three connections. */
    struct h_daemon *d = start_all();
    size_t len = 1 << 20;
    unsigned char *data = malloc(len);
    char back[16];

    fill_pattern(data, len);
    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "discard", transports[t]);
        int fd = h_connect(addr);
        size_t n = h_stream_exchange(fd, data, len, back, sizeof(back), 20000);
        if (n != 0)
            T_FAIL("%s: discard sent %zu bytes: \"%s\"", addr, n, esc(back, n));
        close(fd);
    }
    if (!h_wait_log_count(d, "usherd: service=discard ", 3, 5000))
        T_FAIL("not three discard connection lines in the log:\n%s", h_log(d));
    T_EQ_INT(h_count_log(d, "in=1048576 out=0 end=closed"), 3);
    free(data);
}

/* --- daytime ------------------------------------------------------------- */

static void test_daytime_sends_ctime_line_then_closes(void)
{
    /* Scenario: in a time zone 5:30 hours east of UTC (so that UTC would
     * show), connect to daytime and read to EOF without sending anything.
     * Asserted: exactly one line "Www Mmm dd hh:mm:ss yyyy\r\n" (ctime
     * layout, day padded with a blank), within 5 s of our local time. */
    struct h_daemon *d;

    setenv("TZ", "<+0530>-05:30", 1);
    tzset();
    d = start_all();

    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "daytime", transports[t]);
        int fd = h_connect(addr);
        char buf[128], again[64];
        struct tm tm = {0};
        time_t before = time(NULL), after, when;
        size_t n = h_recv_all(fd, buf, sizeof(buf) - 1);
        char *rest;

        after = time(NULL);
        buf[n] = '\0';
        if (n != 26)
            T_FAIL("%s: daytime sent %zu bytes: \"%s\"", addr, n, esc(buf, n));
        rest = strptime(buf, "%a %b %e %H:%M:%S %Y", &tm);
        if (rest == NULL || strcmp(rest, "\r\n") != 0)
            T_FAIL("%s: not a ctime line: \"%s\"", addr, esc(buf, n));
        /* Formatting it back must give the very same text: catches %d for %e. */
        strftime(again, sizeof(again), "%a %b %e %H:%M:%S %Y\r\n", &tm);
        if (strcmp(again, buf) != 0)
            T_FAIL("%s: \"%s\" is not in ctime's layout \"%s\"", addr, esc(buf, n),
                   esc(again, strlen(again)));
        tm.tm_isdst = -1;
        when = mktime(&tm);
        if (when < before - 5 || when > after + 5)
            T_FAIL("%s: daytime says %s, %lld s from now", addr, esc(buf, 24),
                   (long long)(when - before));
        close(fd);
    }
}

static void test_daytime_closes_soon_when_client_stays(void)
{
    /* Scenario: read the daytime line and the EOF, then keep our end open and
     * silent.  Asserted: the daemon finishes the connection on its own after
     * its linger, the grace period (h_grace_ms): its log line appears,
     * end=closed, duration_ms at least the grace and at most it + 500 ms
     * (more for slow builds). */
    struct h_daemon *d = start_all();
    int fd = h_connect(h_addr(d, "daytime", "tcp://127"));
    char buf[64], *line;

    T_EQ_INT(h_recv_all(fd, buf, sizeof(buf)), 26);
    if (!h_wait_log(d, "usherd: service=daytime ", 4000))
        T_FAIL("the daytime connection was not finished within 4 s while the client stayed");
    line = h_log_line(d, "usherd: service=daytime ");
    T_CONTAINS(line, "end=closed");
    if (h_log_field(line, "duration_ms") > h_grace_ms() + 500 * (long)t_scale())
        T_FAIL("lingered too long: %s", line);
    if (h_log_field(line, "duration_ms") < h_grace_ms() - 50)
        T_FAIL("did not linger: %s", line);
    close(fd);
}

static void test_daytime_closes_at_once_when_client_closes(void)
{
    /* Scenario: read the daytime line and EOF, then close our end.
     * Asserted: the daemon's log line follows quickly, before the linger
     * (the grace period, h_grace_ms) would have ended. */
    struct h_daemon *d = start_all();
    int fd = h_connect(h_addr(d, "daytime", "unix:"));
    char buf[64], *line;

    T_EQ_INT(h_recv_all(fd, buf, sizeof(buf)), 26);
    close(fd);
    if (!h_wait_log(d, "usherd: service=daytime ", 4000))
        T_FAIL("no daytime log line");
    line = h_log_line(d, "usherd: service=daytime ");
    T_CONTAINS(line, "end=closed");
    if (h_log_field(line, "duration_ms") >= h_grace_ms())
        T_FAIL("the daemon did not close when the client did: %s", line);
}

/* The libfaketime preload library, or NULL. */
static const char *faketime_lib(void)
{
    static const char *const paths[] = {
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
        "/usr/local/lib/faketime/libfaketime.so.1",
    };

    for (size_t i = 0; i < ARRAY_LEN(paths); i++)
        if (access(paths[i], R_OK) == 0)
            return paths[i];
    return NULL;
}

static void test_daytime_and_time_on_a_single_digit_day(void)
{
    /* Scenario: usherd runs under libfaketime with its clock set to Thursday
     * 2026-11-05 08:04:03 UTC (a day of month below 10: the only days where
     * ctime's blank padding shows).  Asserted: daytime sends "Thu Nov  5
     * 08:04:0S 2026\r\n" (two blanks before the 5; S the seconds gone by) and
     * time sends that instant's RFC 868 value, 4002854643 + S - 3. */
    struct h_daemon *d;
    const char *lib, *asan = getenv("ASAN_OPTIONS");
    char asan_opts[512], buf[64];
    unsigned char t[8];
    uint32_t value;
    int fd;
    size_t n;

    h_need("faketime", "faketime");
    lib = faketime_lib();
    if (lib == NULL)
        t_skip("faketime is installed but libfaketime.so.1 is not where expected");
    snprintf(asan_opts, sizeof(asan_opts), "%s%sverify_asan_link_order=0", asan ? asan : "",
             asan ? ":" : "");
    setenv("ASAN_OPTIONS", asan_opts, 1); /* libfaketime is preloaded ahead of ASan */
    setenv("LD_PRELOAD", lib, 1);
    setenv("FAKETIME", "@2026-11-05 08:04:03", 1);
    setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
    setenv("TZ", "UTC", 1);
    d = start_all();
    unsetenv("LD_PRELOAD");
    fd = h_connect(h_addr(d, "daytime", "tcp://127"));
    n = h_recv_all(fd, buf, sizeof(buf) - 1);
    buf[n] = '\0';
    close(fd);
    if (n != 26 || strncmp(buf, "Thu Nov  5 08:04:0", 18) != 0 || buf[18] < '3' || buf[18] > '9' ||
        strcmp(buf + 19, " 2026\r\n") != 0)
        T_FAIL("daytime on 2026-11-05 08:04:03 UTC: got \"%s\"", esc(buf, n));
    fd = h_connect(h_addr(d, "time", "tcp://127"));
    T_EQ_INT(h_recv_all(fd, (char *)t, sizeof(t)), 4);
    close(fd);
    /* 2026-11-05 08:04:03 UTC is 1793865843 Unix seconds, + 2208988800. */
    value = (uint32_t)t[0] << 24 | (uint32_t)t[1] << 16 | (uint32_t)t[2] << 8 | t[3];
    if (value < 4002854643u || value > 4002854643u + 6)
        T_FAIL("time on 2026-11-05 08:04:03 UTC: got %" PRIu32 ", want 4002854643 (+ a few)",
               value);
}

/* --- time ---------------------------------------------------------------- */

static void test_time_sends_four_bytes_then_closes(void)
{
    /* Scenario: connect to time and read to EOF.  Asserted: exactly 4 bytes,
     * big-endian seconds since 1900 (mod 2^32), within 5 s of our clock. */
    struct h_daemon *d = start_all();

    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "time", transports[t]);
        int fd = h_connect(addr);
        unsigned char buf[16];
        uint32_t before = (uint32_t)((uint64_t)time(NULL) + RFC868_OFFSET), value;
        size_t n = h_recv_all(fd, (char *)buf, sizeof(buf));
        int32_t skew;

        if (n != 4)
            T_FAIL("%s: time sent %zu bytes, want 4", addr, n);
        value = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
        skew = (int32_t)(value - before);
        if (skew < -5 || skew > 5)
            T_FAIL("%s: time says %" PRIu32 ", we say %" PRIu32 " (%d s apart)", addr, value,
                   before, skew);
        close(fd);
    }
}

/* --- chargen ------------------------------------------------------------- */

static void test_chargen_lines_follow_the_pattern(void)
{
    /* Scenario: read 200 lines of chargen (more than two 95-line cycles),
     * then close with data unread.  Asserted: line k is the 72 characters
     * 0x20 + ((k + i) mod 95) and "\r\n", line 0 starting with a space; the
     * daemon logs each of the three connections as end=closed. */
    struct h_daemon *d = start_all();
    size_t len = 200 * CHARGEN_LINE;
    char *buf = malloc(len);

    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "chargen", transports[t]);
        int fd = h_connect(addr);
        h_recv_exact(fd, buf, len);
        T_EQ_INT(buf[0], ' ');
        check_chargen(addr, buf, len, 0);
        close(fd);
    }
    if (!h_wait_log_count(d, "usherd: service=chargen ", 3, 5000))
        T_FAIL("not three chargen log lines:\n%s", h_log(d));
    if (h_count_log(d, "end=closed") != 3)
        T_FAIL("want three chargen connections logged end=closed:\n%s", h_log(d));
    free(buf);
}

static void test_chargen_ignores_input_and_eof(void)
{
    /* Scenario: send chargen 10 KiB of junk and half-close, then read 300
     * lines.  Asserted: the stream goes on past our EOF, unbroken from line 0. */
    struct h_daemon *d = start_all();
    size_t len = 300 * CHARGEN_LINE;
    char *buf = malloc(len), junk[10240];

    memset(junk, 'x', sizeof(junk));
    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "chargen", transports[t]);
        int fd = h_connect(addr);
        h_send(fd, junk, sizeof(junk));
        T_ASSERT(shutdown(fd, SHUT_WR) == 0);
        h_recv_exact(fd, buf, len);
        check_chargen(addr, buf, len, 0);
        close(fd);
    }
    free(buf);
}

static void test_chargen_stays_continuous_for_slow_reader(void)
{
    /* Scenario: a reader takes 8 MiB of chargen in small, uneven reads and
     * stops now and then long enough for the socket buffers to fill, so the
     * daemon's writes come up short and it must resume mid-line.  Asserted:
     * the pattern never breaks. */
    struct h_daemon *d = start_all();
    size_t total = 8 << 20, got = 0, next_pause = 0;
    char *buf = malloc(total);

    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "chargen", transports[t]);
        int fd = h_connect(addr);
        got = next_pause = 0;
        for (size_t round = 0; got < total; round++) {
            size_t want = 1 + (round * 7919) % 30000;
            ssize_t n;
            if (want > total - got)
                want = total - got;
            if (got >= next_pause) {
                usleep(20000); /* pacing: let the buffers fill up */
                next_pause = got + (1 << 20);
            }
            n = read(fd, buf + got, want);
            if (n <= 0)
                T_FAIL("%s: read after %zu bytes: %s", addr, got, n == 0 ? "EOF" : strerror(errno));
            got += (size_t)n;
        }
        check_chargen(addr, buf, total, 0);
        close(fd);
    }
    free(buf);
}

/* --- sum ----------------------------------------------------------------- */

struct exchange {
    const char *req, *reply;
};

/* Each request alone, answered before the next, on every transport. */
static void sum_table(const struct exchange *x, size_t n)
{
    struct h_daemon *d = start_all();

    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "sum", transports[t]);
        int fd = h_connect(addr);
        for (size_t i = 0; i < n; i++) {
            h_send_str(fd, x[i].req);
            expect_reply(fd, addr, x[i].req, x[i].reply);
        }
        close(fd);
    }
}

static void test_sum_adds_signed_64bit_numbers(void)
{
    /* Scenario: valid "A B\n" requests: signs, zero, leading zeros, the int64
     * extremes.  Asserted: each reply is the decimal sum and "\n". */
    static const struct exchange x[] = {
        {"1 2\n", "3\n"},
        {"0 0\n", "0\n"},
        {"-5 3\n", "-2\n"},
        {"+7 +8\n", "15\n"},
        {"-7 -8\n", "-15\n"},
        {"007 0003\n", "10\n"},
        {"-0 +0\n", "0\n"},
        {"9223372036854775807 0\n", "9223372036854775807\n"},
        {"-9223372036854775808 0\n", "-9223372036854775808\n"},
        {"9223372036854775807 -9223372036854775808\n", "-1\n"},
        {"9223372036854775806 1\n", "9223372036854775807\n"},
        {"-9223372036854775807 -1\n", "-9223372036854775808\n"},
        {"123456789012 987654321098\n", "1111111110110\n"},
    };
    sum_table(x, ARRAY_LEN(x));
}

static void test_sum_accepts_blanks_and_crlf(void)
{
    /* Scenario: blanks (spaces, tabs) around and between the numbers, and
     * "\r\n" line ends.  Asserted: the same sums as without them. */
    static const struct exchange x[] = {
        {"  1 2\n", "3\n"},       {"1 2   \n", "3\n"}, {"1 \t 2\n", "3\n"},
        {"\t-1\t-2\t\n", "-3\n"}, {"1 2\r\n", "3\n"},  {"  40   2  \r\n", "42\n"},
        {"\t5\t5\t\r\n", "10\n"},
    };
    sum_table(x, ARRAY_LEN(x));
}

static void test_sum_malformed_lines_get_error_input(void)
{
    /* Scenario: malformed lines, each followed by a valid one.  Asserted:
     * "error: input\n" for each, and the connection keeps answering. */
    static const struct exchange x[] = {
        {"\n", "error: input\n"},
        {"5 5\n", "10\n"},
        {"\r\n", "error: input\n"},
        {"   \n", "error: input\n"},
        {"1\n", "error: input\n"},
        {"1 2 3\n", "error: input\n"},
        {"a b\n", "error: input\n"},
        {"1 b\n", "error: input\n"},
        {"1,2\n", "error: input\n"},
        {"12\n", "error: input\n"},
        {"--1 2\n", "error: input\n"},
        {"+-1 2\n", "error: input\n"},
        {"+ 1 2\n", "error: input\n"},
        {"1 +\n", "error: input\n"},
        {"- 1\n", "error: input\n"},
        {"0x10 1\n", "error: input\n"},
        {"1.5 2\n", "error: input\n"},
        {"1 2x\n", "error: input\n"},
        {"1e3 1\n", "error: input\n"},
        {"1\r2\n", "error: input\n"},
        {"1 2\r\r\n", "error: input\n"},
        {"1\v2\n", "error: input\n"},
        {"1 2 \x01\n", "error: input\n"},
        {"\xff\xfe 1\n", "error: input\n"},
        {"6 7\n", "13\n"},
    };
    sum_table(x, ARRAY_LEN(x));
}

static void test_sum_numbers_outside_int64_get_error_input(void)
{
    /* Scenario: operands that do not fit in int64 (by one, and by far).
     * Asserted: "error: input\n" (not overflow: the input itself is bad). */
    static const struct exchange x[] = {
        {"9223372036854775808 0\n", "error: input\n"},
        {"0 9223372036854775808\n", "error: input\n"},
        {"-9223372036854775809 0\n", "error: input\n"},
        {"99999999999999999999 1\n", "error: input\n"},
        {"18446744073709551617 -1\n", "error: input\n"},
        {"1 2\n", "3\n"},
    };
    sum_table(x, ARRAY_LEN(x));
}

static void test_sum_overflow_gets_error_overflow(void)
{
    /* Scenario: sums beyond int64 in both directions.  Asserted:
     * "error: overflow\n", and the connection keeps answering. */
    static const struct exchange x[] = {
        {"9223372036854775807 1\n", "error: overflow\n"},
        {"9223372036854775807 9223372036854775807\n", "error: overflow\n"},
        {"-9223372036854775808 -1\n", "error: overflow\n"},
        {"-9223372036854775808 -9223372036854775808\n", "error: overflow\n"},
        {"4611686018427387904 4611686018427387904\n", "error: overflow\n"},
        {"2 2\n", "4\n"},
    };
    sum_table(x, ARRAY_LEN(x));
}

static void test_sum_pipelined_lines_in_one_write(void)
{
    /* Scenario: 10000 request lines (mixed valid, malformed, overflowing,
     * "\n" and "\r\n" ended) in one write, then a half-close.  Asserted:
     * 10000 replies, in order, each right, then EOF. */
    struct h_daemon *d = start_all();
    size_t nreq = 10000, cap = nreq * 48;
    char *req = malloc(cap), *want = malloc(cap), *back = malloc(cap);

    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "sum", transports[t]);
        size_t rlen = 0, wlen = 0, n;
        int fd;
        for (size_t i = 0; i < nreq; i++) {
            long long a = (long long)(i * 7919 % 100003) - 50000, b = (long long)i * 3;
            switch (i % 5) {
            case 0:
            case 1:
                rlen += (size_t)sprintf(req + rlen, "%lld %lld%s", a, b, i % 2 ? "\r\n" : "\n");
                wlen += (size_t)sprintf(want + wlen, "%lld\n", a + b);
                break;
            case 2:
                rlen += (size_t)sprintf(req + rlen, " %lld\t%lld \n", a, -b);
                wlen += (size_t)sprintf(want + wlen, "%lld\n", a - b);
                break;
            case 3:
                rlen += (size_t)sprintf(req + rlen, "%lld x\n", a);
                wlen += (size_t)sprintf(want + wlen, "error: input\n");
                break;
            default:
                rlen += (size_t)sprintf(req + rlen, "9223372036854775800 %lld\n", 100 + b);
                wlen += (size_t)sprintf(want + wlen, "error: overflow\n");
            }
        }
        fd = h_connect(addr);
        n = h_stream_exchange(fd, req, rlen, back, cap, 20000);
        if (n != wlen || memcmp(back, want, wlen) != 0) {
            size_t i = 0;
            while (i < n && i < wlen && back[i] == want[i])
                i++;
            T_FAIL("%s: %zu reply bytes, want %zu; first difference at byte %zu: got \"%s\", "
                   "want \"%s\"",
                   addr, n, wlen, i, esc(back + i, n - i < 40 ? n - i : 40),
                   esc(want + i, wlen - i < 40 ? wlen - i : 40));
        }
        close(fd);
    }
    free(req);
    free(want);
    free(back);
}

static void test_sum_request_split_byte_by_byte(void)
{
    /* Scenario: requests sent one byte per write, a little apart (the "\r"
     * and "\n" of a CRLF in separate writes too).  Asserted: no reply before
     * the line's "\n", then exactly the right one. */
    static const char *const reqs[] = {"123 456\n", " -10\t4 \r\n", "1 x\n",
                                       "9223372036854775807 1\n"};
    static const char *const replies[] = {"579\n", "-6\n", "error: input\n", "error: overflow\n"};
    struct h_daemon *d = start_all();

    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "sum", transports[t]);
        int fd = h_connect(addr), on = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        for (size_t r = 0; r < ARRAY_LEN(reqs); r++) {
            size_t len = strlen(reqs[r]);
            for (size_t i = 0; i < len; i++) {
                h_send(fd, reqs[r] + i, 1);
                if (i + 1 < len)
                    expect_nothing_yet(fd, addr, 2);
            }
            expect_reply(fd, addr, reqs[r], replies[r]);
        }
        close(fd);
    }
}

static void test_sum_last_line_without_newline_is_answered(void)
{
    /* Scenario: a final request without "\n", then a half-close (once valid,
     * once malformed).  Asserted: it is answered, then the daemon closes. */
    static const struct exchange x[] = {
        {"4 5", "9\n"},
        {"1 2\n7 8", "3\n15\n"},
        {"bad", "error: input\n"},
    };
    struct h_daemon *d = start_all();

    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "sum", transports[t]);
        for (size_t i = 0; i < ARRAY_LEN(x); i++) {
            char back[64];
            int fd = h_connect(addr);
            size_t n = h_stream_exchange(fd, x[i].req, strlen(x[i].req), back, sizeof(back), 10000);
            if (n != strlen(x[i].reply) || memcmp(back, x[i].reply, n) != 0)
                T_FAIL("%s: \"%s\" then EOF: got \"%s\", want \"%s\"", addr,
                       esc(x[i].req, strlen(x[i].req)), esc(back, n),
                       esc(x[i].reply, strlen(x[i].reply)));
            close(fd);
        }
    }
}

/* A sum request line of exactly `len` bytes: "1", blanks, "2". */
static char *long_request(size_t len, const char *ending)
{
    char *line = malloc(len + strlen(ending) + 1);

    memset(line, ' ', len);
    line[0] = '1';
    line[len - 1] = '2';
    strcpy(line + len, ending);
    return line;
}

static void test_sum_line_of_1024_bytes_is_answered(void)
{
    /* Scenario: request lines of exactly 1024 bytes before "\n", and before
     * "\r\n".  Asserted: both are answered "3\n" (1024 is within the limit,
     * and the "\r" of a CRLF does not count). */
    struct h_daemon *d = start_all();
    char *lf = long_request(1024, "\n"), *crlf = long_request(1024, "\r\n");

    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "sum", transports[t]);
        int fd = h_connect(addr);
        h_send_str(fd, lf);
        expect_reply(fd, addr, "1024-byte line", "3\n");
        h_send_str(fd, crlf);
        expect_reply(fd, addr, "1024-byte line + CRLF", "3\n");
        close(fd);
    }
    free(lf);
    free(crlf);
}

static void test_sum_line_of_1025_bytes_is_too_long(void)
{
    /* Scenario: request lines of 1025 bytes ("\n" and "\r\n" ended) and of
     * 5000 bytes, each in one write, each followed by a valid request.
     * Asserted: one "error: line too long\n" per long line and nothing else
     * for it; the next request is answered. */
    struct h_daemon *d = start_all();
    char *lf = long_request(1025, "\n"), *crlf = long_request(1025, "\r\n");
    char *huge = long_request(5000, "\n");

    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "sum", transports[t]);
        int fd = h_connect(addr);
        h_send_str(fd, lf);
        expect_reply(fd, addr, "1025-byte line", "error: line too long\n");
        h_send_str(fd, "1 1\n");
        expect_reply(fd, addr, "1 1", "2\n");
        h_send_str(fd, crlf);
        expect_reply(fd, addr, "1025-byte line + CRLF", "error: line too long\n");
        h_send_str(fd, huge);
        expect_reply(fd, addr, "5000-byte line", "error: line too long\n");
        h_send_str(fd, "2 2\n");
        expect_reply(fd, addr, "2 2", "4\n");
        close(fd);
    }
    free(lf);
    free(crlf);
    free(huge);
}

static void test_sum_too_long_is_answered_before_the_newline(void)
{
    /* Scenario: send 1024 bytes of a line, no newline: nothing comes back.
     * Send byte 1025, still no newline.  Asserted: "error: line too long\n"
     * arrives at once, without waiting for a "\n"; then 100 KiB more of the
     * same line and its "\n" are dropped without a reply, and the next
     * request is answered. */
    struct h_daemon *d = start_all();
    char first[1024], more[100 * 1024];

    memset(first, '7', sizeof(first));
    memset(more, '8', sizeof(more));
    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "sum", transports[t]);
        int fd = h_connect(addr);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        h_send(fd, first, sizeof(first));
        expect_nothing_yet(fd, addr, 200);
        h_send(fd, "9", 1);
        if (poll(&p, 1, 5000 * (int)t_scale()) != 1)
            T_FAIL("%s: no reply within 5 s of byte 1025 (no newline sent)", addr);
        expect_reply(fd, addr, "byte 1025", "error: line too long\n");
        h_send(fd, more, sizeof(more));
        h_send_str(fd, "\n");
        h_send_str(fd, "20 22\n");
        expect_reply(fd, addr, "20 22 after the dropped rest", "42\n");
        close(fd);
    }
}

/* --- sumbin -------------------------------------------------------------- */

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static const int64_t sumbin_cases[][2] = {
    {1, 2},
    {0, 0},
    {-5, 3},
    {-1, -1},
    {INT64_MAX, 0},
    {INT64_MIN, 0},
    {INT64_MAX, INT64_MIN},
    {INT64_MAX - 1, 1},
    {INT64_MIN + 1, -1},
    {0x0102030405060708LL, 0x1020304050607080LL},
    {INT64_MAX, 1},         /* overflow upwards */
    {INT64_MAX, INT64_MAX}, /* overflow upwards */
    {INT64_MIN, -1},        /* overflow downwards */
    {INT64_MIN, INT64_MIN}, /* overflow downwards */
    {-4611686018427387905LL, -4611686018427387904LL},
    {123456789, -987654321},
};

/* Requests for every case, and the replies SPEC section 4 prescribes. */
static void sumbin_build(unsigned char *req, unsigned char *want)
{
    for (size_t i = 0; i < ARRAY_LEN(sumbin_cases); i++) {
        int64_t a = sumbin_cases[i][0], b = sumbin_cases[i][1], sum;
        bool over = __builtin_add_overflow(a, b, &sum);
        put64(req + 16 * i, (uint64_t)a);
        put64(req + 16 * i + 8, (uint64_t)b);
        memset(want + 12 * i, 0, 12);
        want[12 * i + 3] = over ? 1 : 0;
        put64(want + 12 * i + 4, over ? 0 : (uint64_t)sum);
    }
}

static void sumbin_compare(const char *addr, const unsigned char *got, const unsigned char *want)
{
    for (size_t i = 0; i < ARRAY_LEN(sumbin_cases); i++)
        if (memcmp(got + 12 * i, want + 12 * i, 12) != 0)
            T_FAIL("%s: sumbin %lld + %lld: got %s, want %s", addr, (long long)sumbin_cases[i][0],
                   (long long)sumbin_cases[i][1], esc(got + 12 * i, 12), esc(want + 12 * i, 12));
}

static void test_sumbin_replies_status_and_sum(void)
{
    /* Scenario: 16 records (negatives, extremes, overflow upwards and
     * downwards) in one write.  Asserted: 16 replies of 12 bytes, in order:
     * big-endian status 0 and the sum, or status 1 and a zero sum on overflow. */
    struct h_daemon *d = start_all();
    unsigned char req[16 * ARRAY_LEN(sumbin_cases)], want[12 * ARRAY_LEN(sumbin_cases)];
    unsigned char got[sizeof(want)];

    sumbin_build(req, want);
    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "sumbin", transports[t]);
        int fd = h_connect(addr);
        h_send(fd, req, sizeof(req));
        h_recv_exact(fd, got, sizeof(got));
        sumbin_compare(addr, got, want);
        close(fd);
    }
}

static void test_sumbin_records_split_across_writes(void)
{
    /* Scenario: the same records sent in pieces of 1 to 17 bytes that cut
     * through record boundaries, a little apart, then a half-close.
     * Asserted: the same replies, then EOF. */
    struct h_daemon *d = start_all();
    unsigned char req[16 * ARRAY_LEN(sumbin_cases)], want[12 * ARRAY_LEN(sumbin_cases)];
    char got[sizeof(want) + 16];

    sumbin_build(req, want);
    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "sumbin", transports[t]);
        int fd = h_connect(addr), on = 1;
        size_t off = 0, piece = 1, n;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        while (off < sizeof(req)) {
            size_t len = piece < sizeof(req) - off ? piece : sizeof(req) - off;
            h_send(fd, req + off, len);
            off += len;
            piece = piece % 17 + 1;
            usleep(1000); /* pacing, so the pieces arrive as separate reads */
        }
        n = h_stream_exchange(fd, NULL, 0, got, sizeof(got), 10000);
        if (n != sizeof(want))
            T_FAIL("%s: %zu reply bytes, want %zu", addr, n, sizeof(want));
        sumbin_compare(addr, (unsigned char *)got, want);
        close(fd);
    }
}

static void test_sumbin_partial_record_gets_no_reply(void)
{
    /* Scenario: one whole record and 15 bytes of a second, then a half-close.
     * Asserted: exactly one 12-byte reply, then EOF: an incomplete record is
     * never answered. */
    struct h_daemon *d = start_all();
    unsigned char req[16 * ARRAY_LEN(sumbin_cases)], want[12 * ARRAY_LEN(sumbin_cases)];
    char got[64];

    sumbin_build(req, want);
    for (size_t t = 0; t < ARRAY_LEN(transports); t++) {
        const char *addr = h_addr(d, "sumbin", transports[t]);
        int fd = h_connect(addr);
        size_t n = h_stream_exchange(fd, req, 31, got, sizeof(got), 10000);
        if (n != 12 || memcmp(got, want, 12) != 0)
            T_FAIL("%s: %zu reply bytes (\"%s\"), want one 12-byte reply", addr, n, esc(got, n));
        close(fd);
    }
}

static const struct t_case cases[] = {
    T_CASE(test_echo_returns_every_byte_then_closes),
    T_CASE(test_echo_answers_each_message_at_once),
    T_CASE(test_discard_answers_nothing),
    T_CASE(test_daytime_sends_ctime_line_then_closes),
    T_CASE(test_daytime_closes_soon_when_client_stays),
    T_CASE(test_daytime_closes_at_once_when_client_closes),
    T_CASE_TIMEOUT(test_daytime_and_time_on_a_single_digit_day, 120),
    T_CASE(test_time_sends_four_bytes_then_closes),
    T_CASE(test_chargen_lines_follow_the_pattern),
    T_CASE(test_chargen_ignores_input_and_eof),
    T_CASE(test_chargen_stays_continuous_for_slow_reader),
    T_CASE(test_sum_adds_signed_64bit_numbers),
    T_CASE(test_sum_accepts_blanks_and_crlf),
    T_CASE(test_sum_malformed_lines_get_error_input),
    T_CASE(test_sum_numbers_outside_int64_get_error_input),
    T_CASE(test_sum_overflow_gets_error_overflow),
    T_CASE(test_sum_pipelined_lines_in_one_write),
    T_CASE(test_sum_request_split_byte_by_byte),
    T_CASE(test_sum_last_line_without_newline_is_answered),
    T_CASE(test_sum_line_of_1024_bytes_is_answered),
    T_CASE(test_sum_line_of_1025_bytes_is_too_long),
    T_CASE(test_sum_too_long_is_answered_before_the_newline),
    T_CASE(test_sumbin_replies_status_and_sum),
    T_CASE(test_sumbin_records_split_across_writes),
    T_CASE(test_sumbin_partial_record_gets_no_reply),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
