/*
 * log: formatting the daemon's messages and sending them to stderr or
 * syslog (see log.h).
 *
 * stderr lines are "PROG: [error: |warning: ]MESSAGE\n", or a JSON object
 * and "\n".  Lines longer than the buffer are cut and marked with "...".
 * A failed write is not retried.  No message can hold a raw control byte
 * (see defang): one call, one line.  A JSON line stays under PIPE_BUF, so
 * that a pipe takes it in one piece from any number of processes.
 */
#include "log.h"

#include "addr.h"
#include "logjson.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX   2048
#define LOG_REMOTE_MAX 1024 /* RFC 3164's limit for a packet */
#define LOG_RETRY_MS   1000 /* reconnect attempts to a lost syslog, at most */
#define LOG_OUT_MAX    4096 /* a line as written: PIPE_BUF, what a pipe takes whole */
#define LOG_HEADER_MAX 320  /* a syslog header, the host name included */

static const char *log_prog = "usherd";
static enum log_level log_threshold = LOG_LVL_INFO;
static enum log_format log_format = LOG_FORMAT_TEXT;

/* log_ip, and the key of its hashes: made once, kept for the whole run. */
static struct {
    enum log_ip mode;
    bool have_key;
    uint8_t key[LOGIP_KEY_LEN];
} ip;

/*
 * The syslog target.  Every line it did not take is counted in `lost`
 * until a note says how many (sent ahead of the next line that gets
 * through) and in lines_lost for good.  A UDP collector that is not there
 * is known only from the ICMP error that a later send returns
 * (ECONNREFUSED): that send counts the datagram before it as lost, so
 * over UDP the counts are lower bounds, said as "at least N".
 */
static struct {
    struct log_target target;
    int facility;
    int fd;
    bool down;             /* unreachable: lines are not even tried */
    bool announced;        /* its loss was said on stderr (once per outage) */
    unsigned long lost;    /* not delivered, not yet reported */
    unsigned long carried; /* UDP: reported by the last note, not yet confirmed */
    int64_t last_try_ms;   /* of a reconnect */
    int64_t back_ms;       /* when the last note went out */
} sink = {.target.kind = LOG_TO_STDERR, .facility = LOG_DAEMON, .fd = -1};

static unsigned long lines_lost; /* since start-up, every target */
static uint64_t *lost_shared;    /* the daemon's count, all processes (log_share_lost) */

/* `n` lines not delivered: for the next note, and for the total. */
static void lose(unsigned long n)
{
    sink.lost += n;
    lines_lost += n;
    if (lost_shared != NULL)
        __atomic_add_fetch(lost_shared, (uint64_t)n, __ATOMIC_RELAXED);
}

void log_share_lost(uint64_t *counter)
{
    lost_shared = counter;
}

unsigned long log_lines_lost(void)
{
    return lines_lost;
}

void log_init(const char *prog)
{
    log_prog = prog;
}

void log_set_level(enum log_level level)
{
    log_threshold = level;
}

bool log_enabled(enum log_level level)
{
    return level <= log_threshold;
}

static const char *const format_names[] = {[LOG_FORMAT_TEXT] = "text", [LOG_FORMAT_JSON] = "json"};

