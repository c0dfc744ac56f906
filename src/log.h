/*
 * log: the daemon's messages, to stderr or to syslog.
 *
 * One line per call, sent with a single write or datagram so lines from
 * several processes never interleave.  Levels: errors and warnings always;
 * info (start-up, per-connection lines) unless quiet; debug with -v.
 *
 * Syslog messages follow RFC 3164: "<PRI>Mmm dd hh:mm:ss usherd[PID]: text"
 * to a local socket (/dev/log or another path), with the host name after
 * the timestamp when sent to a remote collector over UDP.  The socket is
 * non-blocking: a slow, full or missing syslog daemon loses messages but
 * never holds up the service.  Every lost line is counted: losing the
 * target is reported once on stderr; finding it again, or room in a full
 * socket, is reported in the log with the count of lines lost.
 *
 * Formats (log_format, SPEC 15): text, "PROG: [error: |warning: ]MESSAGE"
 * on stderr and "[error: |warning: ]MESSAGE" after the syslog header; or
 * json, one object per message (logjson.h) in the same places, every line
 * of the log alike, the notes about lost lines included.
 *
 * Client addresses (log_ip, SPEC 15) are shown as log_peer_text makes
 * them: in full, truncated to their network, as a keyed hash or not at
 * all.  The hash key is made once per process tree, by the first
 * log_set_ip(LOG_IP_HASH), before the processes that log are forked, so
 * one address gives one value in every process of the daemon's run.
 *
 * Nothing here ever exits.
 */
#ifndef USHER_LOG_H
#define USHER_LOG_H

#include "logip.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum log_level {
    LOG_LVL_ERR,
    LOG_LVL_WARN,
    LOG_LVL_INFO,
    LOG_LVL_DEBUG,
};

enum log_format {
    LOG_FORMAT_TEXT,
    LOG_FORMAT_JSON,
};

/* Which connection lines a service writes (its log_connections key). */
enum log_conns {
    LOG_CONNS_ALL,
    LOG_CONNS_FAILURES, /* every end but closed and exit:0 */
    LOG_CONNS_NONE,
};

enum log_kind {
    LOG_TO_STDERR,
    LOG_TO_SYSLOG,
};

/* Where messages go, as parsed from "stderr", "syslog", "syslog:unix:PATH"
 * or "syslog:udp://HOST:PORT". */
struct log_target {
    enum log_kind kind;
    bool remote; /* UDP: the message carries our host name */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char text[192]; /* as written, escaped (str_escape): for messages only */
};

#define LOG_DEFAULT_SYSLOG "/dev/log"

/* Log to stderr with `prog` as the prefix ("usherd: ..."), at info level. */
void log_init(const char *prog);

/* Messages above `level` are dropped. */
void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);

/*
 * Parse a target.  Host names are resolved here.  Returns 0, or -1 with a
 * message in err.
 */
int log_target_parse(const char *text, struct log_target *out, char *err, size_t errlen);
bool log_target_equal(const struct log_target *a, const struct log_target *b);

/* Syslog facility by name ("daemon", "local0", ...): its code, or -1. */
int log_facility_parse(const char *name);

/* "text" or "json": its format, or -1; the name of a format. */
int log_format_parse(const char *name);
const char *log_format_name(enum log_format format);

/* Write messages in `format` from now on (text until this is called). */
void log_set_format(enum log_format format);
enum log_format log_get_format(void);

/*
 * Show client addresses as `mode` says from now on (full until this is
 * called).  Returns 0; -1 with errno if mode is hash and no random key
 * could be had (addresses are then shown as "-").
 */
int log_set_ip(enum log_ip mode);
enum log_ip log_get_ip(void);

/* The client address `sa` as the log shows it (logip_format with the mode and key in force). */
void log_peer_text(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);

/* "all", "failures", "none": the mode, or -1; the name of a mode. */
int log_conns_parse(const char *name);
const char *log_conns_name(enum log_conns mode);

/*
 * Is a connection line whose end is `end` ("closed", "exit:0",
 * "refused:rate", "error:ECONNRESET tls=...": the first word counts)
 * written under `mode`?  Under failures, every end but closed and exit:0
 * is: refusals, errors, timeouts, non-zero exits, signals, TLS and PROXY
 * failures.
 */
bool log_conn_wanted(enum log_conns mode, const char *end);

/*
 * Send messages to `target` with `facility` from now on.  Returns 0; -1
 * with errno if a syslog target cannot be reached now (messages are then
 * lost until it can; the caller decides whether to say so); -2 if it is the
 * target in use already and still unreachable (said once already).
 */
int log_use(const struct log_target *target, int facility);

/*
 * Make stderr non-blocking if it is a pipe or socket, so a stalled reader
 * costs lost lines (counted and reported) rather than a stalled daemon.
 */
void log_stderr_nonblocking(void);

/* Do messages go to stderr (not syslog)? */
bool log_is_stderr(void);

/*
 * Log lines lost since start-up: not taken by a full stderr pipe or syslog
 * socket, or while the syslog target was unreachable.  Over UDP a line
 * that a collector refused is known only from a later send's error, so
 * this is a lower bound there.  Each loss is also reported in the log, by
 * one line ahead of the next that gets through.
 */
unsigned long log_lines_lost(void);

/* Also count lost lines in `counter` (memory shared by processes: atomic adds). */
void log_share_lost(uint64_t *counter);

/*
 * For what must reach the terminal whatever the target, in the format in
 * force: a warning on stderr ("PROG: warning: MESSAGE"); a start-up
 * failure as a command says it, "PROG: MESSAGE" (in json, an error).
 */
void log_stderr_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_stderr_fatal(const char *msg);

/* Close the syslog socket (in a child about to exec, say). */
void log_close(void);

/* The *_warn/err forms append ": strerror(errno)"; the *x forms do not. */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Rate limit for messages that floods could repeat: at most one line per
 * second per limiter.  Its user keeps one limiter per site and per object
 * the message is about (SPEC 9: per site and service), so that one
 * object's flood never hides another's first line; a zeroed struct is a
 * limiter that has let nothing through yet.
 *
 * log_ratelimit() returns true when a line may be written at `now_ms`;
 * *suppressed then holds how many were held back since the last line let
 * through (however long ago: a count is never dropped), for the line to
 * say so with log_suppressed_note().  False counts one more held back.
 */
struct log_ratelimit {
    int64_t last_ms; /* of the last line let through */
    bool used;       /* a line has been let through */
    unsigned long suppressed;
};

bool log_ratelimit(struct log_ratelimit *rl, int64_t now_ms, unsigned long *suppressed);

/* The tail of a rate-limited line: " (N more suppressed)", or "" for N = 0.
 * Written into buf (32 bytes are enough); returns buf. */
const char *log_suppressed_note(char *buf, size_t size, unsigned long suppressed);

#endif
