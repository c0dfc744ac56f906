/*
 * util: checked number parsing, whole-buffer I/O, descriptor flags, clock,
 * escaping for the log.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;

    return (x > y) - (x < y);
}

int close_all_except(const int *keep, size_t n)
{
    int sorted[64];
    unsigned first = 3;

    if (n > ARRAY_LEN(sorted)) {
        errno = E2BIG;
        return -1;
    }
    memcpy(sorted, keep, n * sizeof(*keep));
    qsort(sorted, n, sizeof(*sorted), cmp_int);
    for (size_t i = 0; i < n; i++) {
        if (sorted[i] < (int)first)
            continue;
        if ((unsigned)sorted[i] > first && close_range(first, (unsigned)sorted[i] - 1, 0) < 0)
            return -1;
        first = (unsigned)sorted[i] + 1;
    }
    return close_range(first, ~0U, 0);
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
static size_t escape_byte(unsigned char c, char *out)
{
    static const char hex[] = "0123456789abcdef";

    if (c == '\\') {
        if (out != NULL)
            memcpy(out, "\\\\", 2);
        return 2;
    }
    if (c >= 0x20 && c < 0x7f) {
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

size_t str_escape(char *dst, size_t size, const void *src, size_t len)
{
    const unsigned char *s = src;
    size_t total = 0, room, out = 0;

    for (size_t i = 0; i < len; i++)
        total += escape_byte(s[i], NULL);
    if (size == 0)
        return total;
    /* Cut: leave room for the "..." that says so (and the NUL). */
    room = total < size ? total : size >= 4 ? size - 4 : 0;
    for (size_t i = 0; i < len; i++) {
        size_t n = escape_byte(s[i], NULL);
        if (out + n > room)
            break;
        escape_byte(s[i], dst + out);
        out += n;
    }
    if (total >= size && size >= 4) {
        memcpy(dst + out, "...", 3);
        out += 3;
    }
    dst[out] = '\0';
    return total;
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
