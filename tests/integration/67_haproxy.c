/*
 * A real HAProxy in front of usherd (SPEC 13; docs/scale-out.md): two
 * usherd hosts (127.0.0.11 and .12, each running
 * contrib/usherd-behind-haproxy.conf: an echo and an exec service) behind
 * one HAProxy (contrib/haproxy-usherd.cfg: send-proxy-v2 to u1, send-proxy
 * to u2, check-send-proxy health checks), both files read from the tree
 * and their placeholders replaced, so the guide's configs are the ones
 * tested.  Clients connect from 127.0.0.2 and 127.0.0.3, never the
 * balancer's 127.0.0.1.  Asserted: usherd sees the real client in its log,
 * its rules and the exec environment; HAProxy's checks are served as the
 * balancer and see a stopped host go DOWN and its restart UP; reloads under
 * traffic fail no request.  Last, usherd's own forward with
 * forward_proxy_protocol = v2 names the client to a usherd behind it.
 *
 * HAProxy runs in the foreground (-db) with its config and stats socket in
 * the test's directory, and is killed by pid when the case ends; the
 * system's haproxy service, if any, is never touched.  Without haproxy on
 * PATH (Debian package haproxy) the HAProxy cases skip.
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define HAPROXY_CFG "contrib/haproxy-usherd.cfg"
#define USHERD_CONF "contrib/usherd-behind-haproxy.conf"
#define NHOSTS      2

static const char *const host_addr[NHOSTS] = {"127.0.0.11", "127.0.0.12"};
static const char *const host_name[NHOSTS] = {"u1", "u2"};

/* The whole set-up: HAProxy, the usherd hosts, the ports they all use. */
struct rig {
    pid_t haproxy;
    char *haproxy_log, *stats_sock;
    int echo_front, report_front; /* HAProxy's, on 127.0.0.1 */
    int echo_port, report_port;   /* every host's */
    const char *probe;
    struct h_daemon *host[NHOSTS];
};

static pid_t haproxy_pid;

/* At the end of the case, whatever happened: our HAProxy, by its pid. */
static void kill_haproxy(void)
{
    if (haproxy_pid > 0) {
        kill(haproxy_pid, SIGKILL);
        waitpid(haproxy_pid, NULL, 0);
        haproxy_pid = 0;
    }
}

static void need_haproxy(void)
{
    if (!h_have("haproxy"))
        t_skip("haproxy is not on PATH (Debian package haproxy)");
}

/*
 * The file `path` of the tree (tests run from its top) with every
 * "@NAME@" of `subst` (pairs, NULL-ended) replaced.  Fails the test if the
 * file cannot be read or a placeholder is left: the test and the file's
 * list of placeholders must agree.
 */
static char *from_template(const char *path, const char *const *subst)
{
    char *text = h_read_file(path);

    if (text[0] == '\0')
        T_FAIL("unable to read %s (tests run from the top of the tree)", path);
    for (const char *const *s = subst; s[0] != NULL; s += 2) {
        const char *at;
        while ((at = strstr(text, s[0])) != NULL) {
            char *next = h_fmt("%.*s%s%s", (int)(at - text), text, s[1], at + strlen(s[0]));
            free(text);
            text = next;
        }
    }
    {
        const char *at = strchr(text, '@');
        if (at != NULL)
            T_FAIL("%s: a placeholder the test does not know: \"%.20s\"", path, at);
    }
    return text;
}

/* `text` with `extra` inserted after the line `after` (which must be in it). */
static char *insert_after(const char *text, const char *after, const char *extra)
{
    const char *at = strstr(text, after);

    if (at == NULL)
        T_FAIL("no \"%s\" in the configuration", after);
    at += strlen(after);
    return h_fmt("%.*s%s%s", (int)(at - text), text, extra, at);
}

/* The usherd host configuration of host `i`, `echo_extra` added to its [echo]. */
static char *host_conf(const struct rig *r, int i, const char *echo_extra)
{
    char *report = h_fmt("%s report", r->probe);
    char *echo_port = h_fmt("%d", r->echo_port), *report_port = h_fmt("%d", r->report_port);
    const char *const subst[] = {"@WORKERS@",   "2",         "@ADDR@",        host_addr[i],
                                 "@ECHO_PORT@", echo_port,   "@REPORT_PORT@", report_port,
                                 "@BALANCERS@", "127.0.0.1", "@REPORT@",      report,
                                 NULL};
    char *text = from_template(USHERD_CONF, subst);
    char *conf = insert_after(text, "[echo]\n", echo_extra);

    free(text);
    free(report);
    free(echo_port);
    free(report_port);
    return conf;
}

