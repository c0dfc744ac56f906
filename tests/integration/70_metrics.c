/*
 * builtin = metrics (SPEC 15): /metrics and /status over HTTP/1.1, the
 * counters shared by every process.
 *
 * A scenario of known traffic (100 echo connections, 3 refused by deny,
 * 2 exec children that exit 3) is run under event, workers = 2,
 * prefork:2 and fork, and the scrape must give exactly those counts in
 * each: the sum over all processes, whichever process answers.  promtool
 * checks the exposition; a real Prometheus (package prometheus, started
 * here on loopback with a 1 s scrape interval, killed by pid at the end)
 * scrapes usherd and its query API returns the same counts.  The counts
 * survive a SIGKILLed worker and a reload; a removed service's series
 * go.  Hostile clients: a head over 8 KiB, binary, a request that never
 * ends, a thousand pipelined requests, a scraper that never reads: each
 * is answered or closed with bounded memory while the rest is served.
 */
#include "certs.h"
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* One request on a new connection (Connection: close); the whole response (malloc'd). */
static char *http(const char *addr, const char *request)
{
    int fd = h_connect(addr);
    size_t cap = 4 << 20;
    char *buf = malloc(cap);
    size_t n;

    T_ASSERT(buf != NULL);
    h_send_str(fd, request);
    n = h_recv_all(fd, buf, cap - 1);
    buf[n] = '\0';
    close(fd);
    return buf;
}

static char *get(const char *addr, const char *path)
{
    char *req = h_fmt("GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
    char *resp = http(addr, req);

    free(req);
    return resp;
}

/* The body of a 200 response, or a failed test. */
static const char *body_of(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");

    if (strncmp(resp, "HTTP/1.1 200 ", 13) != 0 || b == NULL)
        T_FAIL("not a 200 response: %.200s", resp);
    return b + 4;
}

/* The value of the sample `series` ("name{labels}") in an exposition, or -1. */
static double sample(const char *text, const char *series)
{
    char *needle = h_fmt("\n%s ", series);
    const char *at = strstr(text, needle);
    double v = -1;

    if (at != NULL)
        v = strtod(at + strlen(needle), NULL);
    free(needle);
    return v;
}

/* Scrape until `series` is `want` (at most 5 s); the last scrape's value. */
static double wait_sample(const char *addr, const char *series, double want)
{
    double v = -1;

    for (int64_t deadline = h_now_ms() + 5000; h_now_ms() < deadline; usleep(20000)) {
        char *resp = get(addr, "/metrics");
        v = sample(body_of(resp) - 1, series);
        free(resp);
        if (v == want)
            break;
    }
    return v;
}

#define SCENARIO_SERVICES                                                                          \
    "[guarded]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\ndeny = 127.0.0.0/8\n"                  \
    "[failing]\nlisten = tcp://127.0.0.1:0\nexec = /bin/sh -c 'exit 3'\n"                          \
    "[metrics]\nlisten = tcp://127.0.0.1:0 unix:@DIR@/metrics.sock\nbuiltin = metrics\n"

/* 100 echo round trips, 3 refused connections, 2 failing children. */
static void scenario_traffic(struct h_daemon *d)
{
    for (int i = 0; i < 100; i++) {
        int fd = h_connect(h_addr(d, "echo", "tcp://"));
        h_echo_roundtrip(fd, "x");
        close(fd);
    }
    for (int i = 0; i < 3; i++) {
        int fd = h_connect(h_addr(d, "guarded", "tcp://"));
        T_ASSERT(h_wait_closed(fd, 2000));
        close(fd);
    }
    for (int i = 0; i < 2; i++) {
        int fd = h_connect(h_addr(d, "failing", "tcp://"));
        T_ASSERT(h_wait_closed(fd, 2000));
        close(fd);
    }
}

static void check_scenario_counts(struct h_daemon *d)
{
    const char *m = h_addr(d, "metrics", "tcp://");
    char *resp, *status;

    T_EQ_INT(wait_sample(m, "usherd_connections_total{service=\"echo\",proto=\"tcp\"}", 100), 100);
    T_EQ_INT(wait_sample(
                 m, "usherd_connections_refused_total{service=\"guarded\",reason=\"denied\"}", 3),
             3);
    T_EQ_INT(
        wait_sample(m, "usherd_child_exits_total{service=\"failing\",how=\"exit_nonzero\"}", 2), 2);
    T_EQ_INT(wait_sample(m, "usherd_connections_active{service=\"echo\"}", 0), 0);
    resp = get(m, "/metrics");
    T_EQ_INT(
        sample(body_of(resp) - 1, "usherd_connections_total{service=\"guarded\",proto=\"tcp\"}"),
        0);
    T_EQ_INT(sample(body_of(resp) - 1, "usherd_received_bytes_total{service=\"echo\"}"), 100);
    T_EQ_INT(sample(body_of(resp) - 1, "usherd_sent_bytes_total{service=\"echo\"}"), 100);
    T_EQ_INT(
        sample(body_of(resp) - 1, "usherd_connection_duration_seconds_count{service=\"echo\"}"),
        100);
    T_EQ_INT(sample(body_of(resp) - 1,
                    "usherd_child_exits_total{service=\"failing\",how=\"exit_zero\"}"),
             0);
    free(resp);
    /* /status says the same, over the Unix socket too. */
    resp = get(h_addr(d, "metrics", "unix:"), "/status");
    status = strstr(body_of(resp), "{\"name\":\"echo\"");
    T_ASSERT(status != NULL);
    T_CONTAINS(status, "\"active\":0,\"total\":100,");
    T_CONTAINS(strstr(body_of(resp), "{\"name\":\"guarded\""), "\"denied\":3,");
    free(resp);
}

static void run_scenario(const char *global, const char *echo_model)
{
    char *conf = h_fmt(
        "[global]\n%s\n[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n%s\n" SCENARIO_SERVICES,
        global, echo_model);
    struct h_daemon *d = h_start(conf, NULL);

    scenario_traffic(d);
    check_scenario_counts(d);
    free(conf);
}

static void test_exact_counts_event(void)
{
    run_scenario("", "");
}

static void test_exact_counts_workers2(void)
{
    run_scenario("workers = 2", "");
}

static void test_exact_counts_prefork2(void)
{
    run_scenario("", "model = prefork:2");
}

static void test_exact_counts_fork(void)
{
    run_scenario("", "model = fork");
}

static void test_http_basics(void)
{
    struct h_daemon *d =
        h_start("[metrics]\nlisten = tcp://127.0.0.1:0\nbuiltin = metrics\n", NULL);
    const char *m = h_addr(d, "metrics", "tcp://");
    char *resp, *get_resp;
    char buf[8192];
    int fd;
    size_t n;

    get_resp = get(m, "/metrics");
    T_CONTAINS(get_resp, "Content-Type: text/plain; version=0.0.4");
    T_CONTAINS(get_resp, "# TYPE usherd_build_info gauge\n");
    /* HEAD: the same head, no body. */
    resp = http(m, "HEAD /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    T_ASSERT(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0);
    T_CONTAINS(resp, "Content-Length: ");
    T_EQ_STR(strstr(resp, "\r\n\r\n"), "\r\n\r\n");
    free(resp);
    free(get_resp);
    resp = get(m, "/status");
    T_CONTAINS(resp, "Content-Type: application/json\r\n");
    T_CONTAINS(body_of(resp), "\"services\":[{\"name\":\"metrics\"");
    free(resp);
    resp = get(m, "/nope");
    T_ASSERT(strncmp(resp, "HTTP/1.1 404 ", 13) == 0);
    free(resp);
    resp = http(m, "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                   "Connection: close\r\n\r\nabc");
    T_ASSERT(strncmp(resp, "HTTP/1.1 405 ", 13) == 0);
    T_CONTAINS(resp, "Allow: GET, HEAD\r\n");
    free(resp);
    /* Keep-alive: two requests on one connection, answered in order; then close. */
    fd = h_connect(m);
    h_send_str(fd, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\nGET /status HTTP/1.1\r\nHost: t\r\n"
                   "Connection: close\r\n\r\n");
    n = h_recv_all(fd, buf, sizeof(buf) - 1);
    buf[n] = '\0';
    close(fd);
    T_ASSERT(strncmp(buf, "HTTP/1.1 404 ", 13) == 0);
    T_CONTAINS(buf, "Connection: keep-alive\r\n");
    T_CONTAINS(strstr(buf, "HTTP/1.1 200 "), "Connection: close\r\n");
}

static void test_status_is_valid_json_and_lists_connections(void)
{
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "[metrics]\nlisten = tcp://127.0.0.1:0\nbuiltin = metrics\n",
                                 NULL);
    char *resp, *json;
    int fds[3];
    struct h_result r;

    h_need("python3", "python3");
    for (int i = 0; i < 3; i++) {
        fds[i] = h_connect(h_addr(d, "echo", "tcp://"));
        h_echo_roundtrip(fds[i], "hold");
    }
    resp = get(h_addr(d, "metrics", "tcp://"), "/status");
    json = h_fmt("%s", body_of(resp));
    {
        const char *const argv[] = {
            "python3", "-c",
            "import json,sys; s=json.load(sys.stdin); e=[x for x in s['services'] if "
            "x['name']=='echo'][0]; c=[x for x in s['connections'] if x['service']=='echo'];"
            "print(e['active'], e['total'], len(c), c[0]['peer'].startswith('127.0.0.1:'), "
            "s['pid'], sorted(e['refused']))",
            NULL};
        h_run(&r, json, strlen(json), 5000, argv);
    }
    T_EQ_INT(r.exit_code, 0);
    T_EQ_STR(r.out, h_fmt("3 3 3 True %ld ['denied', 'max_conns', 'max_per_ip', 'proxy', 'rate', "
                          "'rate_per_ip', 'resources', 'tls']\n",
                          (long)d->pid));
    h_result_free(&r);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    free(json);
    free(resp);
}

static void test_promtool_accepts_the_exposition(void)
{
    const struct certs *c = certs_get();
    char *conf = h_fmt("[echo]\nlisten = tcp://127.0.0.1:0 unix:@DIR@/e.sock udp://127.0.0.1:0\n"
                       "builtin = echo\n"
                       "[tls-echo.v2]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\n"
                       "tls_cert = %s\ntls_key = %s\n"
                       "[prog]\nlisten = tcp://127.0.0.1:0\nexec = /bin/true\n"
                       "[metrics]\nlisten = tls://127.0.0.1:0\nbuiltin = metrics\n"
                       "tls_cert = %s\ntls_key = %s\n",
                       c->server.cert, c->server.key, c->server.cert, c->server.key);
    struct h_daemon *d;
    struct h_result r;
    char *url;

    h_need("promtool", "prometheus");
    h_need("curl", "curl");
    d = h_start(conf, NULL);
    h_echo_roundtrip(h_connect(h_addr(d, "echo", "tcp://")), "x");
    /* Over TLS, as a scraper with the CA would. */
    url = h_fmt("https://127.0.0.1:%d/metrics", h_port(h_addr(d, "metrics", "tls://")));
    {
        const char *const argv[] = {"curl", "-sS", "--cacert", c->ca.cert, url, NULL};
        h_run(&r, NULL, 0, 10000, argv);
    }
    T_EQ_INT(r.exit_code, 0);
    T_CONTAINS(r.out, "usherd_tls_handshakes_total{service=\"tls-echo.v2\",result=\"ok\"} 0\n");
    T_CONTAINS(r.out, "usherd_tls_handshakes_total{service=\"metrics\",result=\"ok\"} 1\n");
    T_CONTAINS(r.out, "usherd_udp_requests_total{service=\"echo\"} 0\n");
    T_CONTAINS(r.out, "usherd_children_active{service=\"prog\"} 0\n");
    {
        struct h_result p;
        const char *const argv[] = {"promtool", "check", "metrics", NULL};
        h_run(&p, r.out, r.out_len, 10000, argv);
        if (p.exit_code != 0)
            T_FAIL("promtool check metrics: exit %d: %s%s", p.exit_code, p.out, p.err);
        h_result_free(&p);
    }
    h_result_free(&r);
    free(url);
    free(conf);
    /* The scrape job the README points to is one Prometheus takes. */
    {
        const char *const argv[] = {"promtool", "check", "config", "contrib/prometheus-usherd.yml",
                                    NULL};
        h_run(&r, NULL, 0, 10000, argv);
        if (r.exit_code != 0)
            T_FAIL("promtool check config: exit %d: %s%s", r.exit_code, r.out, r.err);
        h_result_free(&r);
    }
}

static pid_t prometheus_pid;

static void kill_prometheus(void)
{
    if (prometheus_pid > 0) {
        kill(prometheus_pid, SIGKILL);
        waitpid(prometheus_pid, NULL, 0);
        prometheus_pid = 0;
    }
}

/* The value of an instant query (`query` already URL-encoded) on Prometheus's API, or -1. */
static double prometheus_query(int port, const char *query)
{
    char *addr = h_fmt("tcp://127.0.0.1:%d", port);
    char *req =
        h_fmt("GET /api/v1/query?query=%s HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n", query);
    char *resp = http(addr, req);
    const char *v = strstr(resp, "\"value\":[");
    double value = -1;

    if (v != NULL && (v = strchr(v, ',')) != NULL && v[1] == '"')
        value = strtod(v + 2, NULL);
    free(resp);
    free(req);
    free(addr);
    return value;
}

static void test_real_prometheus_sees_the_counts(void)
{
    char *conf = h_fmt("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n" SCENARIO_SERVICES);
    struct h_daemon *d;
    char *yml, *dir, *listen;
    int port, metrics_port;
    double v = -1;
    static const struct {
        const char *query;
        double want;
    } want[] = {
        {"usherd_connections_total%7Bservice%3D%22echo%22%7D", 100},
        {"usherd_connections_refused_total%7Bservice%3D%22guarded%22%2Creason%3D%22denied%22%7D",
         3},
        {"usherd_child_exits_total%7Bservice%3D%22failing%22%2Chow%3D%22exit_nonzero%22%7D", 2},
    };

    h_need("prometheus", "prometheus");
    d = h_start(conf, NULL);
    metrics_port = h_port(h_addr(d, "metrics", "tcp://"));
    scenario_traffic(d);
    port = h_free_port("tcp");
    dir = h_fmt("%s/prom", h_tmpdir());
    yml = h_fmt("%s/prometheus.yml", h_tmpdir());
    h_write_file(yml, h_fmt("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                            "scrape_configs:\n  - job_name: usherd\n    static_configs:\n"
                            "      - targets: ['127.0.0.1:%d']\n",
                            metrics_port));
    listen = h_fmt("--web.listen-address=127.0.0.1:%d", port);
    t_at_end(kill_prometheus);
    if ((prometheus_pid = fork()) == 0) {
        char *cfg = h_fmt("--config.file=%s", yml), *tsdb = h_fmt("--storage.tsdb.path=%s", dir);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execlp("prometheus", "prometheus", cfg, tsdb, listen, "--log.level=error", (char *)NULL);
        _exit(127);
    }
    T_ASSERT(prometheus_pid > 0);
    for (size_t i = 0; i < ARRAY_LEN(want); i++) {
        for (int64_t deadline = h_now_ms() + 30000; h_now_ms() < deadline; usleep(250000)) {
            if (access(h_fmt("/proc/%ld", (long)prometheus_pid), F_OK) != 0)
                T_FAIL("prometheus exited");
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_storage ss = h_sockaddr("127.0.0.1", (unsigned)port);
            bool up = connect(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)) == 0;
            close(fd);
            if (up && (v = prometheus_query(port, want[i].query)) == want[i].want)
                break;
        }
        if (v != want[i].want)
            T_FAIL("Prometheus says %g for %s, want %g", v, want[i].query, want[i].want);
    }
    free(conf);
}

static void test_counts_survive_a_killed_worker_and_a_reload(void)
{
    char *conf = h_fmt("[global]\nworkers = 2\n[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                       "[old]\nlisten = tcp://127.0.0.1:0\nbuiltin = discard\n"
                       "[metrics]\nlisten = tcp://127.0.0.1:0\nbuiltin = metrics\n");
    struct h_daemon *d = h_start(conf, NULL);
    const char *series = "usherd_connections_total{service=\"echo\",proto=\"tcp\"}";
    pid_t pids[8];
    char *m, *resp, *path;
    int held, n;

    m = h_fmt("%s", h_addr(d, "metrics", "tcp://"));
    for (int i = 0; i < 10; i++) {
        int fd = h_connect(h_addr(d, "echo", "tcp://"));
        h_echo_roundtrip(fd, "x");
        close(fd);
    }
    held = h_connect(h_addr(d, "echo", "tcp://"));
    h_echo_roundtrip(held, "x");
    T_EQ_INT(wait_sample(m, series, 11), 11);
    T_EQ_INT(wait_sample(m, "usherd_connections_active{service=\"echo\"}", 1), 1);
    /* A worker dies by SIGKILL: what it counted stays, what it held is given back. */
    n = h_wait_children(d, 2, true, pids, 8, 5000);
    T_ASSERT(n == 2);
    kill(pids[0], SIGKILL);
    kill(pids[1], SIGKILL);
    T_ASSERT(h_wait_log_count(d, "killed by signal 9", 2, 5000));
    T_EQ_INT(wait_sample(m, series, 11), 11);
    T_EQ_INT(wait_sample(m, "usherd_connections_active{service=\"echo\"}", 0), 0);
    close(held);
    /* A reload: echo stays (its counts with it), old goes, new comes. */
    path = h_fmt("%s/usherd.conf", d->dir);
    h_write_file(path, "[global]\nworkers = 2\n[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                       "idle_timeout = 5s\n"
                       "[new]\nlisten = tcp://127.0.0.1:0\nbuiltin = discard\n"
                       "[metrics]\nlisten = tcp://127.0.0.1:0\nbuiltin = metrics\n");
    h_kill(d, SIGHUP);
    T_ASSERT(h_wait_log(d, "usherd: reloaded ", 5000));
    h_parse_listens(d);
    T_EQ_INT(wait_sample(m, "usherd_config_reloads_total{result=\"ok\"}", 1), 1);
    resp = get(m, "/metrics");
    T_EQ_INT(sample(body_of(resp) - 1, series), 11);
    T_ASSERT(strstr(resp, "service=\"old\"") == NULL);
    T_CONTAINS(resp, "usherd_connections_total{service=\"new\",proto=\"tcp\"} 0\n");
    free(resp);
    /* A broken file: counted as an error, the counts unchanged. */
    h_write_file(path, "[broken\n");
    h_kill(d, SIGHUP);
    T_EQ_INT(wait_sample(m, "usherd_config_reloads_total{result=\"error\"}", 1), 1);
    T_EQ_INT(wait_sample(m, "usherd_config_last_reload_successful", 0), 0);
    T_EQ_INT(wait_sample(m, series, 11), 11);
    free(path);
    free(m);
    free(conf);
}

static void test_hostile_clients_bounded_and_answered(void)
{
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "[metrics]\nlisten = tcp://127.0.0.1:0\nbuiltin = metrics\n"
                                 "idle_timeout = 300ms\n",
                                 NULL);
    const char *m = h_addr(d, "metrics", "tcp://");
    static char big[12 * 1024];
    char buf[4096];
    long rss0, rss1;
    int fd, stuck;
    size_t n;
    char *resp;

    /* A head over 8 KiB: 431, then closed. */
    memset(big, 'a', sizeof(big));
    memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
    fd = h_connect(m);
    h_send(fd, big, sizeof(big));
    n = h_recv_all(fd, buf, sizeof(buf) - 1);
    buf[n] = '\0';
    T_ASSERT(strncmp(buf, "HTTP/1.1 431 ", 13) == 0);
    close(fd);
    /* Binary: 400 at once. */
    resp = http(m, "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03");
    T_ASSERT(strncmp(resp, "HTTP/1.1 400 ", 13) == 0);
    free(resp);
    /* A request that never ends: closed at idle_timeout. */
    fd = h_connect(m);
    h_send_str(fd, "GET /metrics HTTP/1.1\r\nHost: t\r\n");
    T_ASSERT(h_wait_closed(fd, 3000));
    close(fd);
    /* A thousand pipelined requests: a thousand answers, in order. */
    {
        struct strbuf req;
        size_t got = 0, cap = 8 << 20;
        char *all = malloc(cap);
        int answers = 0;
        strbuf_init(&req, 1 << 20);
        for (int i = 0; i < 999; i++)
            strbuf_printf(&req, "GET /nope%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
        strbuf_printf(&req, "GET /status HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        fd = h_connect(m);
        h_send(fd, req.p, req.len);
        got = h_recv_all(fd, all, cap - 1);
        all[got] = '\0';
        for (char *p = all; (p = strstr(p, "HTTP/1.1 ")) != NULL; p++)
            answers++;
        T_EQ_INT(answers, 1000);
        T_CONTAINS(all, "\"services\":");
        close(fd);
        free(all);
        strbuf_free(&req);
    }
    /* A scraper that never reads: its responses wait, memory stays bounded, echo is served. */
    rss0 = h_rss_kb(d->pid);
    stuck = h_connect(m);
    {
        struct strbuf req;
        strbuf_init(&req, 1 << 20);
        for (int i = 0; i < 2000; i++)
            strbuf_printf(&req, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
        /* The daemon stops reading while a response waits: do not block on a full socket. */
        fd_set_nonblock(stuck);
        (void)!send(stuck, req.p, req.len, MSG_NOSIGNAL);
        strbuf_free(&req);
    }
    usleep(200000);
    fd = h_connect(h_addr(d, "echo", "tcp://"));
    h_echo_roundtrip(fd, "still served");
    close(fd);
    rss1 = h_rss_kb(d->pid);
    /* (Under ASan freed memory waits in its quarantine: RSS says nothing there.) */
    if (getenv("SANITIZE") == NULL && rss1 - rss0 > 16 * 1024)
        T_FAIL("the daemon grew by %ld KiB for a scraper that never reads", rss1 - rss0);
    close(stuck);
    T_ASSERT(h_alive(d));
}

static const struct t_case cases[] = {
    T_CASE(test_http_basics),
    T_CASE(test_status_is_valid_json_and_lists_connections),
    T_CASE(test_exact_counts_event),
    T_CASE(test_exact_counts_workers2),
    T_CASE(test_exact_counts_prefork2),
    T_CASE(test_exact_counts_fork),
    T_CASE_TIMEOUT(test_promtool_accepts_the_exposition, 120),
    T_CASE_TIMEOUT(test_real_prometheus_sees_the_counts, 180),
    T_CASE(test_counts_survive_a_killed_worker_and_a_reload),
    T_CASE(test_hostile_clients_bounded_and_answered),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
