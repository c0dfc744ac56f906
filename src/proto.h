/*
 * proto: the wire formats of the built-in services, shared by the daemon
 * and the client.  Pure functions: no I/O, no state, no allocation.
 *
 * chargen (RFC 864)  72-character lines of the 95 printable ASCII
 *                    characters, each line starting one character later.
 * daytime (RFC 867)  "Sat Nov 21 16:40:00 2026\r\n", local time.
 * time (RFC 868)     seconds since 1900-01-01 UTC, modulo 2^32, big-endian.
 * sum                "A B\n" -> "A+B\n", or an "error: ...\n" line.
 * sumbin             XDR: two big-endian int64 in, status + int64 out.
 */
#ifndef USHER_PROTO_H
#define USHER_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* chargen */
#define CHARGEN_WIDTH 72                  /* characters per line */
#define CHARGEN_LINE  (CHARGEN_WIDTH + 2) /* with "\r\n" */
#define CHARGEN_CYCLE 95                  /* lines before the pattern repeats */

/*
 * The whole cycle of CHARGEN_CYCLE lines, CHARGEN_LINE bytes each, line 0
 * first (it starts with the space character).  Built once, never freed.
 */
const char *chargen_cycle(void);

/* daytime: format `t` (local time) with "\r\n"; returns the length or 0. */
#define DAYTIME_MAX 64
size_t daytime_format(time_t t, char *buf, size_t size);

/* time */
#define RFC868_UNIX_OFFSET 2208988800u /* seconds from 1900 to 1970 */
uint32_t rfc868_from_unix(int64_t unix_seconds);
/* Back to Unix time, taking values below 1970's as the era after 2036. */
int64_t rfc868_to_unix(uint32_t value);

void put_be32(unsigned char *p, uint32_t v);
void put_be64(unsigned char *p, uint64_t v);
uint32_t get_be32(const unsigned char *p);
uint64_t get_be64(const unsigned char *p);

/* sum */
#define SUM_LINE_MAX  1024 /* bytes of a request line, without "\n" or "\r\n" */
#define SUM_REPLY_MAX 32   /* longest reply line, with its "\n" */

enum sum_status {
    SUM_OK,
    SUM_ERR_INPUT,
    SUM_ERR_OVERFLOW,
    SUM_ERR_TOO_LONG,
};

/*
 * Answer one request line.  `line` holds the bytes before the "\n" (a
 * trailing "\r" is allowed and ignored).  Writes the reply, "\n" ended,
 * into `out` (SUM_REPLY_MAX bytes) and returns its length.
 */
size_t sum_answer(const char *line, size_t len, char out[SUM_REPLY_MAX]);

/* The reply line for an error status, "\n" ended. */
const char *sum_error_text(enum sum_status status);

/*
 * Parse "A B" with optional surrounding blanks (a trailing "\r" is allowed).
 * Returns SUM_OK, SUM_ERR_INPUT or SUM_ERR_TOO_LONG.
 */
enum sum_status sum_parse(const char *line, size_t len, int64_t *a, int64_t *b);

/* sumbin */
#define SUMBIN_REQUEST  16
#define SUMBIN_REPLY    12
#define SUMBIN_OK       0
#define SUMBIN_OVERFLOW 1

void sumbin_request(int64_t a, int64_t b, unsigned char out[SUMBIN_REQUEST]);
void sumbin_answer(const unsigned char req[SUMBIN_REQUEST], unsigned char out[SUMBIN_REPLY]);
void sumbin_parse_reply(const unsigned char reply[SUMBIN_REPLY], uint32_t *status, int64_t *sum);

#endif
