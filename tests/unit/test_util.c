/*
 * Unit tests: checked number, duration and size parsing, escaping for the
 * log, and closing every descriptor but some (util.c).
 */
#include "t.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const struct {
    const char *text;
    int64_t min, max;
    int rc, err;
    int64_t value;
} i64_cases[] = {
    {"0", 0, 10, 0, 0, 0},
    {"10", 0, 10, 0, 0, 10},
    {"11", 0, 10, -1, ERANGE, 0},
    {"-1", 0, 10, -1, ERANGE, 0},
    {"-9223372036854775808", INT64_MIN, INT64_MAX, 0, 0, INT64_MIN},
    {"9223372036854775807", INT64_MIN, INT64_MAX, 0, 0, INT64_MAX},
    {"9223372036854775808", INT64_MIN, INT64_MAX, -1, ERANGE, 0},
    {"", 0, 10, -1, EINVAL, 0},
    {" 1", 0, 10, -1, EINVAL, 0},
    {"1 ", 0, 10, -1, EINVAL, 0},
    {"1x", 0, 10, -1, EINVAL, 0},
    {"x", 0, 10, -1, EINVAL, 0},
};

static void test_parse_i64(void)
{
    for (size_t i = 0; i < ARRAY_LEN(i64_cases); i++) {
        int64_t v = 0;
        int rc;
        errno = 0;
        rc = parse_i64(i64_cases[i].text, i64_cases[i].min, i64_cases[i].max, &v);
        if (rc != i64_cases[i].rc || (rc < 0 && errno != i64_cases[i].err) ||
            (rc == 0 && v != i64_cases[i].value))
            T_FAIL("parse_i64(\"%s\"): rc %d errno %d value %lld", i64_cases[i].text, rc, errno,
                   (long long)v);
    }
}

static const struct {
    const char *text;
    int rc;
    int64_t ms;
} duration_cases[] = {
    {"0", 0, 0},
    {"30", 0, 30000},
    {"30s", 0, 30000},
    {"500ms", 0, 500},
    {"5m", 0, 300000},
    {"2h", 0, 7200000},
    {"", -1, 0},
    {"s", -1, 0},
    {"-1s", -1, 0},
    {"1.5s", -1, 0},
    {"10x", -1, 0},
    {"10 s", -1, 0},
    {"1d", -1, 0},
    {"99999999999999999999", -1, 0},
    {"9223372036854775807h", -1, 0},
};

static void test_parse_duration(void)
{
    for (size_t i = 0; i < ARRAY_LEN(duration_cases); i++) {
        int64_t ms = -7;
        int rc = parse_duration_ms(duration_cases[i].text, &ms);
        if (rc != duration_cases[i].rc || (rc == 0 && ms != duration_cases[i].ms))
            T_FAIL("parse_duration_ms(\"%s\"): rc %d, %lld ms", duration_cases[i].text, rc,
                   (long long)ms);
    }
}

static const struct {
    const char *text;
    int rc;
    uint64_t bytes;
} size_cases[] = {
    {"0", 0, 0},
    {"512", 0, 512},
    {"4K", 0, 4096},
    {"4k", 0, 4096},
    {"256M", 0, 256ull << 20},
    {"2G", 0, 2ull << 30},
    {"1MB", 0, 1ull << 20},
    {"1T", -1, 0},
    {"", -1, 0},
    {"-1", -1, 0},
    {"K", -1, 0},
    {"18446744073709551615", 0, UINT64_MAX},
    {"18446744073709551616", -1, 0},
    {"17179869184G", -1, 0},
};

static void test_parse_size(void)
{
    for (size_t i = 0; i < ARRAY_LEN(size_cases); i++) {
        uint64_t v = 7;
        int rc = parse_size(size_cases[i].text, &v);
        if (rc != size_cases[i].rc || (rc == 0 && v != size_cases[i].bytes))
            T_FAIL("parse_size(\"%s\"): rc %d, %llu", size_cases[i].text, rc,
                   (unsigned long long)v);
    }
}