static void start_host(struct rig *r, int i, const char *echo_extra)
{
    char *conf = host_conf(r, i, echo_extra);

    r->host[i] = h_start(conf, NULL);
    free(conf);
}

/* HAProxy's answer to `command` on its stats socket (malloc'd); NULL if it
 * does not answer (not up yet). */
static char *stats_command(const struct rig *r, const char *command)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char *out = NULL;
    size_t len = 0, cap = 0;

    if (fd < 0)
        T_FAIL("socket: %s", strerror(errno));
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", r->stats_sock);
    h_set_timeout(fd, 2000 * (int)t_scale());
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        close(fd);
        return NULL;
    }
    h_send_str(fd, command);
    for (;;) { /* HAProxy closes once it has answered */
        ssize_t n;
        if (len + 4096 > cap && (out = realloc(out, cap = cap * 2 + 8192)) == NULL)
            T_FAIL("out of memory");
        n = read(fd, out + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    out[len] = '\0';
    return out;
}

/* Field `n` (from 0) of the comma-separated `line`, into buf. */
static void csv_field(const char *line, int n, char *buf, size_t cap)
{
    for (; n > 0 && line != NULL; n--) {
        line = strchr(line, ',');
        line = line != NULL ? line + 1 : NULL;
    }
    buf[0] = '\0';
    if (line != NULL)
        snprintf(buf, cap, "%.*s", (int)strcspn(line, ",\n"), line);
}

/*
 * The column `field` ("status", "check_status", "econ") of `backend`/`server`
 * in `show stat`, into buf; false if HAProxy does not answer or has no such
 * row.
 */
static bool server_stat(const struct rig *r, const char *backend, const char *server,
                        const char *field, char *buf, size_t cap)
{
    char *csv = stats_command(r, "show stat\n"), *row = h_fmt("\n%s,%s,", backend, server);
    const char *at;
    char name[64];
    int col = -1;

    buf[0] = '\0';
    if (csv != NULL && strncmp(csv, "# ", 2) == 0 && (at = strstr(csv, row)) != NULL)
        for (int i = 0; col < 0 && i < 200; i++) {
            csv_field(csv + 2, i, name, sizeof(name));
            if (strcmp(name, field) == 0)
                col = i;
        }
    if (col >= 0)
        csv_field(at + 1, col, buf, cap);
    free(row);
    free(csv);
    return col >= 0;
}

/* Wait until `field` of backend/server begins with `want` ("UP", "DOWN"). */
static void wait_stat(const struct rig *r, const char *backend, const char *server,
                      const char *field, const char *want, int ms)
{
    int64_t until = h_now_ms() + ms * (int)t_scale();
    char got[64] = "";

    while (h_now_ms() < until) {
        if (server_stat(r, backend, server, field, got, sizeof(got)) &&
            strncmp(got, want, strlen(want)) == 0)
            return;
        usleep(20000);
    }
    T_FAIL("%s/%s %s is \"%s\", not %s, after %d ms; HAProxy's log:\n%s", backend, server, field,
           got, want, ms, h_read_file(r->haproxy_log));
}

static long long stat_number(const struct rig *r, const char *backend, const char *server,
                             const char *field)
{
    char got[64];

    if (!server_stat(r, backend, server, field, got, sizeof(got)))
        T_FAIL("no %s for %s/%s in show stat", field, backend, server);
    return got[0] == '\0' ? 0 : strtoll(got, NULL, 10);
}

/* HAProxy on the template, in the foreground, its stderr (its log) to a file. */
static void start_haproxy(struct rig *r)
{
    char *echo_front = h_fmt("127.0.0.1:%d", r->echo_front);
    char *report_front = h_fmt("127.0.0.1:%d", r->report_front);
    char *echo_port = h_fmt("%d", r->echo_port), *report_port = h_fmt("%d", r->report_port);
    const char *const subst[] = {
        "@DIR@",       h_tmpdir(), "@ECHO_FRONT@",  echo_front,  "@REPORT_FRONT@",
        report_front,  "@HOST1@",  host_addr[0],    "@HOST2@",   host_addr[1],
        "@ECHO_PORT@", echo_port,  "@REPORT_PORT@", report_port, "@INTER@",
        "100ms",       NULL};
    char *cfg = from_template(HAPROXY_CFG, subst), *path = h_fmt("%s/haproxy.cfg", h_tmpdir());

    r->haproxy_log = h_fmt("%s/haproxy.log", h_tmpdir());
    r->stats_sock = h_fmt("%s/haproxy.sock", h_tmpdir());
    h_write_file(path, cfg);
    t_at_end(kill_haproxy);
    r->haproxy = haproxy_pid = fork();
    if (r->haproxy < 0)
        T_FAIL("fork: %s", strerror(errno));
    if (r->haproxy == 0) {
        FILE *log = freopen(r->haproxy_log, "a", stderr);
        if (log == NULL || dup2(2, 1) < 0)
            _exit(120);
        execlp("haproxy", "haproxy", "-f", path, "-db", (char *)NULL);
        _exit(121);
    }
    free(cfg);
    free(path);
    free(echo_front);
    free(report_front);
    free(echo_port);
    free(report_port);
}

/*
 * The rig: both hosts (u1's [echo] with `u1_echo_extra`), then HAProxy,
 * ready once every host has passed a health check (and so is UP).
 */
static void start_rig(struct rig *r, const char *u1_echo_extra)
{
    need_haproxy();
    memset(r, 0, sizeof(*r));
    r->probe = h_exec_probe(false);
    r->echo_port = h_free_port("tcp");
    r->report_port = h_free_port("tcp");
    r->echo_front = h_free_port("tcp");
    r->report_front = h_free_port("tcp");
    for (int i = 0; i < NHOSTS; i++)
        start_host(r, i, i == 0 ? u1_echo_extra : "");
    start_haproxy(r);
    for (int i = 0; i < NHOSTS; i++) {
        wait_stat(r, "usherd_echo", host_name[i], "check_status", "L7OK", 10000);
        wait_stat(r, "usherd_echo", host_name[i], "status", "UP", 5000);
        wait_stat(r, "usherd_report", host_name[i], "status", "UP", 5000);
    }
}

/* A connection from `src` (127.0.0.2, 127.0.0.3) to HAProxy's `port`. */
static int client(const char *src, int port)
{
    char *local = h_fmt("tcp://%s:0", src), *remote = h_fmt("tcp://127.0.0.1:%d", port);
    int fd = h_connect_from(local, remote);

    if (fd < 0)
        T_FAIL("connecting from %s to %s: %s", local, remote, strerror(errno));
    free(local);
    free(remote);
    return fd;
}

/* Wait until one host's log has `needle`; which (or fail, showing the logs). */
static int host_with(const struct rig *r, const char *needle)
{
    int64_t until = h_now_ms() + 3000 * (int)t_scale();

    while (h_now_ms() < until) {
        for (int i = 0; i < NHOSTS; i++)
            if (r->host[i] != NULL && h_count_log(r->host[i], needle) > 0)
                return i;
        usleep(10000);
    }
    T_FAIL("no host logged \"%s\":\nu1:\n%s\nu2:\n%s", needle,
           r->host[0] != NULL ? h_log(r->host[0]) : "(stopped)",
           r->host[1] != NULL ? h_log(r->host[1]) : "(stopped)");
}

/* Lines of `text` with `has` and without `lacks` (NULL: any). */
static int count_lines(const char *text, const char *has, const char *lacks)
{
    int n = 0;

    for (const char *line = text; *line != '\0';) {
        size_t len = strcspn(line, "\n");
        char *copy = h_fmt("%.*s", (int)len, line);
        if (strstr(copy, has) != NULL && (lacks == NULL || strstr(copy, lacks) == NULL))
            n++;
        free(copy);
        line += len + (line[len] == '\n');
    }
    return n;
}

/* Did an answer come on `fd` within 3 s (rather than EOF, a reset or nothing)? */
static bool answered(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char buf[64];

    return poll(&p, 1, 3000 * (int)t_scale()) > 0 && recv(fd, buf, sizeof(buf), 0) > 0;
}

static void test_the_real_client_everywhere(void)
{
    /* Scenario: clients from 127.0.0.2 to the echo and the report service,
     * until each host has served one of each; then from 127.0.0.3, which u1
     * denies.  Asserted: each host (u1 through v2, u2 through v1) logs
     * peer=127.0.0.2:PORT via=127.0.0.1:; the exec program's environment
     * has TCPREMOTEIP=127.0.0.2, the client's port, and HAProxy's frontend
     * as TCPLOCALIP/PORT; u1 refuses 127.0.0.3 (end=denied,
     * peer=127.0.0.3) while u2 serves it. */
    struct rig r;
    bool echoed[NHOSTS] = {false}, reported[NHOSTS] = {false}, refused = false, served = false;

    start_rig(&r, "deny = 127.0.0.3\n");
    for (int tries = 0; tries < 8 && !(echoed[0] && echoed[1]); tries++) {
        int fd = client("127.0.0.2", r.echo_front), port = h_local_port(fd);
        char *needle = h_fmt("service=echo proto=tcp peer=127.0.0.2:%d via=127.0.0.1:", port);
        h_echo_roundtrip(fd, "from the real client\n");
        close(fd);
        echoed[host_with(&r, needle)] = true;
        free(needle);
    }
    T_ASSERT(echoed[0] && echoed[1]);
    for (int tries = 0; tries < 8 && !(reported[0] && reported[1]); tries++) {
        int fd = client("127.0.0.2", r.report_front), port = h_local_port(fd);
        char *report = h_probe_report_fd(fd);
        char *needle = h_fmt("service=report proto=tcp peer=127.0.0.2:%d via=127.0.0.1:", port);
        T_CONTAINS(report, "env TCPREMOTEIP=127.0.0.2\n");
        T_CONTAINS(report, h_fmt("env TCPREMOTEPORT=%d\n", port));
        T_CONTAINS(report, "env TCPLOCALIP=127.0.0.1\n");
        T_CONTAINS(report, h_fmt("env TCPLOCALPORT=%d\n", r.report_front));
        close(fd);
        reported[host_with(&r, needle)] = true;
        free(report);
        free(needle);
    }
    T_ASSERT(reported[0] && reported[1]);
    for (int tries = 0; tries < 8 && !(refused && served); tries++) {
        int fd = client("127.0.0.3", r.echo_front), port = h_local_port(fd);
        bool served_now;
        char *line;
        char *needle = h_fmt("service=echo proto=tcp peer=127.0.0.3:%d ", port);
        int host;
        h_send_str(fd, "denied?\n");
        shutdown(fd, SHUT_WR);
        served_now = answered(fd);
        close(fd);
        host = host_with(&r, needle);
        line = h_log_line(r.host[host], needle);
        T_CONTAINS(line, "via=127.0.0.1:");
        if (served_now) {
            T_EQ_INT(host, 1);
            T_CONTAINS(line, "end=closed");
            served = true;
        } else {
            T_EQ_INT(host, 0);
            T_CONTAINS(line, "end=denied");
            refused = true;
        }
        free(line);
        free(needle);
    }
    T_ASSERT(refused && served);
    T_EQ_INT(h_count_log(r.host[1], "end=denied"), 0);
}

/* HAProxy's checks of a host, as its log shows them: from the balancer, one
 * line echoed, no PROXY failure. */
static void check_lines_served(const struct h_daemon *d, const char *name)
{
    char *log = h_log(d);

    if (count_lines(log, "service=echo proto=tcp peer=127.0.0.1:", NULL) == 0 ||
        count_lines(log, " via=127.0.0.1:", NULL) == 0 ||
        count_lines(log, " in=7 out=7 ", NULL) == 0)
        T_FAIL("%s: no health check served as the balancer:\n%s", name, log);
    if (strstr(log, "end=proxy:") != NULL)
        T_FAIL("%s: a PROXY failure:\n%s", name, log);
    free(log);
}

static void test_health_checks(void)
{
    /* Scenario: both hosts UP; u1 stopped; u1 started again on the same
     * addresses.  Asserted: HAProxy's show stat says u1 DOWN (its report
     * server, which tracks it, too) while u2 serves every request, then UP
     * again; every usherd's log has the checks (v2 LOCAL to u1, v1 to u2)
     * served with the balancer as the peer, and no end=proxy: line. */
    struct rig r;
    struct h_daemon *stopped;

    start_rig(&r, "");
    stopped = r.host[0];
    h_stop(stopped);
    r.host[0] = NULL;
    wait_stat(&r, "usherd_echo", "u1", "status", "DOWN", 5000);
    wait_stat(&r, "usherd_report", "u1", "status", "DOWN", 5000);
    for (int i = 0; i < 4; i++) {
        int fd = client("127.0.0.2", r.echo_front);
        h_echo_roundtrip(fd, "while u1 is down\n");
        close(fd);
    }
    start_host(&r, 0, "");
    wait_stat(&r, "usherd_echo", "u1", "status", "UP", 5000);
    wait_stat(&r, "usherd_report", "u1", "status", "UP", 5000);
    T_ASSERT(h_wait_log(r.host[0], " in=7 out=7 ", 2000));
    check_lines_served(stopped, "u1 before its stop");
    check_lines_served(r.host[0], "u1 restarted");
    check_lines_served(r.host[1], "u2");
    T_ASSERT(h_count_file(r.haproxy_log, "usherd_echo/u1 is DOWN") >= 1);
}

/* The client loop of the reload test, in a child: requests from 127.0.0.2
 * until `stop_fd` is readable, then "OK FAILED FIRST-ERROR" to `result_fd`. */
static void request_loop(int echo_front, int stop_fd, int result_fd)
{
    struct sockaddr_storage from = h_sockaddr("127.0.0.2", 0), to = h_sockaddr("127.0.0.1", 0);
    struct pollfd stop = {.fd = stop_fd, .events = POLLIN};
    long ok = 0, failed = 0;
    char first[160] = "", msg[32], buf[32];

    ((struct sockaddr_in *)&to)->sin_port = htons((uint16_t)echo_front);
    for (long i = 0; poll(&stop, 1, 0) == 0; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct timeval tv = {.tv_sec = 5 * (time_t)t_scale()};
        int len = snprintf(msg, sizeof(msg), "request %ld\n", i);
        const char *why = NULL;
        errno = 0;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (fd < 0 || bind(fd, (struct sockaddr *)&from, sizeof(struct sockaddr_in)) < 0 ||
            connect(fd, (struct sockaddr *)&to, sizeof(struct sockaddr_in)) < 0)
            why = "connect";
        else if (write_all(fd, msg, (size_t)len) < 0)
            why = "send";
        else if (read_full(fd, buf, (size_t)len) != len || memcmp(buf, msg, (size_t)len) != 0)
            why = "echo";
        if (why != NULL && failed++ == 0)
            snprintf(first, sizeof(first), "%s of request %ld: %s", why, i,
                     errno ? strerror(errno) : "wrong or short answer");
        ok += why == NULL;
        if (fd >= 0)
            close(fd);
    }
    dprintf(result_fd, "%ld %ld %s", ok, failed, first);
    _exit(0);
}

/* Connection lines of the client (127.0.0.2) in every host's log so far. */
static int client_lines(const struct rig *r)
{
    int n = 0;

    for (int i = 0; i < NHOSTS; i++)
        n += h_count_log(r->host[i], "service=echo proto=tcp peer=127.0.0.2:");
    return n;
}

#define RELOADS 20

static void test_reloads_under_traffic(void)
{
    /* Scenario: a client loop through HAProxy, a new connection per
     * request, while each host reloads RELOADS times (SIGHUP, each waited
     * for), every other time with a changed [echo] (its workers replaced),
     * and traffic flowing between reloads.  Asserted: no request failed;
     * HAProxy counted no connection error, retry, redispatch or response
     * error on any host (so it hid nothing); every client connection ended
     * end=closed. */
    struct rig r;
    int stop[2], result[2];
    pid_t child;
    char text[256] = "";
    long ok = -1, failed = -1;
    int consumed = 0;

    start_rig(&r, "");
    if (pipe2(stop, O_CLOEXEC) < 0 || pipe2(result, O_CLOEXEC) < 0)
        T_FAIL("pipe2: %s", strerror(errno));
    child = fork();
    if (child < 0)
        T_FAIL("fork: %s", strerror(errno));
    if (child == 0) {
        close(stop[1]);
        close(result[0]);
        request_loop(r.echo_front, stop[0], result[1]);
    }
    close(stop[0]);
    close(result[1]);
    for (int n = 1; n <= RELOADS; n++) {
        int before = client_lines(&r);
        for (int i = 0; i < NHOSTS; i++) {
            char *conf = host_conf(&r, i, n % 2 ? "deny = 192.0.2.1\n" : "");
            h_write_file(r.host[i]->conf_path, conf);
            free(conf);
            h_kill(r.host[i], SIGHUP);
        }
        for (int i = 0; i < NHOSTS; i++)
            if (!h_wait_log_count(r.host[i], "usherd: reloaded ", n, 5000))
                T_FAIL("%s: reload %d not logged:\n%s", host_name[i], n, h_log(r.host[i]));
        for (int64_t until = h_now_ms() + 5000 * (int)t_scale();
             client_lines(&r) < before + 2 && h_now_ms() < until;)
            usleep(5000);
        if (client_lines(&r) < before + 2)
            T_FAIL("no traffic around reload %d", n);
    }
    close(stop[1]);
    if (read_full(result[0], text, sizeof(text) - 1) < 0 ||
        sscanf(text, "%ld %ld %n", &ok, &failed, &consumed) != 2)
        T_FAIL("no result from the client loop: \"%s\"", text);
    waitpid(child, NULL, 0);
    t_note("%ld requests across %d reloads of each host", ok, RELOADS);
    if (failed != 0)
        T_FAIL("%ld of %ld requests failed, the first: %s", failed, ok + failed, text + consumed);
    T_ASSERT(ok > 0);
    for (int i = 0; i < NHOSTS; i++) {
        static const char *const fields[] = {"econ", "eresp", "wretr", "wredis"};
        char *log = h_log(r.host[i]);
        for (size_t f = 0; f < ARRAY_LEN(fields); f++)
            if (stat_number(&r, "usherd_echo", host_name[i], fields[f]) != 0)
                T_FAIL("HAProxy counted %s on %s; its log:\n%s", fields[f], host_name[i],
                       h_read_file(r.haproxy_log));
        T_EQ_INT(count_lines(log, "peer=127.0.0.2:", " end=closed"), 0);
        free(log);
    }
}

static void test_usherd_forward_names_the_client(void)
{
    /* Scenario: usherd's own forward (forward_proxy_protocol = v2) in front
     * of a usherd with proxy_protocol = v2, no HAProxy; a client from
     * 127.0.0.2.  Asserted: the backend's echo line says peer=127.0.0.2:PORT
     * via=127.0.0.1:, and its exec program sees the client as TCPREMOTEIP
     * and the front's listener as TCPLOCALIP/PORT. */
    const char *probe = h_exec_probe(false);
    char *conf = h_fmt("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nproxy_protocol = v2\n"
                       "proxy_from = 127.0.0.1\n"
                       "[report]\nlisten = tcp://127.0.0.1:0\nexec = %s report\n"
                       "proxy_protocol = v2\nproxy_from = 127.0.0.1\n",
                       probe);
    struct h_daemon *back = h_start(conf, NULL), *front;
    char *front_conf = h_fmt("[fecho]\nlisten = tcp://127.0.0.1:0\nforward = %s\n"
                             "forward_proxy_protocol = v2\n"
                             "[freport]\nlisten = tcp://127.0.0.1:0\nforward = %s\n"
                             "forward_proxy_protocol = v2\n",
                             h_addr(back, "echo", "tcp://"), h_addr(back, "report", "tcp://"));
    int fd, port;
    char *report;

    front = h_start(front_conf, NULL);
    fd = h_connect_from("tcp://127.0.0.2:0", h_addr(front, "fecho", "tcp://"));
    T_ASSERT(fd >= 0);
    port = h_local_port(fd);
    h_echo_roundtrip(fd, "end to end\n");
    close(fd);
    T_CONTAINS(h_wait_conn_line(back, "echo", "end=closed", 3000),
               h_fmt("peer=127.0.0.2:%d via=127.0.0.1:", port));
    T_CONTAINS(h_wait_conn_line(front, "fecho", "end=closed", 3000),
               h_fmt("peer=127.0.0.2:%d ", port));

    fd = h_connect_from("tcp://127.0.0.2:0", h_addr(front, "freport", "tcp://"));
    T_ASSERT(fd >= 0);
    port = h_local_port(fd);
    report = h_probe_report_fd(fd);
    close(fd);
    T_CONTAINS(report, "env TCPREMOTEIP=127.0.0.2\n");
    T_CONTAINS(report, h_fmt("env TCPREMOTEPORT=%d\n", port));
    T_CONTAINS(report, "env TCPLOCALIP=127.0.0.1\n");
    T_CONTAINS(report, h_fmt("env TCPLOCALPORT=%d\n", h_port(h_addr(front, "freport", "tcp://"))));
    free(report);
    free(conf);
    free(front_conf);
}

static const struct t_case cases[] = {
    T_CASE(test_the_real_client_everywhere),
    T_CASE(test_health_checks),
    T_CASE_TIMEOUT(test_reloads_under_traffic, 90),
    T_CASE(test_usherd_forward_names_the_client),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
