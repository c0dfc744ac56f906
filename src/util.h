/*
 * util: checked number parsing, whole-buffer I/O on blocking descriptors,
 * descriptor flags and closing, the monotonic clock, and escaping outside
 * bytes for the log.
 *
 * Every function here is pure or a thin wrapper around system calls;
 * none prints and none exits.  Wrappers return -1 with errno set.
 */
#ifndef USHER_UTIL_H
#define USHER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Parse the whole of `s` as a decimal integer in [min, max].
 * Returns 0, or -1 with errno EINVAL (not a number, trailing junk, empty)
 * or ERANGE (outside the range).
 */
int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/*
 * Parse a duration: a non-negative number with an optional suffix ms, s, m
 * or h; a bare number means seconds.  Result in milliseconds.
 * Returns 0, or -1 with errno EINVAL / ERANGE.
 */
int parse_duration_ms(const char *s, int64_t *out_ms);

/*
 * Parse a size: a non-negative number with an optional suffix K, M or G
 * (powers of 1024, case-insensitive, an optional trailing B allowed).
 * Returns 0, or -1 with errno EINVAL / ERANGE.
 */
int parse_size(const char *s, uint64_t *out);

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t now_ms(void);

/*
 * Milliseconds from now until `deadline` (a now_ms() instant) as poll(2)
 * takes them: -1 for no deadline (`deadline` negative), 0 once it has
 * passed, at most INT_MAX.
 */
int ms_until(int64_t deadline);

/*
 * Wait until `fd` has one of the poll(2) `events` (or an error or hang-up,
 * which the next call on it reports), at most until `deadline` (a now_ms()
 * instant, -1: none).  Returns 0, or -1 with errno (ETIMEDOUT).
 */
int fd_wait(int fd, short events, int64_t deadline);

/*
 * The daemon's grace periods (SIGTERM to SIGKILL at max_time and at stop,
 * a closing connection's linger, a pool's crash window and respawn pause)
 * are compiled in; for the tests only, $USHER_TEST_GRACE_MS (a number of
 * milliseconds, 1 to GRACE_TEST_MAX_MS) replaces every one of them.
 * grace_init() reads it (once, at start-up); grace_ms() returns that
 * value, or `compiled_default` when it was unset or not a number in range.
 */
#define GRACE_TEST_ENV    "USHER_TEST_GRACE_MS"
#define GRACE_TEST_MAX_MS 60000
void grace_init(void);
int grace_ms(int compiled_default);

/*
 * Write all `len` bytes to a blocking descriptor, retrying on EINTR and
 * short writes.  Returns 0, or -1 with errno.
 */
int write_all(int fd, const void *buf, size_t len);

/*
 * Read until `len` bytes, end of file or an error, retrying on EINTR.
 * Returns the number of bytes read (short only at EOF), or -1 with errno.
 */
ssize_t read_full(int fd, void *buf, size_t len);

/* Add O_NONBLOCK / FD_CLOEXEC to a descriptor.  Return 0 or -1 with errno. */
int fd_set_nonblock(int fd);
int fd_set_cloexec(int fd);

/*
 * Close every descriptor from `first` (3 or more) up but the `n` in `keep`
 * (at most FD_KEEP_MAX; numbers below `first` are ignored): a child
 * dropping what it inherited.  close_range(2) over the gaps; where that
 * fails (a kernel before 5.9, a filter that refuses it), the walk below.
 * Never a loop over every possible number.  Async-signal-safe: system
 * calls only, on the caller's stack (no allocation, no lock, no stdio),
 * so a child sharing its parent's memory (vfork, clone) may call it.
 * Returns 0, or -1 with errno: EINVAL (`first` below 3), E2BIG (`n` over
 * FD_KEEP_MAX), or the walk's.
 */
#define FD_KEEP_MAX 64
int fd_close_from(int first, const int *keep, size_t n);

/*
 * The same by walking the descriptors that are open, read from
 * /proc/self/fd with the raw getdents64 system call (opendir would
 * allocate), also async-signal-safe.  fd_close_from's fallback; public so
 * that it can be tested where close_range works.  Returns 0, or -1 with
 * errno (EINVAL, E2BIG as above; ENOENT: no /proc).
 */
int fd_close_from_walk(int first, const int *keep, size_t n);

/*
 * Descriptors 0, 1 and 2 open, on /dev/null where they were closed, so
 * that no socket of ours lands there and is taken for stdio (by a child,
 * or by our own copying).  Returns 0, or -1 with errno.
 */
int open_std_fds(void);

/* close(2) that preserves errno, for error paths. */
void close_quietly(int fd);

/*
 * printf into a caller's error buffer `err` (`errlen` bytes), for the
 * functions that report failure that way.  Returns -1, so that a failure
 * reads `return err_set(err, errlen, "...", ...);`.
 */
int err_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Copy `src` into `dst` of size `size`, always NUL-terminating.
 * Returns 0, or -1 with errno ENAMETOOLONG if it had to truncate.
 */
int str_copy(char *dst, size_t size, const char *src);

/*
 * Escape `len` bytes of `src` (bytes from outside: a peer's name, a
 * program's stderr, a value from a config file) for the log, as SPEC 9
 * says: printable ASCII (0x20-0x7e) as it is, the backslash as "\\",
 * every other byte (NUL included) as "\xhh", two lowercase hex digits.
 * The result is printable ASCII: no newline, carriage return or terminal
 * escape can come through.
 *
 * `dst` (of `size` bytes, at least 1) always gets a NUL-terminated text.
 * Returns the length of the whole escaped text, as snprintf does: if that
 * is `size` or more, the text was cut at an escape's boundary (never in
 * the middle of one) and ends in "..." when `size` leaves room for it.
 */
size_t str_escape(char *dst, size_t size, const void *src, size_t len);

/*
 * str_escape, and a space as "\x20" too: for a name a client chooses that
 * becomes the value of a key=value field of the log (a TLS server name, a
 * Unix socket path), which must stay one word so that the fields of a
 * line can always be told apart.
 */
size_t str_escape_word(char *dst, size_t size, const void *src, size_t len);

/*
 * A growable text buffer, bounded: once an append would pass `max`
 * bytes, or memory runs out, it is marked failed and keeps what it has.
 */
struct strbuf {
    char *p; /* NUL-terminated while not NULL */
    size_t len, cap, max;
    bool failed;
};

void strbuf_init(struct strbuf *b, size_t max);
void strbuf_free(struct strbuf *b);
void strbuf_add(struct strbuf *b, const void *data, size_t n);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Name of an errno value ("ECONNRESET"), or its number as text. */
const char *errno_name(int err);

#endif