static void test_str_copy(void)
{
    char buf[4];

    T_EQ_INT(str_copy(buf, sizeof(buf), "abc"), 0);
    T_EQ_STR(buf, "abc");
    T_EQ_INT(str_copy(buf, sizeof(buf), "abcd"), -1);
    T_EQ_INT(errno, ENAMETOOLONG);
    T_EQ_STR(buf, "abc");
}

/* Escaping outside bytes (SPEC 9): what goes in, what the log shows. */
static const struct {
    const char *in;
    size_t len; /* of `in`, NUL bytes included */
    const char *out;
} escape_cases[] = {
    {"plain text ~!", 13, "plain text ~!"},
    {"", 0, ""},
    {"a\\b", 3, "a\\\\b"},
    {"\x1b[31m", 5, "\\x1b[31m"},
    {"cr\rlf\n", 6, "cr\\x0dlf\\x0a"},
    {"nul\0after", 9, "nul\\x00after"},
    {"del\x7f", 4, "del\\x7f"},
    {"\xc3\xa9\xff\x80", 4, "\\xc3\\xa9\\xff\\x80"},
    {"tab\there", 8, "tab\\x09here"},
    {"\\x41", 4, "\\\\x41"}, /* a backslash that looks like an escape stays readable */
};

static void test_str_escape(void)
{
    for (size_t i = 0; i < ARRAY_LEN(escape_cases); i++) {
        char buf[64];
        size_t n = str_escape(buf, sizeof(buf), escape_cases[i].in, escape_cases[i].len);
        T_EQ_STR(buf, escape_cases[i].out);
        T_EQ_INT(n, strlen(escape_cases[i].out));
    }
}

static void test_str_escape_word(void)
{
    /* As str_escape, and a space too: a client's name stays one word of a log field. */
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"a b=c", "a\\x20b=c"},
        {"  ", "\\x20\\x20"},
        {"x\\y\t", "x\\\\y\\x09"},
        {"plain.example", "plain.example"},
    };
    char buf[64];

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        T_EQ_INT(str_escape_word(buf, sizeof(buf), cases[i].in, strlen(cases[i].in)),
                 strlen(cases[i].out));
        T_EQ_STR(buf, cases[i].out);
    }
    /* str_escape itself keeps the space. */
    str_escape(buf, sizeof(buf), "a b", 3);
    T_EQ_STR(buf, "a b");
}

static void test_str_escape_cuts_at_an_escape_and_says_so(void)
{
    char buf[10], tiny[3];

    /* "ab" + "\x1b" (6) fits with "..." (9 + NUL); the next escape does not. */
    T_EQ_INT(str_escape(buf, sizeof(buf),
                        "ab\x1b\x1b"
                        "cd",
                        6),
             12);
    T_EQ_STR(buf, "ab\\x1b...");
    /* Never half an escape: "abcde..." rather than "abcde\\...". */
    T_EQ_INT(str_escape(buf, sizeof(buf), "abcde\x1b\x1b", 7), 13);
    T_EQ_STR(buf, "abcde...");
    /* It fits exactly: no mark. */
    T_EQ_INT(str_escape(buf, sizeof(buf), "abcdefghi", 9), 9);
    T_EQ_STR(buf, "abcdefghi");
    /* No room for the mark: cut short, still terminated, never past the end. */
    memset(tiny, 'x', sizeof(tiny));
    T_EQ_INT(str_escape(tiny, sizeof(tiny), "\x1b", 1), 4);
    T_EQ_STR(tiny, "");
}

static void test_ms_until(void)
{
    int64_t now = now_ms();
    int left = ms_until(now + 60000);

    T_EQ_INT(ms_until(-1), -1);
    T_EQ_INT(ms_until(now - 5), 0);
    T_ASSERT(left > 0 && left <= 60000);
    T_EQ_INT(ms_until(INT64_MAX / 2), INT_MAX);
}

/* $USHER_TEST_GRACE_MS: what grace_ms(2000) is after grace_init() read it (NULL: unset). */
static const struct {
    const char *env;
    int ms;
} grace_cases[] = {
    {NULL, 2000}, {"200", 200},  {"1", 1},        {"60000", 60000}, {"60001", 2000}, {"0", 2000},
    {"-5", 2000}, {"abc", 2000}, {"200ms", 2000}, {"", 2000},       {" 200", 2000},
};

