/*
 * util: checked number parsing, whole-buffer I/O, descriptor flags and
 * closing, clock, escaping for the log.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    /* strtoll skips leading blanks and accepts them; we do not. */
    if (s == NULL || *s == '\0' || isspace((unsigned char)*s)) {
        errno = EINVAL;
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (end == s || *end != '\0') {
        errno = EINVAL;
        return -1;
    }
    if (errno == ERANGE || v < min || v > max) {
        errno = ERANGE;
        return -1;
    }
    *out = v;
    return 0;
}

/*
 * Split "123suffix" into its number and suffix.  The number must be
 * non-negative digits only (no sign, no blanks).
 */
static int split_number(const char *s, uint64_t *num, const char **suffix)
{
    uint64_t v = 0;
    const char *p = s;

    if (!isdigit((unsigned char)*p)) {
        errno = EINVAL;
        return -1;
    }
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            errno = ERANGE;
            return -1;
        }
        v = v * 10 + d;
    }
    *num = v;
    *suffix = p;
    return 0;
}

static int scale(uint64_t v, uint64_t unit, uint64_t limit, uint64_t *out)
{
    if (v > limit / unit) {
        errno = ERANGE;
        return -1;
    }
    *out = v * unit;
    return 0;
}

int parse_duration_ms(const char *s, int64_t *out_ms)
{
    static const struct {
        const char *suffix;
        uint64_t ms;
    } units[] = {
        {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000},
    };
    uint64_t v, ms;
    const char *suffix;

    if (s == NULL || split_number(s, &v, &suffix) < 0)
        return -1;
    for (size_t i = 0; i < ARRAY_LEN(units); i++) {
        if (strcmp(suffix, units[i].suffix) != 0)
            continue;
        if (scale(v, units[i].ms, INT64_MAX, &ms) < 0)
            return -1;
        *out_ms = (int64_t)ms;
        return 0;
    }
    errno = EINVAL;
    return -1;
}

int parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *suffix;
        uint64_t bytes;
    } units[] = {
        {"", 1},           {"b", 1},           {"k", 1ULL << 10}, {"kb", 1ULL << 10},
        {"m", 1ULL << 20}, {"mb", 1ULL << 20}, {"g", 1ULL << 30}, {"gb", 1ULL << 30},
    };
    uint64_t v;
    const char *suffix;

    if (s == NULL || split_number(s, &v, &suffix) < 0)
        return -1;
    for (size_t i = 0; i < ARRAY_LEN(units); i++) {
        if (strcasecmp(suffix, units[i].suffix) == 0)
            return scale(v, units[i].bytes, UINT64_MAX, out);
    }
    errno = EINVAL;
    return -1;
}

