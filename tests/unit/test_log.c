/*
 * Unit tests: the log (log.c): one call is one printable line whatever
 * the message holds; the rate limiter, on a fake clock; lines that a full
 * syslog socket does not take are counted and reported.  log_format =
 * json: every line one JSON object, on stderr and syslog, cut whole to a
 * remote collector's packet, the lost-line notes too.  log_ip: the modes,
 * and one hash key for the processes forked after it is made.
 * log_connections: which ends each mode writes, as a table.
 *
 * Each case runs in a child of its own (t.c), so it may point stderr at a
 * pipe and read back what the log wrote.
 */
#include "log.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

static int log_pipe = -1; /* the read end; the write end is our stderr */

/* From now on the log's lines go into a pipe that log_text() reads. */
static void capture_stderr(void)
{
    int p[2];

    T_ASSERT(pipe2(p, O_CLOEXEC) == 0);
    T_ASSERT(dup2(p[1], STDERR_FILENO) == STDERR_FILENO);
    close(p[1]);
    T_ASSERT(fd_set_nonblock(p[0]) == 0);
    log_pipe = p[0];
    log_init("usherd");
    log_set_level(LOG_LVL_DEBUG);
}

/* What the log wrote since the last call (a static buffer). */
static const char *log_text(void)
{
    static char buf[8192];
    ssize_t n = read(log_pipe, buf, sizeof(buf) - 1);

    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

/* --- one printable line per call ------------------------------------------------- */

static void test_control_bytes_cannot_split_or_forge_a_line(void)
{
    /* A value that reached a message unescaped: its control bytes and bytes
     * above 0x7e are escaped at the last moment, its backslashes are not
     * (values escaped where they enter a message keep their one level). */
    capture_stderr();
    log_warnx("pidfile %s", "/run/a\x1b[2J\nusherd: forged\r\x7f\xe9\\x41");
    T_EQ_STR(log_text(), "usherd: warning: pidfile /run/a\\x1b[2J\\x0ausherd: "
                         "forged\\x0d\\x7f\\xe9\\x41\n");
}

static void test_escaped_values_are_not_escaped_twice(void)
{
    char value[64];

    capture_stderr();
    str_escape(value, sizeof(value), "a\\b\n", 4);
    log_info("service=x stderr: %s", value);
    T_EQ_STR(log_text(), "usherd: service=x stderr: a\\\\b\\x0a\n");
}

static void test_long_lines_are_cut_marked_and_ended(void)
{
    /* Longer than a line may be, escapes and all: cut, "...", one newline. */
    char big[3000];
    const char *text, *body;
    size_t body_len;

    capture_stderr();
    memset(big, '\x1b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_warnx("%s", big);
    text = log_text();
    T_ASSERT(strlen(text) < 2048);
    T_ASSERT(strlen(text) > 2000);
    T_EQ_STR(text + strlen(text) - 4, "...\n");
    T_ASSERT(strchr(text, '\n') == text + strlen(text) - 1);
    T_ASSERT(strchr(text, '\x1b') == NULL);
    /* No escape is cut in half before the mark. */
    body = text + strlen("usherd: warning: ");
    body_len = strlen(body) - strlen("...\n");
    T_EQ_INT(body_len % 4, 0);
    for (size_t i = 0; i < body_len; i += 4)
        T_ASSERT(strncmp(body + i, "\\x1b", 4) == 0);
}

static void test_errno_text_is_appended(void)
{
    capture_stderr();
    errno = ENOENT;
    log_warn("unable to open %s", "x");
    T_EQ_STR(log_text(), "usherd: warning: unable to open x: No such file or directory\n");
}

static void set_recv_timeout(int fd)
{
    struct timeval tv = {.tv_sec = 5};

    T_ASSERT(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
}
/* --- log_format = json ------------------------------------------------------------------ */

/* `line` is {"time":"YYYY-MM-DDTHH:MM:SS.mmmZ",REST: returns REST. */
static const char *after_time(const char *line)
{
    const char *t = line + strlen("{\"time\":\"");

    T_ASSERT(strncmp(line, "{\"time\":\"", 9) == 0);
    if (strlen(t) < 26 || t[4] != '-' || t[10] != 'T' || t[19] != '.' || t[23] != 'Z' ||
        t[24] != '"' || t[25] != ',')
        T_FAIL("not an RFC 3339 UTC time: %s", line);
    return t + 26;
}

static void test_json_lines_on_stderr(void)
{
    capture_stderr();
    log_set_format(LOG_FORMAT_JSON);
    log_info("listening service=echo addr=tcp://127.0.0.1:7");
    T_EQ_STR(after_time(log_text()),
             "\"level\":\"info\",\"msg\":\"listening service=echo addr=tcp://127.0.0.1:7\","
             "\"service\":\"echo\",\"addr\":\"tcp://127.0.0.1:7\"}\n");
    errno = ENOENT;
    log_warn("unable to open %s", "x");
    T_EQ_STR(after_time(log_text()),
             "\"level\":\"warning\",\"msg\":\"unable to open x: No such file or directory\"}\n");
    log_errx("e");
    T_EQ_STR(after_time(log_text()), "\"level\":\"error\",\"msg\":\"e\"}\n");
    log_debug("service=x pid=1 stderr: peer=forged");
    T_EQ_STR(after_time(log_text()),
             "\"level\":\"debug\",\"msg\":\"service=x pid=1 stderr: peer=forged\","
             "\"service\":\"x\",\"pid\":\"1\"}\n");
}

static void test_json_hostile_bytes_stay_one_valid_line(void)
{
    /* Raw bytes that reached a message: escaped as the text format does
     * (SPEC 9), and the quotes and backslashes that gives are JSON-escaped. */
    capture_stderr();
    log_set_format(LOG_FORMAT_JSON);
    log_warnx("pidfile %s", "/run/\"a\x1b[2J\nusherd: forged\r\xe9\\x41");
    T_EQ_STR(after_time(log_text()),
             "\"level\":\"warning\",\"msg\":\"pidfile /run/\\\"a\\\\x1b[2J\\\\x0ausherd: "
             "forged\\\\x0d\\\\xe9\\\\x41\"}\n");
}

static void test_json_long_line_stays_whole_under_pipe_buf(void)
{
    /* A pipe takes a line whole from any process up to PIPE_BUF: a long
     * message is cut inside msg and the object closed. */
    char big[3000];
    const char *text;

    capture_stderr();
    log_set_format(LOG_FORMAT_JSON);
    memset(big, '"', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_warnx("service=x: %s", big);
    text = log_text();
    T_ASSERT(strlen(text) <= 4096);
    T_ASSERT(strlen(text) > 3000);
    T_ASSERT(strchr(text, '\n') == text + strlen(text) - 1);
    T_EQ_STR(text + strlen(text) - strlen("\\\"...\",\"service\":\"x\"}\n"),
             "\\\"...\",\"service\":\"x\"}\n");
}

static void test_fatal_and_stderr_warnings_in_each_format(void)
{
    /* A start-up failure as a command says it; in json, an error. */
    capture_stderr();
    log_stderr_fatal("already running (pid 7, /run/usherd.pid)");
    T_EQ_STR(log_text(), "usherd: already running (pid 7, /run/usherd.pid)\n");
    log_stderr_warnx("log target %s unreachable", "syslog");
    T_EQ_STR(log_text(), "usherd: warning: log target syslog unreachable\n");
    log_set_format(LOG_FORMAT_JSON);
    log_stderr_fatal("already running (pid 7, /run/usherd.pid)");
    T_EQ_STR(after_time(log_text()),
             "\"level\":\"error\",\"msg\":\"already running (pid 7, /run/usherd.pid)\"}\n");
    log_stderr_warnx("log target %s unreachable", "syslog");
    T_EQ_STR(after_time(log_text()),
             "\"level\":\"warning\",\"msg\":\"log target syslog unreachable\"}\n");
}

static void test_json_to_a_remote_collector_is_cut_whole(void)
{
    /* RFC 3164's 1024 bytes a packet: the object is cut inside, never across. */
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    char target_text[64], err[256], big[3000], buf[4096];
    struct log_target target;
    const char *body;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ssize_t n;

    capture_stderr();
    T_ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    T_ASSERT(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
    set_recv_timeout(fd);
    snprintf(target_text, sizeof(target_text), "syslog:udp://127.0.0.1:%u", ntohs(sin.sin_port));
    T_EQ_INT(log_target_parse(target_text, &target, err, sizeof(err)), 0);
    T_EQ_INT(log_use(&target, LOG_LOCAL3), 0);
    log_set_format(LOG_FORMAT_JSON);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_info("service=s proto=tcp %s", big);
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    T_ASSERT(n > 0 && n <= 1024);
    buf[n] = '\0';
    T_ASSERT(strncmp(buf, "<158>", 5) == 0); /* local3.info */
    body = strstr(buf, "]: {\"time\":\"");
    T_ASSERT(body != NULL);
    body += 3;
    T_CONTAINS(after_time(body), "\"level\":\"info\",\"msg\":\"service=s proto=tcp xxx");
    T_EQ_STR(buf + n - strlen("xx...\",\"service\":\"s\",\"proto\":\"tcp\"}"),
             "xx...\",\"service\":\"s\",\"proto\":\"tcp\"}");
    close(fd);
}

/* --- the rate limiter, on a fake clock --------------------------------------------- */

static void test_ratelimit_one_line_a_second_then_the_count(void)
{
    /* A flood: one line, then silence until a second has passed; the next
     * line says how many were held back. */
    struct log_ratelimit rl = {0};
    unsigned long n = 99;

    T_ASSERT(log_ratelimit(&rl, 5000, &n));
    T_EQ_INT(n, 0);
    for (int64_t t = 5001; t < 6000; t += 100)
        T_ASSERT(!log_ratelimit(&rl, t, &n));
    T_ASSERT(!log_ratelimit(&rl, 5999, &n));
    T_ASSERT(log_ratelimit(&rl, 6000, &n));
    T_EQ_INT(n, 11);
    T_ASSERT(!log_ratelimit(&rl, 6001, &n));
}

static void test_ratelimit_count_survives_a_quiet_spell(void)
{
    /* The site goes quiet after suppressing: the count waits for the next
     * line, an hour later, rather than being lost. */
    struct log_ratelimit rl = {0};
    unsigned long n;

    T_ASSERT(log_ratelimit(&rl, 1000, &n));
    T_ASSERT(!log_ratelimit(&rl, 1200, &n));
    T_ASSERT(!log_ratelimit(&rl, 1300, &n));
    T_ASSERT(log_ratelimit(&rl, 1000 + 3600 * 1000, &n));
    T_EQ_INT(n, 2);
    T_ASSERT(log_ratelimit(&rl, 1000 + 3601 * 1000, &n));
    T_EQ_INT(n, 0);
}

static void test_ratelimit_limiters_are_independent(void)
{
    /* One limiter per site and service: a flood in one leaves the other's
     * first line through at the same instant. */
    struct log_ratelimit missing = {0}, noperm = {0};
    unsigned long n;

    T_ASSERT(log_ratelimit(&missing, 7000, &n));
    T_ASSERT(!log_ratelimit(&missing, 7001, &n));
    T_ASSERT(log_ratelimit(&noperm, 7001, &n));
    T_EQ_INT(n, 0);
    T_ASSERT(!log_ratelimit(&noperm, 7002, &n));
    T_ASSERT(log_ratelimit(&missing, 8000, &n));
    T_EQ_INT(n, 1);
}

static void test_ratelimit_clock_at_zero(void)
{
    /* A fresh limiter lets the first line through whatever the clock says. */
    struct log_ratelimit rl = {0};
    unsigned long n;

    T_ASSERT(log_ratelimit(&rl, 0, &n));
    T_ASSERT(!log_ratelimit(&rl, 10, &n));
    T_ASSERT(log_ratelimit(&rl, 1000, &n));
    T_EQ_INT(n, 1);
}

static void test_suppressed_note(void)
{
    char buf[32];

    T_EQ_STR(log_suppressed_note(buf, sizeof(buf), 0), "");
    T_EQ_STR(log_suppressed_note(buf, sizeof(buf), 1), " (1 more suppressed)");
    T_EQ_STR(log_suppressed_note(buf, sizeof(buf), 4294967295UL), " (4294967295 more suppressed)");
}

/* --- lost syslog lines ----------------------------------------------------------------- */

static void test_full_syslog_socket_lines_counted_and_reported(void)
{
    /* A syslog socket nobody reads: lines past its queue are lost, each
     * counted; once it is read, the next line is preceded by one saying
     * how many, and log_lines_lost() agrees. */
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char dir[] = "/tmp/usher-log-XXXXXX", text[256], err[256], buf[4096];
    struct log_target target;
    int fd, sent = 0, got = 0;
    unsigned long before;
    ssize_t n;

    capture_stderr();
    T_ASSERT(mkdtemp(dir) != NULL);
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/log.sock", dir);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    T_ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
    snprintf(text, sizeof(text), "syslog:unix:%s", sun.sun_path);
    T_EQ_INT(log_target_parse(text, &target, err, sizeof(err)), 0);
    T_EQ_INT(log_use(&target, LOG_DAEMON), 0);
    before = log_lines_lost();
    while (log_lines_lost() == before && sent < 100000) {
        log_info("line %d", sent);
        sent++;
    }
    for (int i = 0; i < 20; i++, sent++)
        log_info("line %d", sent);
    while ((n = recv(fd, buf, sizeof(buf) - 1, 0)) > 0)
        got++;
    T_ASSERT(got > 0 && got < sent);
    T_EQ_INT(log_lines_lost() - before, (unsigned long)(sent - got));
    log_info("after");
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    T_ASSERT(n > 0);
    buf[n] = '\0';
    T_CONTAINS(buf, "]: warning: ");
    snprintf(text, sizeof(text),
             "]: warning: %d log lines lost (log target syslog:unix:%s was full)", sent - got,
             sun.sun_path);
    T_CONTAINS(buf, text);
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    T_ASSERT(n > 0);
    buf[n] = '\0';
    T_CONTAINS(buf, "]: after");
    T_EQ_INT(log_lines_lost() - before, (unsigned long)(sent - got));
    T_EQ_STR(log_text(), ""); /* a full socket is no outage: nothing on stderr */
    unlink(sun.sun_path);
    rmdir(dir);
}

static void test_full_syslog_socket_note_in_json(void)
{
    /* The note about lost lines is a JSON object like every other line. */
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char dir[] = "/tmp/usher-log-XXXXXX", text[256], err[256], buf[4096];
    struct log_target target;
    unsigned long before;
    int fd, sent = 0;

    capture_stderr();
    log_set_format(LOG_FORMAT_JSON);
    T_ASSERT(mkdtemp(dir) != NULL);
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/log.sock", dir);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    T_ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
    snprintf(text, sizeof(text), "syslog:unix:%s", sun.sun_path);
    T_EQ_INT(log_target_parse(text, &target, err, sizeof(err)), 0);
    T_EQ_INT(log_use(&target, LOG_DAEMON), 0);
    before = log_lines_lost();
    while (log_lines_lost() == before && sent < 100000)
        log_info("line %d", sent++);
    while (recv(fd, buf, sizeof(buf) - 1, 0) > 0)
        ;
    log_info("after");
    T_ASSERT(recv(fd, buf, sizeof(buf) - 1, 0) > 0);
    T_CONTAINS(buf, "]: {\"time\":\"");
    snprintf(text, sizeof(text),
             "\"level\":\"warning\",\"msg\":\"1 log lines lost (log target syslog:unix:%s was "
             "full)\"}",
             sun.sun_path);
    T_CONTAINS(buf, text);
    memset(buf, 0, sizeof(buf));
    T_ASSERT(recv(fd, buf, sizeof(buf) - 1, 0) > 0);
    T_CONTAINS(buf, "\"level\":\"info\",\"msg\":\"after\"}");
    unlink(sun.sun_path);
    rmdir(dir);
}

/* --- log_ip ---------------------------------------------------------------------------- */

static const char *peer_of(const char *ip)
{
    static char buf[128];
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(4242)};

    T_ASSERT(inet_pton(AF_INET, ip, &sin.sin_addr) == 1);
    log_peer_text((struct sockaddr *)&sin, sizeof(sin), buf, sizeof(buf));
    return buf;
}

static void test_peer_text_follows_log_ip(void)
{
    T_EQ_STR(peer_of("192.0.2.7"), "192.0.2.7:4242");
    T_EQ_INT(log_set_ip(LOG_IP_TRUNCATE), 0);
    T_EQ_INT(log_get_ip(), LOG_IP_TRUNCATE);
    T_EQ_STR(peer_of("192.0.2.7"), "192.0.2.0/24");
    T_EQ_INT(log_set_ip(LOG_IP_NONE), 0);
    T_EQ_STR(peer_of("192.0.2.7"), "-");
    T_EQ_INT(log_set_ip(LOG_IP_HASH), 0);
    T_ASSERT(strncmp(peer_of("192.0.2.7"), "h:", 2) == 0);
    T_EQ_INT(log_set_ip(LOG_IP_FULL), 0);
    T_EQ_STR(peer_of("192.0.2.7"), "192.0.2.7:4242");
}

static void test_one_hash_key_for_the_run_and_its_children(void)
{
    /* The key is made once: the same value after a change of mode and
     * back, and in a process forked afterwards. */
    char first[64], child[64] = "";
    int p[2];
    pid_t pid;
    int status;

    T_EQ_INT(log_set_ip(LOG_IP_HASH), 0);
    snprintf(first, sizeof(first), "%s", peer_of("203.0.113.9"));
    T_ASSERT(strcmp(peer_of("203.0.113.10"), first) != 0);
    log_set_ip(LOG_IP_FULL);
    log_set_ip(LOG_IP_HASH);
    T_EQ_STR(peer_of("203.0.113.9"), first);
    T_ASSERT(pipe(p) == 0);
    pid = fork();
    T_ASSERT(pid >= 0);
    if (pid == 0) {
        const char *v = peer_of("203.0.113.9");
        _exit(write(p[1], v, strlen(v)) == (ssize_t)strlen(v) ? 0 : 1);
    }
    close(p[1]);
    T_ASSERT(read(p[0], child, sizeof(child) - 1) > 0);
    T_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    T_EQ_STR(child, first);
}

/* --- log_connections ------------------------------------------------------------------- */

static void test_which_ends_each_mode_writes(void)
{
    static const struct {
        const char *end;
        bool failure;
    } ends[] = {
        {"closed", false},
        {"exit:0", false},
        {"closed tls=TLSv1.3 cipher=X sni=-", false},
        {"closed backend=tcp://127.0.0.1:7", false},
        {"exit:1", true},
        {"exit:0x", true},
        {"exit:00", true},
        {"signal:9", true},
        {"timeout", true},
        {"max_time", true},
        {"shutdown", true},
        {"denied", true},
        {"refused:max_conns", true},
        {"refused:rate_per_ip", true},
        {"proxy:bad_header", true},
        {"error:ECONNRESET", true},
        {"error:ECONNREFUSED backends=tcp://a", true},
        {"tls:eof", true},
        {"tls:timeout tls=- cipher=- sni=-", true},
        {"closedx", true},
        {"", true},
    };

    for (size_t i = 0; i < ARRAY_LEN(ends); i++) {
        if (!log_conn_wanted(LOG_CONNS_ALL, ends[i].end) ||
            log_conn_wanted(LOG_CONNS_NONE, ends[i].end) ||
            log_conn_wanted(LOG_CONNS_FAILURES, ends[i].end) != ends[i].failure)
            T_FAIL("end \"%s\": failures mode should %s it", ends[i].end,
                   ends[i].failure ? "write" : "not write");
    }
    T_EQ_INT(log_conns_parse("failures"), LOG_CONNS_FAILURES);
    T_EQ_INT(log_conns_parse("failure"), -1);
    T_EQ_STR(log_conns_name(LOG_CONNS_NONE), "none");
    T_EQ_INT(log_format_parse("json"), LOG_FORMAT_JSON);
    T_EQ_INT(log_format_parse("Text"), -1);
    T_EQ_STR(log_format_name(LOG_FORMAT_TEXT), "text");
}

static const struct t_case cases[] = {
    T_CASE(test_control_bytes_cannot_split_or_forge_a_line),
    T_CASE(test_escaped_values_are_not_escaped_twice),
    T_CASE(test_long_lines_are_cut_marked_and_ended),
    T_CASE(test_errno_text_is_appended),
    T_CASE(test_ratelimit_one_line_a_second_then_the_count),
    T_CASE(test_ratelimit_count_survives_a_quiet_spell),
    T_CASE(test_ratelimit_limiters_are_independent),
    T_CASE(test_ratelimit_clock_at_zero),
    T_CASE(test_suppressed_note),
    T_CASE(test_full_syslog_socket_lines_counted_and_reported),
    T_CASE(test_json_lines_on_stderr),
    T_CASE(test_json_hostile_bytes_stay_one_valid_line),
    T_CASE(test_json_long_line_stays_whole_under_pipe_buf),
    T_CASE(test_fatal_and_stderr_warnings_in_each_format),
    T_CASE(test_json_to_a_remote_collector_is_cut_whole),
    T_CASE(test_full_syslog_socket_note_in_json),
    T_CASE(test_peer_text_follows_log_ip),
    T_CASE(test_one_hash_key_for_the_run_and_its_children),
    T_CASE(test_which_ends_each_mode_writes),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