static void test_grace_ms_takes_the_test_override_only_when_valid(void)
{
    for (size_t i = 0; i < ARRAY_LEN(grace_cases); i++) {
        if (grace_cases[i].env != NULL)
            T_ASSERT(setenv(GRACE_TEST_ENV, grace_cases[i].env, 1) == 0);
        else
            T_ASSERT(unsetenv(GRACE_TEST_ENV) == 0);
        grace_init();
        if (grace_ms(2000) != grace_cases[i].ms)
            T_FAIL("%s=%s: grace_ms(2000) = %d, want %d", GRACE_TEST_ENV,
                   grace_cases[i].env ? grace_cases[i].env : "(unset)", grace_ms(2000),
                   grace_cases[i].ms);
    }
    /* Read once: a later change of the environment changes nothing. */
    T_ASSERT(setenv(GRACE_TEST_ENV, "300", 1) == 0);
    grace_init();
    T_ASSERT(setenv(GRACE_TEST_ENV, "400", 1) == 0);
    T_EQ_INT(grace_ms(1000), 300);
}

static void test_errno_name(void)
{
    T_EQ_STR(errno_name(ECONNRESET), "ECONNRESET");
    T_EQ_STR(errno_name(EPIPE), "EPIPE");
    T_EQ_STR(errno_name(99999), "E99999");
}

/* Closing every descriptor but some: fd_close_from and its walk of /proc */

/* The descriptors each case opens (on /dev/null), a gap and a high one among them. */
static const int open_set[] = {3, 4, 5, 6, 7, 8, 10, 11, 700};

static const struct {
    int first;
    int keep[6];
    size_t nkeep;
} close_cases[] = {
    {3, {0}, 0},
    {3, {5}, 1},
    {3, {3}, 1},                /* the lowest itself: no gap below it */
    {3, {10, 4, 700, 4, 1}, 5}, /* unsorted, twice, one below `first` */
    {3, {11, 12, 9}, 3},        /* 12 and 9 are not open: nothing to keep */
    {3, {7, 8}, 2},             /* adjacent */
    {6, {0}, 0},                /* 3-5 stay below `first` (the daemon's sockets) */
    {6, {8, 4}, 2},
};

static bool is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static bool in_list(int fd, const int *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == fd)
            return true;
    return false;
}

static void open_fds(void)
{
    int null = open("/dev/null", O_RDONLY);

    if (null < 0)
        T_FAIL("open /dev/null: %s", strerror(errno));
    for (size_t i = 0; i < ARRAY_LEN(open_set); i++)
        if (open_set[i] != null && dup2(null, open_set[i]) < 0)
            T_FAIL("dup2 onto %d: %s", open_set[i], strerror(errno));
    if (!in_list(null, open_set, ARRAY_LEN(open_set)))
        close(null);
}

/* No descriptor from `first` up is open but those kept (all of them, not only ours). */
static void assert_only_kept(int first, const int *keep, size_t n)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *e;

    if (dir == NULL)
        T_FAIL("opendir /proc/self/fd: %s", strerror(errno));
    while ((e = readdir(dir)) != NULL) {
        int64_t fd;
        if (parse_i64(e->d_name, first, INT32_MAX, &fd) == 0 && fd != dirfd(dir) &&
            !in_list((int)fd, keep, n))
            T_FAIL("descriptor %lld is still open", (long long)fd);
    }
    closedir(dir);
}

static void run_close_cases(int (*close_fn)(int, const int *, size_t), const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(close_cases); i++) {
        int first = close_cases[i].first;
        const int *keep = close_cases[i].keep;
        size_t n = close_cases[i].nkeep;

        open_fds();
        if (close_fn(first, keep, n) < 0)
            T_FAIL("%s, case %zu: %s", name, i, strerror(errno));
        for (size_t j = 0; j < ARRAY_LEN(open_set); j++) {
            int fd = open_set[j];
            bool want = fd < first || in_list(fd, keep, n);
            if (is_open(fd) != want)
                T_FAIL("%s, case %zu: descriptor %d is %s, want %s", name, i, fd,
                       is_open(fd) ? "open" : "closed", want ? "open" : "closed");
        }
        for (int fd = 0; fd < 3; fd++)
            T_ASSERT(is_open(fd));
        assert_only_kept(first, keep, n);
    }
}