int64_t now_ms(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC cannot fail with a valid pointer on Linux. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int grace_override; /* 0: none */

void grace_init(void)
{
    const char *text = getenv(GRACE_TEST_ENV);
    int64_t ms;

    grace_override = text != NULL && parse_i64(text, 1, GRACE_TEST_MAX_MS, &ms) == 0 ? (int)ms : 0;
}

int grace_ms(int compiled_default)
{
    return grace_override > 0 ? grace_override : compiled_default;
}

int ms_until(int64_t deadline)
{
    int64_t left;

    if (deadline < 0)
        return -1;
    left = deadline - now_ms();
    if (left < 0)
        return 0;
    return left > INT_MAX ? INT_MAX : (int)left;
}

int fd_wait(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int rc = poll(&p, 1, ms_until(deadline));
        if (rc > 0)
            return 0;
        if (rc == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (errno != EINTR)
            return -1;
    }
}

int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int fd_set_nonblock(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0)
        return -1;
    if (flags & O_NONBLOCK)
        return 0;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int fd_set_cloexec(int fd)
{
    int flags = fcntl(fd, F_GETFD);

    if (flags < 0)
        return -1;
    if (flags & FD_CLOEXEC)
        return 0;
    return fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

static int check_close_args(int first, size_t n)
{
    if (first < 3 || n > FD_KEEP_MAX) {
        errno = first < 3 ? EINVAL : E2BIG;
        return -1;
    }
    return 0;
}

/* Those of `keep` from `first` up into `out`, in order.  (qsort may allocate.) */
static size_t sort_keep(int first, const int *keep, size_t n, int *out)
{
    size_t m = 0;

    for (size_t i = 0; i < n; i++) {
        size_t j;
        if (keep[i] < first)
            continue;
        for (j = m++; j > 0 && out[j - 1] > keep[i]; j--)
            out[j] = out[j - 1];
        out[j] = keep[i];
    }
    return m;
}

int fd_close_from(int first, const int *keep, size_t n)
{
    int sorted[FD_KEEP_MAX];
    unsigned lo = (unsigned)first;
    size_t m;

    if (check_close_args(first, n) < 0)
        return -1;
    m = sort_keep(first, keep, n, sorted);
    for (size_t i = 0; i < m; i++) {
        unsigned k = (unsigned)sorted[i];
        if (k > lo && close_range(lo, k - 1, 0) < 0)
            return fd_close_from_walk(first, keep, n);
        if (k >= lo)
            lo = k + 1;
    }
    if (close_range(lo, ~0U, 0) < 0)
        return fd_close_from_walk(first, keep, n);
    return 0;
}

/* The descriptor an entry of /proc/self/fd names; -1 for "." and "..". */
static int fd_of_name(const char *name)
{
    int fd = 0;

    if (*name == '\0')
        return -1;
    for (; *name != '\0'; name++) {
        int d = *name - '0';
        if (d < 0 || d > 9 || fd > (INT_MAX - d) / 10)
            return -1;
        fd = fd * 10 + d;
    }
    return fd;
}

static bool is_kept(int fd, const int *keep, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (keep[i] == fd)
            return true;
    return false;
}

/* A record of getdents64 (the kernel's struct linux_dirent64). */
struct dirent64_rec {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

int fd_close_from_walk(int first, const int *keep, size_t n)
{
    /* Records are 8-byte aligned in the buffer; the buffer must be too. */
    char buf[1024] __attribute__((aligned(8)));
    int dirfd, saved;
    long got;

    if (check_close_args(first, n) < 0)
        return -1;
    dirfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return -1;
    /* Closing behind the directory's offset skips nothing: it counts descriptors, not entries. */
    while ((got = syscall(SYS_getdents64, dirfd, buf, sizeof(buf))) > 0) {
        for (long off = 0; off < got;) {
            const struct dirent64_rec *d = (const void *)(buf + off);
            int fd = fd_of_name(d->name);
            if (fd >= first && fd != dirfd && !is_kept(fd, keep, n))
                close(fd);
            off += d->reclen;
        }
    }
    saved = errno;
    close(dirfd);
    errno = saved;
    return got < 0 ? -1 : 0;
}

int open_std_fds(void)
{
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        /* open(2) takes the lowest free number: this one. */
        if (open("/dev/null", O_RDWR) != fd)
            return -1;
    }
    return 0;
}

void close_quietly(int fd)
{
    int saved = errno;

    if (fd >= 0)
        close(fd);
    errno = saved;
}

int err_set(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int str_copy(char *dst, size_t size, const char *src)
{
    size_t len = strlen(src);

    if (size == 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (len >= size) {
        memcpy(dst, src, size - 1);
        dst[size - 1] = '\0';
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dst, src, len + 1);
    return 0;
}

/* The escaped form of one byte: its length, and the text if `out` is not NULL. */
static size_t escape_byte(unsigned char c, char *out, bool space)
{
    static const char hex[] = "0123456789abcdef";

    if (c == '\\') {
        if (out != NULL)
            memcpy(out, "\\\\", 2);
        return 2;
    }
    if (c >= 0x20 + space && c < 0x7f) {
        if (out != NULL)
            *out = (char)c;
        return 1;
    }
    if (out != NULL) {
        out[0] = '\\';
        out[1] = 'x';
        out[2] = hex[c >> 4];
        out[3] = hex[c & 0xf];
    }
    return 4;
}

static size_t escape(char *dst, size_t size, const void *src, size_t len, bool space)
{
    const unsigned char *s = src;
    size_t total = 0, room, out = 0;

    for (size_t i = 0; i < len; i++)
        total += escape_byte(s[i], NULL, space);
    if (size == 0)
        return total;
    /* Cut: leave room for the "..." that says so (and the NUL). */
    room = total < size ? total : size >= 4 ? size - 4 : 0;
    for (size_t i = 0; i < len; i++) {
        size_t n = escape_byte(s[i], NULL, space);
        if (out + n > room)
            break;
        escape_byte(s[i], dst + out, space);
        out += n;
    }
    if (total >= size && size >= 4) {
        memcpy(dst + out, "...", 3);
        out += 3;
    }
    dst[out] = '\0';
    return total;
}

size_t str_escape(char *dst, size_t size, const void *src, size_t len)
{
    return escape(dst, size, src, len, false);
}

size_t str_escape_word(char *dst, size_t size, const void *src, size_t len)
{
    return escape(dst, size, src, len, true);
}

void strbuf_init(struct strbuf *b, size_t max)
{
    *b = (struct strbuf){.max = max};
}

void strbuf_free(struct strbuf *b)
{
    free(b->p);
    *b = (struct strbuf){.max = b->max};
}

/* Room for `n` more bytes and the NUL, or false (and failed). */
static bool strbuf_room(struct strbuf *b, size_t n)
{
    size_t want, cap;
    char *p;

    if (b->failed)
        return false;
    if (n > b->max || b->len > b->max - n) {
        b->failed = true;
        return false;
    }
    want = b->len + n + 1;
    if (want <= b->cap)
        return true;
    for (cap = b->cap ? b->cap : 1024; cap < want; cap *= 2) {
    }
    if ((p = realloc(b->p, cap)) == NULL) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void strbuf_add(struct strbuf *b, const void *data, size_t n)
{
    if (!strbuf_room(b, n))
        return;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    va_list ap;
    int n;

    /* Formatted once where it fits (the common case), again after growing where not. */
    va_start(ap, fmt);
    n = vsnprintf(room > 0 ? b->p + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0 || b->failed) {
        if (b->p != NULL)
            b->p[b->len] = '\0';
        return;
    }
    if ((size_t)n > b->max || b->len > b->max - (size_t)n) {
        b->failed = true; /* past the bound: what it had stays */
        if (b->p != NULL)
            b->p[b->len] = '\0';
        return;
    }
    if ((size_t)n >= room) {
        if (!strbuf_room(b, (size_t)n)) {
            if (b->p != NULL)
                b->p[b->len] = '\0';
            return;
        }
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

const char *errno_name(int err)
{
    static char unknown[24];
    const char *name = strerrorname_np(err);

    if (name != NULL)
        return name;
    snprintf(unknown, sizeof(unknown), "E%d", err);
    return unknown;
}