int log_format_parse(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(format_names); i++)
        if (strcmp(name, format_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *log_format_name(enum log_format format)
{
    return (size_t)format < ARRAY_LEN(format_names) ? format_names[format] : "?";
}

void log_set_format(enum log_format format)
{
    log_format = format;
}

enum log_format log_get_format(void)
{
    return log_format;
}

/* The hash key: from the kernel's random source, once. */
static int make_ip_key(void)
{
    size_t got = 0;

    while (got < sizeof(ip.key)) {
        ssize_t n = getrandom(ip.key + got, sizeof(ip.key) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        got += (size_t)n;
    }
    ip.have_key = true;
    return 0;
}

int log_set_ip(enum log_ip mode)
{
    ip.mode = mode;
    if (mode == LOG_IP_HASH && !ip.have_key)
        return make_ip_key();
    return 0;
}

enum log_ip log_get_ip(void)
{
    return ip.mode;
}

void log_peer_text(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
    logip_format(ip.mode, ip.have_key ? ip.key : NULL, sa, len, buf, size);
}

static const char *const conns_names[] = {
    [LOG_CONNS_ALL] = "all", [LOG_CONNS_FAILURES] = "failures", [LOG_CONNS_NONE] = "none"};

int log_conns_parse(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(conns_names); i++)
        if (strcmp(name, conns_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *log_conns_name(enum log_conns mode)
{
    return (size_t)mode < ARRAY_LEN(conns_names) ? conns_names[mode] : "?";
}

bool log_conn_wanted(enum log_conns mode, const char *end)
{
    size_t n = strcspn(end, " ");

    if (mode != LOG_CONNS_FAILURES)
        return mode == LOG_CONNS_ALL;
    return !(n == 6 && (memcmp(end, "closed", 6) == 0 || memcmp(end, "exit:0", 6) == 0));
}

static const char *const level_tags[] = {
    [LOG_LVL_ERR] = "error: ",
    [LOG_LVL_WARN] = "warning: ",
    [LOG_LVL_INFO] = "",
    [LOG_LVL_DEBUG] = "debug: ",
};

/* The wall clock as RFC 3339 in UTC, to the millisecond. */
static void json_time(char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || gmtime_r(&ts.tv_sec, &tm) == NULL ||
        (n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
        snprintf(buf, size, "?");
        return;
    }
    snprintf(buf + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/*
 * `text` (one message, printable already) as a line of the format in
 * force, NUL-ended in buf (`size` >= LOGJSON_MIN): "PROG: " in front if
 * `prog` (stderr) and the level word, or the JSON object.  Returns the
 * length.
 */
static size_t render(enum log_level level, const char *text, bool prog, char *buf, size_t size)
{
    static const char *const level_names[] = {
        [LOG_LVL_ERR] = "error",
        [LOG_LVL_WARN] = "warning",
        [LOG_LVL_INFO] = "info",
        [LOG_LVL_DEBUG] = "debug",
    };
    char stamp[40];
    int n;

    if (log_format == LOG_FORMAT_JSON) {
        json_time(stamp, sizeof(stamp));
        return logjson_line(buf, size, stamp, level_names[level], text);
    }
    n = snprintf(buf, size, "%s%s%s%s", prog ? log_prog : "", prog ? ": " : "", level_tags[level],
                 text);
    return n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
}

int log_target_parse(const char *text, struct log_target *out, char *err, size_t errlen)
{
    const char *rest;
    struct addr_spec spec;
    struct addr a;

    memset(out, 0, sizeof(*out));
    str_escape(out->text, sizeof(out->text), text, strlen(text));
    if (strcmp(text, "stderr") == 0)
        return 0;
    if (strcmp(text, "syslog") == 0)
        rest = "unix:" LOG_DEFAULT_SYSLOG;
    else if (strncmp(text, "syslog:", 7) == 0)
        rest = text + 7;
    else
        goto bad;
    out->kind = LOG_TO_SYSLOG;
    if (addr_parse(rest, &spec, err, errlen) < 0)
        return -1;
    if (spec.kind != ADDR_UNIX && spec.kind != ADDR_UDP)
        goto bad;
    if (spec.kind == ADDR_UNIX)
        spec.kind = ADDR_UNIXGRAM; /* syslog sockets take datagrams */
    if (addr_resolve(&spec, false, &a, 1, err, errlen) < 0)
        return -1;
    out->remote = spec.kind == ADDR_UDP;
    memcpy(&out->addr, &a.ss, a.len);
    out->addrlen = a.len;
    return 0;
bad:
    snprintf(err, errlen,
             "'%s' is not a log target (stderr, syslog, syslog:unix:PATH, syslog:udp://HOST:PORT)",
             text);
    return -1;
}

bool log_target_equal(const struct log_target *a, const struct log_target *b)
{
    return a->kind == b->kind && a->addrlen == b->addrlen &&
           memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}

int log_facility_parse(const char *name)
{
    static const struct {
        const char *name;
        int code;
    } facilities[] = {
        {"kern", LOG_KERN},     {"user", LOG_USER},         {"mail", LOG_MAIL},
        {"daemon", LOG_DAEMON}, {"auth", LOG_AUTH},         {"syslog", LOG_SYSLOG},
        {"lpr", LOG_LPR},       {"news", LOG_NEWS},         {"uucp", LOG_UUCP},
        {"cron", LOG_CRON},     {"authpriv", LOG_AUTHPRIV}, {"ftp", LOG_FTP},
        {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1},     {"local2", LOG_LOCAL2},
        {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},     {"local5", LOG_LOCAL5},
        {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
    };

    for (size_t i = 0; i < ARRAY_LEN(facilities); i++)
        if (strcmp(name, facilities[i].name) == 0)
            return facilities[i].code;
    return -1;
}

static int sink_connect(void)
{
    int fd = socket(sink.target.addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sink.target.addr, sink.target.addrlen) < 0) {
        close_quietly(fd);
        return -1;
    }
    sink.fd = fd;
    return 0;
}

bool log_is_stderr(void)
{
    return sink.target.kind == LOG_TO_STDERR;
}

void log_close(void)
{
    close_quietly(sink.fd);
    sink.fd = -1;
}

int log_use(const struct log_target *target, int facility)
{
    /* The same target again (a reload): keep its state, say nothing twice. */
    if (target->kind == sink.target.kind && log_target_equal(target, &sink.target)) {
        sink.facility = facility;
        if (sink.down) {
            errno = EHOSTUNREACH;
            return -2;
        }
        return 0;
    }
    log_close();
    sink.target = *target;
    sink.facility = facility;
    sink.down = false;
    sink.announced = false;
    sink.lost = 0;
    sink.carried = 0;
    if (target->kind == LOG_TO_STDERR)
        return 0;
    if (sink_connect() < 0) {
        sink.down = true;
        sink.announced = true; /* by our caller */
        sink.last_try_ms = now_ms();
        return -1;
    }
    return 0;
}

/*
 * The last line of defence: a byte below 0x20, DEL or a byte above 0x7e
 * that reached a message unescaped (a path from the command line, say) is
 * written as "\\xhh", so no message can end its line early, overwrite it
 * with a carriage return or carry a terminal escape.  Backslashes are left
 * as they are: bytes from outside are escaped where they enter a message
 * (str_escape), backslashes included, and doubling them again here would
 * garble those values.  Copies `src` into `dst` (`size` bytes), cut and
 * marked with "..." if it does not fit or `cut` says it was cut already.
 * Returns the length written.
 */
static size_t defang(char *dst, size_t size, const char *src, bool cut)
{
    size_t out = 0;

    for (; *src != '\0'; src++) {
        unsigned char c = (unsigned char)*src;
        bool plain = c >= 0x20 && c < 0x7f;
        size_t need = plain ? 1 : 4;
        if (out + need + 4 > size) { /* keep room for "..." and the NUL */
            cut = true;
            break;
        }
        if (plain)
            dst[out++] = (char)c;
        else
            out += str_escape(dst + out, 5, src, 1);
    }
    if (cut) {
        memcpy(dst + out, "...", 3);
        out += 3;
    }
    dst[out] = '\0';
    return out;
}

static unsigned long stderr_lost; /* lines a full stderr pipe did not take */

static void write_stderr(const char *line, size_t len)
{
    if (stderr_lost > 0) {
        char text[80], note[LOGJSON_MIN + 128];
        size_t n;
        snprintf(text, sizeof(text), "%lu log lines lost (stderr was full)", stderr_lost);
        n = render(LOG_LVL_WARN, text, true, note, sizeof(note) - 1);
        note[n++] = '\n';
        if (write(STDERR_FILENO, note, n) < 0) {
            stderr_lost++;
            lines_lost++;
            return;
        }
        stderr_lost = 0;
    }
    /* One attempt: a blocked or broken stderr must not stop the service. */
    if (write(STDERR_FILENO, line, len) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        stderr_lost++;
        lines_lost++;
    }
}

void log_stderr_nonblocking(void)
{
    struct stat st;

    /* A pipe to a logger that stops reading would stall us: never wait on it.
     * (A terminal or a file does not block that way; they are left alone.) */
    if (fstat(STDERR_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
        fd_set_nonblock(STDERR_FILENO);
}

/* One message as a line on stderr, whatever the target. */
static void to_stderr(enum log_level level, const char *text)
{
    char line[LOG_OUT_MAX];
    size_t len = render(level, text, true, line, sizeof(line) - 1);

    line[len++] = '\n';
    write_stderr(line, len);
}

void log_stderr_warnx(const char *fmt, ...)
{
    char body[LOG_LINE_MAX], text[LOG_LINE_MAX];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    if (n < 0)
        body[0] = '\0';
    defang(text, sizeof(text), body, n >= (int)sizeof(body));
    to_stderr(LOG_LVL_WARN, text);
}

void log_stderr_fatal(const char *msg)
{
    char text[LOG_LINE_MAX], line[LOG_OUT_MAX];
    size_t len;

    defang(text, sizeof(text), msg, false);
    if (log_format == LOG_FORMAT_JSON) {
        to_stderr(LOG_LVL_ERR, text);
        return;
    }
    /* As a command says it: no level word. */
    len = (size_t)snprintf(line, sizeof(line) - 1, "%s: %s", log_prog, text);
    if (len >= sizeof(line) - 1)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    write_stderr(line, len);
}

/* The target is gone: say so once, on stderr, which is all we have left. */
static void note_down(int err)
{
    char text[512];

    if (sink.down)
        return;
    sink.down = true;
    sink.last_try_ms = now_ms();
    /* (A UDP target back for less than a retry is taken as never back.) */
    if (sink.announced)
        return;
    sink.announced = true;
    snprintf(text, sizeof(text),
             "log target %s unreachable: %s; messages are lost until it is back", sink.target.text,
             strerror(err));
    to_stderr(LOG_LVL_WARN, text);
}

/* One datagram; false with errno if it was not sent. */
static bool try_send(const char *msg, size_t len)
{
    if (sink.fd < 0 && sink_connect() < 0)
        return false;
    if (send(sink.fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
        return true;
    /* The syslog daemon restarted: its socket is new, ours points nowhere.
     * (Over UDP the same error means an earlier datagram was refused; a
     * second try would be lost the same way, and look as if it were not.) */
    if (!sink.target.remote &&
        (errno == ECONNREFUSED || errno == ENOTCONN || errno == EDESTADDRREQ)) {
        log_close();
        if (sink_connect() == 0 && send(sink.fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
            return true;
    }
    return false;
}

/*
 * Format and send one syslog message, `text` rendered after the header
 * (cut to fit a remote collector's packet: a JSON object stays whole);
 * false with errno if it was not sent.
 */
static bool send_syslog(enum log_level level, const char *text)
{
    static const int severity[] = {
        [LOG_LVL_ERR] = LOG_ERR,
        [LOG_LVL_WARN] = LOG_WARNING,
        [LOG_LVL_INFO] = LOG_INFO,
        [LOG_LVL_DEBUG] = LOG_DEBUG,
    };
    char msg[LOG_HEADER_MAX + LOG_OUT_MAX], stamp[32], host[256] = "";
    time_t now = time(NULL);
    struct tm tm;
    size_t head, room;
    int n;

    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
    if (sink.target.remote && gethostname(host, sizeof(host)) < 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';
    n = snprintf(msg, LOG_HEADER_MAX, "<%d>%s %s%s%s[%ld]: ", sink.facility | severity[level],
                 stamp, host, host[0] ? " " : "", log_prog, (long)getpid());
    head = n < 0 ? 0 : (size_t)n >= LOG_HEADER_MAX ? LOG_HEADER_MAX - 1 : (size_t)n;
    room = sizeof(msg) - head;
    if (sink.target.remote && room > LOG_REMOTE_MAX + 1 - head)
        room = LOG_REMOTE_MAX + 1 - head;
    return try_send(msg, head + render(level, text, false, msg + head, room));
}

/* Did a remote collector refuse an earlier datagram (an ICMP error, reported now)? */
static bool refused_before(int err)
{
    return sink.target.remote &&
           (err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH || err == EHOSTDOWN);
}

/* A send failed with `err`: count what it says about earlier lines, and
 * whether the target is gone or only full. */
static void send_failed(int err)
{
    if (refused_before(err)) {
        /* Right after a note: the note was refused, so its count stands.
         * Otherwise at least one line was. */
        if (sink.carried > 0)
            sink.lost += sink.carried;
        else
            lose(1);
        sink.carried = 0;
    }
    /* A full socket buffer is a burst, not an outage: no stderr note. */
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS)
        return;
    note_down(err);
}

/* How many lines were lost, ahead of the next line: true if it was sent. */
static bool send_lost_note(void)
{
    const char *least = sink.target.remote ? "at least " : "";
    char note[320];

    if (sink.down)
        snprintf(note, sizeof(note), "log target %s reachable again; %s%lu lines were lost",
                 sink.target.text, least, sink.lost);
    else
        snprintf(note, sizeof(note), "%s%lu log lines lost (log target %s was full)", least,
                 sink.lost, sink.target.text);
    if (!send_syslog(LOG_LVL_WARN, note))
        return false;
    sink.down = false;
    sink.carried = sink.target.remote ? sink.lost : 0;
    sink.lost = 0;
    sink.back_ms = now_ms();
    return true;
}

static void to_syslog(enum log_level level, const char *text)
{
    int64_t now = now_ms();

    /* After an outage, retry at most once a second, not on every line. */
    if (sink.down && now - sink.last_try_ms < LOG_RETRY_MS) {
        lose(1);
        return;
    }
    if (sink.down)
        sink.last_try_ms = now;
    /* The note first, so the log reads in order; without it, no line. */
    if ((sink.down || sink.lost > 0) && !send_lost_note()) {
        send_failed(errno);
        lose(1);
        return;
    }
    if (!send_syslog(level, text)) {
        send_failed(errno);
        lose(1);
        return;
    }
    /* Nothing refused since the note: it arrived.  Back for a retry's
     * time: a new outage is worth a new word on stderr. */
    sink.carried = 0;
    if (sink.announced && now - sink.back_ms >= LOG_RETRY_MS)
        sink.announced = false;
}

static void log_emit(enum log_level level, int err, const char *fmt, va_list ap)
{
    char body[LOG_LINE_MAX], text[LOG_LINE_MAX];
    size_t prefix, len;
    bool cut;
    int n;

    n = vsnprintf(body, sizeof(body), fmt, ap);
    if (n < 0)
        body[0] = '\0';
    len = n < 0 ? 0 : (size_t)n;
    cut = len >= sizeof(body);
    if (err != 0 && !cut) {
        n = snprintf(body + len, sizeof(body) - len, ": %s", strerror(err));
        cut = n < 0 || (size_t)n >= sizeof(body) - len;
    }
    /* A message as long as a text line on stderr can hold: after "PROG: "
     * and the level word, with one byte for the newline. */
    prefix = strlen(log_prog) + 2 + strlen(level_tags[level]);
    defang(text, prefix + 1 < sizeof(text) ? sizeof(text) - prefix - 1 : 8, body, cut);
    if (sink.target.kind == LOG_TO_SYSLOG)
        to_syslog(level, text);
    else
        to_stderr(level, text);
}

#define LOG_FN(name, level, with_errno)                                                            \
    void name(const char *fmt, ...)                                                                \
    {                                                                                              \
        int saved = errno;                                                                         \
        va_list ap;                                                                                \
        if (!log_enabled(level))                                                                   \
            return;                                                                                \
        va_start(ap, fmt);                                                                         \
        log_emit(level, with_errno ? saved : 0, fmt, ap);                                          \
        va_end(ap);                                                                                \
        errno = saved;                                                                             \
    }

LOG_FN(log_err, LOG_LVL_ERR, 1)
LOG_FN(log_errx, LOG_LVL_ERR, 0)
LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

bool log_ratelimit(struct log_ratelimit *rl, int64_t now_ms, unsigned long *suppressed)
{
    if (rl->used && now_ms - rl->last_ms < 1000) {
        rl->suppressed++;
        return false;
    }
    *suppressed = rl->suppressed;
    rl->suppressed = 0;
    rl->last_ms = now_ms;
    rl->used = true;
    return true;
}

const char *log_suppressed_note(char *buf, size_t size, unsigned long suppressed)
{
    if (suppressed > 0)
        snprintf(buf, size, " (%lu more suppressed)", suppressed);
    else if (size > 0)
        buf[0] = '\0';
    return buf;
}