static void test_fd_close_from_keeps_only_those_asked(void)
{
    run_close_cases(fd_close_from, "fd_close_from");
}

static void test_fd_close_from_walk_keeps_only_those_asked(void)
{
    run_close_cases(fd_close_from_walk, "fd_close_from_walk");
}

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

static void test_fd_close_from_walks_where_close_range_is_refused(void)
{
#ifdef TEST_AUDIT_ARCH
    /* close_range(2) fails with ENOSYS in this process, as on a kernel before 5.9. */
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_close_range, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = ARRAY_LEN(filter), .filter = filter};

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
        t_skip("no seccomp filter: %s", strerror(errno));
    T_ASSERT(syscall(SYS_close_range, 3U, 3U, 0U) < 0 && errno == ENOSYS);
    run_close_cases(fd_close_from, "fd_close_from without close_range");
#else
    t_skip("no seccomp filter for this architecture");
#endif
}

static void test_fd_close_from_refuses_bad_arguments_and_closes_nothing(void)
{
    int (*const fns[])(int, const int *, size_t) = {fd_close_from, fd_close_from_walk};
    int many[FD_KEEP_MAX + 1] = {0};

    for (size_t i = 0; i < ARRAY_LEN(fns); i++) {
        open_fds();
        errno = 0;
        T_EQ_INT(fns[i](2, NULL, 0), -1);
        T_EQ_INT(errno, EINVAL);
        T_EQ_INT(fns[i](3, many, ARRAY_LEN(many)), -1);
        T_EQ_INT(errno, E2BIG);
        for (size_t j = 0; j < ARRAY_LEN(open_set); j++)
            T_ASSERT(is_open(open_set[j]));
    }
}

static void test_strbuf_grows_and_stops_at_its_bound(void)
{
    struct strbuf b;

    strbuf_init(&b, 3000);
    for (int i = 0; i < 100; i++)
        strbuf_printf(&b, "%02d:%s;", i, "abcdefghijklmnopqrstu"); /* 25 bytes each */
    T_ASSERT(!b.failed);
    T_EQ_INT(b.len, 2500);
    T_EQ_INT(strlen(b.p), 2500);
    T_ASSERT(strncmp(b.p + 2475, "99:abcdefghijklmnopqrstu;", 25) == 0);
    strbuf_add(&b, "0123456789", 10);
    T_EQ_INT(b.len, 2510);
    /* Past the bound: failed, and what it has stays as it was. */
    for (int i = 0; i < 100 && !b.failed; i++)
        strbuf_printf(&b, "%s", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    T_ASSERT(b.failed);
    T_ASSERT(b.len <= 3000);
    T_EQ_INT(strlen(b.p), b.len);
    strbuf_add(&b, "y", 1); /* nothing once failed */
    T_ASSERT(b.p[b.len - 1] != 'y' || b.len <= 3000);
    strbuf_free(&b);
    T_ASSERT(b.p == NULL && b.len == 0 && !b.failed);
}

static const struct t_case cases[] = {
    T_CASE(test_strbuf_grows_and_stops_at_its_bound),
    T_CASE(test_parse_i64),
    T_CASE(test_parse_duration),
    T_CASE(test_parse_size),
    T_CASE(test_str_copy),
    T_CASE(test_str_escape),
    T_CASE(test_str_escape_cuts_at_an_escape_and_says_so),
    T_CASE(test_str_escape_word),
    T_CASE(test_ms_until),
    T_CASE(test_grace_ms_takes_the_test_override_only_when_valid),
    T_CASE(test_errno_name),
    T_CASE(test_fd_close_from_keeps_only_those_asked),
    T_CASE(test_fd_close_from_walk_keeps_only_those_asked),
    T_CASE(test_fd_close_from_walks_where_close_range_is_refused),
    T_CASE(test_fd_close_from_refuses_bad_arguments_and_closes_nothing),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
