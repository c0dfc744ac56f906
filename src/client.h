/*
 * client: what `usher` does once its options are parsed.
 *
 *   stream copy      TCP, TLS, unix: stdin to the socket and the socket to
 *                    stdout at the same time, half-close at stdin's EOF.
 *   datagram copy    UDP, unixgram: one datagram per stdin line, one reply
 *                    printed per datagram, with a timeout and resends.
 *   sum, sumbin      the adders of section 4, one request per stdin line.
 *   time             RFC 868, printed as ISO 8601 UTC.
 *
 * Every stream mode works over tls:// as over tcp:// (client_tls.h): the
 * handshake comes right after the connect, within the same -w.
 *
 * Also the pure pieces that main and the tests share: turning the address
 * operands into a target, parsing -w, reading bounded lines, formatting
 * the time and a sumbin reply.  Nothing here prints to stderr or exits: failures come back as
 * -1 with a message ("unable to connect to tcp://...: ...") in the caller's
 * buffer.  Data goes to fd 1; a reader of stdout that goes away (EPIPE) ends
 * the work early and quietly, as a success.
 */
#ifndef USHER_CLIENT_H
#define USHER_CLIENT_H

#include "addr.h"
#include "client_tls.h"
#include "proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Datagram reply timeout when -w is not given. */
#define CLIENT_DGRAM_WAIT_MS 2000
/* Most resends -r accepts. */
#define CLIENT_RETRIES_MAX 1000
/* Longest input line: a datagram's worth (UDP cannot carry more). */
#define CLIENT_LINE_MAX 65536

/* Where to go and how patiently. */
struct client_target {
    struct addr_spec spec;
    char name[ADDR_TEXT_MAX + 128]; /* the address as the user gave it, for messages */
    int64_t wait_ms;                /* -w, or -1 if not given */
    unsigned tries;                 /* datagrams: 1 + -r */
    bool no_reply;                  /* datagrams, -n: send each line, await no reply */
    struct client_tls_opts tls;     /* for a tls:// address */
};

/*
 * Fill t->spec and t->name from the address operands: one ADDRESS
 * ("tcp://h:p", "unix:/p", ...) or two, HOST PORT, meaning TCP, or UDP when
 * `udp` is set (an IPv6 HOST may be written without brackets there).  With
 * one operand, `udp` is only allowed on a udp:// address.  Leaves wait_ms
 * and tries alone.  Returns 0, or -1 with a message in err.
 */
int client_target_parse(int nargs, char *const args[], bool udp, struct client_target *t, char *err,
                        size_t errlen);

/*
 * Parse a -w value: seconds as "2" or "0.5" (at most 3 decimals), or a
 * duration with a unit: "500ms", "2s", "1m".  It must be above zero and
 * fit poll(2)'s int milliseconds.  Returns 0, or -1 with errno EINVAL or
 * ERANGE.
 */
int client_parse_wait(const char *s, int64_t *ms);

/*
 * Format an RFC 868 value as "2026-11-21T16:40:00Z" (the era after 2036
 * for values below 1970's).  `size` of 32 is enough.  Returns 0 or -1.
 */
int client_format_time(uint32_t rfc868, char *buf, size_t size);

/*
 * A sumbin reply as `usher sumbin` prints it: "SUM\n", or sum's overflow
 * error line.  `text` needs SUM_REPLY_MAX bytes.  Returns 0, or -1 for a
 * status that is neither (*status says which it was).
 */
int client_sumbin_text(const unsigned char reply[SUMBIN_REPLY], char text[SUM_REPLY_MAX],
                       uint32_t *status);

/*
 * A bounded line reader over a descriptor (blocking or not), or over a
 * connection (client_lines_init_conn).
 */
struct client_lines {
    int fd;
    struct client_conn *conn; /* NULL: read fd */
    bool eof;
    bool skipping; /* inside a line that was too long, up to its "\n" */
    size_t head, tail;
    char buf[CLIENT_LINE_MAX + 1]; /* a byte past the bound: is a full line followed by EOF? */
};

void client_lines_init(struct client_lines *l, int fd);
void client_lines_init_conn(struct client_lines *l, struct client_conn *conn);

/*
 * The next line, "\n" included if it had one (the last line of the input
 * may not).  *line stays valid until the next call.  `deadline_ms` is a
 * now_ms() instant, or -1 to wait as long as it takes.  Returns 1 for a
 * line, 0 at the end of the input, or -1 with errno: EMSGSIZE for a line
 * longer than CLIENT_LINE_MAX, its "\n" included (the rest of it is
 * skipped, so the caller may go on), ETIMEDOUT, or read(2)'s.
 */
int client_lines_next(struct client_lines *l, int64_t deadline_ms, const char **line, size_t *len);

/*
 * Connect to t's stream address, and for a tls:// address do the
 * handshake, both within one t->wait_ms (-1: no bound).  The TLS context
 * is made first, so that a bad --ca, --cert or --key fails before
 * anything is sent.  Returns 0 with *c open (client_conn_close it), or -1
 * with a message in err ("unable to connect to tcp://...: ...").
 */
int client_open_conn(const struct client_target *t, struct client_conn *c, char *err,
                     size_t errlen);

/*
 * Stream or datagram copy, by the kind of t's address.  Returns 0 (the
 * server closed, or stdin ended and every reply came), or -1 with a
 * message in err.
 */
int client_copy(const struct client_target *t, char *err, size_t errlen);

/*
 * `usher sum` (binary false) or `usher sumbin` (true): one request per
 * stdin line, its reply printed.  *error_replies counts the lines that got
 * an "error: ..." answer (or, for sumbin, did not parse).  Returns 0, or -1
 * with a message in err.
 */
int client_sum(const struct client_target *t, bool binary, unsigned *error_replies, char *err,
               size_t errlen);

/* `usher time`: print the server's time.  Returns 0, or -1 with a message. */
int client_time(const struct client_target *t, char *err, size_t errlen);

#endif
