/*
 * usher status (SPEC 15): the client against a fake metrics listener
 * written here, which serves canned `GET /status` replies of exactly the
 * document's shape, with counters that grow from one request to the
 * next; against `openssl s_server -WWW` for tls://; and --watch in a
 * real terminal, under tmux.  Asserted: the request (HTTP/1.1, Host,
 * Connection: close), the table and its rates, --json as received, the
 * watch's frames on a pipe and on a terminal, its end on SIGINT and
 * SIGTERM, and each failure's message and exit status: 404, garbage, a
 * body cut short, bad JSON, JSON of another shape, a server that never
 * answers, a refused connection, usage errors.
 */
#include "certs.h"
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUN_MS      10000
#define UPTIME_S    7384 /* "up 2h 03m" */
#define TOTAL(k)    (1000 + 250 * (k))
#define REQUEST_MAX 8192

/* What the fake server does with its k-th request (from 0). */
enum mode {
    SERVE_OK,        /* 200, Content-Length, the document of sample k */
    SERVE_CHUNKED,   /* the same, chunked in pieces of 100 bytes */
    SERVE_404,       /* 404 Not Found */
    SERVE_GARBAGE,   /* bytes that are no HTTP */
    SERVE_TRUNCATED, /* 200 with Content-Length 5000, 100 bytes, then the close */
    SERVE_BAD_JSON,  /* 200 with a document cut in the middle */
    SERVE_OTHER,     /* 200 with JSON that is no status document */
    SERVE_SILENT,    /* reads the request, never answers */
    SERVE_OK_THEN_404,
    SERVE_OK_THEN_SILENT,
};

struct fake {
    pid_t pid;
    char addr[200];    /* as usher takes it: "tcp://127.0.0.1:PORT", "unix:PATH" */
    char log[320];     /* the requests it got, one after another */
    long long started; /* the document's "started" */
};

/* The status document of sample k, SPEC 15's shape (malloc'd). */
static char *status_body(const struct fake *f, unsigned k)
{
    return h_fmt(
        "{\"version\":\"0.1.0\",\"pid\":4242,\"started\":%lld,\"config\":\"/etc/usherd.conf\","
        "\"reloads\":2,\"services\":["
        "{\"name\":\"echo\",\"listen\":[\"tcp://127.0.0.1:10007\",\"udp://127.0.0.1:10007\"],"
        "\"model\":\"event\",\"active\":3,\"total\":%u,"
        "\"refused\":{\"max_conns\":2,\"rate\":0,\"denied\":5},"
        "\"received_bytes\":%llu,\"sent_bytes\":%llu,\"children\":0},"
        "{\"name\":\"greeter\",\"listen\":[\"tcp://127.0.0.1:10100\"],\"model\":\"fork\","
        "\"active\":1,\"total\":18446744073709551615,\"refused\":{},\"received_bytes\":512,"
        "\"sent_bytes\":0,\"children\":1}],"
        "\"connections\":["
        "{\"service\":\"echo\",\"peer\":\"127.0.0.1:54321\",\"age_ms\":12345,\"pid\":4242},"
        "{\"service\":\"greeter\",\"peer\":\"[::1]:40000\",\"age_ms\":3723000,\"pid\":4250}]}",
        f->started, TOTAL(k), (unsigned long long)k << 20, (unsigned long long)k << 10);
}

/* Read a request up to its blank line (bounded, 2 s at most) and append it to the log. */
static void take_request(const struct fake *f, int fd)
{
    char req[REQUEST_MAX + 1];
    size_t len = 0;
    struct timeval tv = {2, 0};
    int logfd;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (len < REQUEST_MAX) {
        ssize_t n = read(fd, req + len, REQUEST_MAX - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    logfd = open(f->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (logfd >= 0) {
        write_all(logfd, req, len);
        close(logfd);
    }
}

static void reply(int fd, const char *text)
{
    write_all(fd, text, strlen(text));
}

static void reply_status(int fd, const char *body)
{
    reply(fd, h_fmt("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                    strlen(body), body));
}

static void reply_chunked(int fd, const char *body)
{
    size_t len = strlen(body);

    reply(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
              "Transfer-Encoding: chunked\r\n\r\n");
    for (size_t off = 0; off < len; off += 100) {
        size_t n = len - off < 100 ? len - off : 100;
        reply(fd, h_fmt("%zx\r\n%.*s\r\n", n, (int)n, body + off));
    }
    reply(fd, "0\r\n\r\n");
}

/* Answer request k; false: keep the connection open, unanswered. */
static bool serve(const struct fake *f, enum mode m, unsigned k, int fd)
{
    if (m == SERVE_SILENT || (m == SERVE_OK_THEN_SILENT && k > 0))
        return false;
    if (m == SERVE_404 || (m == SERVE_OK_THEN_404 && k > 0))
        reply(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nnot found\n");
    else if (m == SERVE_GARBAGE)
        reply(fd, "SSH-2.0-OpenSSH_9.2p1\r\n");
    else if (m == SERVE_TRUNCATED)
        reply(fd,
              h_fmt("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n%.100s", status_body(f, k)));
    else if (m == SERVE_BAD_JSON)
        reply_status(fd, "{\"version\":\"0.1.0\",\"pid\":");
    else if (m == SERVE_OTHER)
        reply_status(fd, "{\"hello\":\"world\"}");
    else if (m == SERVE_CHUNKED)
        reply_chunked(fd, status_body(f, k));
    else
        reply_status(fd, status_body(f, k));
    return true;
}

static void kill_fake(void);
static pid_t fake_pid;

/* The fake metrics listener on `listen` ("tcp://127.0.0.1:0", "unix:PATH"), in a child. */
static struct fake *fake_start(const char *listen, enum mode m)
{
    struct fake *f = calloc(1, sizeof(*f));
    int lfd;

    T_ASSERT(f != NULL);
    lfd = h_listen_socket(listen, f->addr, sizeof(f->addr));
    snprintf(f->log, sizeof(f->log), "%s/requests.log", h_tmpdir());
    f->started = (long long)time(NULL) - UPTIME_S;
    if ((f->pid = fork()) < 0)
        T_FAIL("fork: %s", strerror(errno));
    if (f->pid == 0) {
        for (unsigned k = 0;; k++) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0 && errno == EINTR)
                continue;
            if (fd < 0)
                _exit(1);
            take_request(f, fd);
            if (serve(f, m, k, fd))
                close(fd);
        }
    }
    close(lfd);
    fake_pid = f->pid;
    t_at_end(kill_fake);
    return f;
}

static void kill_fake(void)
{
    if (fake_pid > 0) {
        kill(fake_pid, SIGKILL);
        waitpid(fake_pid, NULL, 0);
        fake_pid = 0;
    }
}

/* Run usher with the arguments (NULL-ended). */
static void __attribute__((sentinel)) usher(struct h_result *r, ...)
{
    const char *argv[24];
    int argc = 0;
    va_list ap;

    argv[argc++] = h_usher();
    va_start(ap, r);
    while (argc < 23 && (argv[argc] = va_arg(ap, const char *)) != NULL)
        argc++;
    va_end(ap);
    argv[argc] = NULL;
    h_run(r, NULL, 0, RUN_MS, argv);
}

static void expect_failure(struct h_result *r, int code, const char *message)
{
    if (r->exit_code != code)
        T_FAIL("exit %d, want %d; stdout \"%s\", stderr \"%s\"", r->exit_code, code, r->out,
               r->err);
    T_CONTAINS(r->err, message);
    T_EQ_STR(r->out, "");
}

/*
 * The word in column `col` (from 0, blank-separated) of the line starting
 * with `start` (static: the next call overwrites it).
 */
static const char *column(const char *text, const char *start, int col)
{
    const char *line = text;
    static char word[64];

    while (line != NULL && strncmp(line, start, strlen(start)) != 0) {
        line = strchr(line, '\n');
        line = line != NULL ? line + 1 : NULL;
    }
    if (line == NULL)
        T_FAIL("no line starting \"%s\" in:\n%s", start, text);
    for (int c = 0; c <= col; c++) {
        size_t n;
        while (*line == ' ')
            line++;
        n = strcspn(line, " \n");
        if (c == col) {
            snprintf(word, sizeof(word), "%.*s", (int)n, line);
            return word;
        }
        line += n;
    }
    return NULL;
}

/* The table: two samples, the second's counters, and the rates between them. */
static void test_table(void)
{
    struct fake *f = fake_start("tcp://127.0.0.1:0", SERVE_OK);
    char *log;
    struct h_result r;
    double rate;

    usher(&r, "status", "-i", "300ms", f->addr, NULL);
    if (r.exit_code != 0)
        T_FAIL("exit %d: %s", r.exit_code, r.err);
    T_CONTAINS(r.out, "usherd 0.1.0  pid 4242  up 2h 03m  reloads 2  config /etc/usherd.conf\n"
                      "SERVICE  MODEL  ACTIVE                 TOTAL  CONN/S  REFUSED  RECEIVED"
                      "   RECV/S     SENT   SENT/S  CHILDREN\n");
    T_EQ_STR(column(r.out, "echo ", 3), "1250");
    T_EQ_STR(column(r.out, "echo ", 5), "7");
    T_EQ_STR(column(r.out, "echo ", 6), "1.0");
    T_EQ_STR(column(r.out, "echo ", 7), "MiB");
    T_CONTAINS(r.out, "\n  refused: max_conns 2, denied 5\n");
    T_CONTAINS(r.out, "\ngreeter  fork        1  18446744073709551615     0.0        0     512 B"
                      "      0 B      0 B      0 B         1\n");
    T_CONTAINS(r.out, "\nSERVICE  PEER                AGE   PID\n"
                      "echo     127.0.0.1:54321     12s  4242\n"
                      "greeter  [::1]:40000      1h 02m  4250\n");
    /* 250 connections in about 300 ms: 250/s at the least (a slow machine), 833/s at most. */
    rate = strtod(column(r.out, "echo ", 4), NULL);
    if (rate < 250 || rate > 834)
        T_FAIL("CONN/S %g for 250 connections 300 ms apart:\n%s", rate, r.out);
    T_EQ_STR(r.err, "");
    log = h_read_file(f->log);
    T_EQ_INT(h_count_file(f->log, "GET /status HTTP/1.1\r\n"), 2);
    T_CONTAINS(log, h_fmt("GET /status HTTP/1.1\r\nHost: %s\r\n", f->addr + strlen("tcp://")));
    T_CONTAINS(log, "\r\nConnection: close\r\n");
    T_CONTAINS(log, "\r\nAccept: application/json\r\n");
    h_result_free(&r);
}

/* --json: one request, the body exactly as received, with a newline after it. */
static void test_json(void)
{
    struct fake *f = fake_start("tcp://127.0.0.1:0", SERVE_OK);
    struct h_result r;

    usher(&r, "status", "--json", f->addr, NULL);
    if (r.exit_code != 0)
        T_FAIL("exit %d: %s", r.exit_code, r.err);
    T_EQ_STR(r.out, h_fmt("%s\n", status_body(f, 0)));
    T_EQ_INT(h_count_file(f->log, "GET /status HTTP/1.1\r\n"), 1);
    h_result_free(&r);
}

/* HOST PORT, and options before the command word. */
static void test_host_port(void)
{
    struct fake *f = fake_start("tcp://127.0.0.1:0", SERVE_CHUNKED);
    struct h_result r;

    usher(&r, "-w", "2", "status", "--json", "127.0.0.1", h_fmt("%d", h_port(f->addr)), NULL);
    if (r.exit_code != 0)
        T_FAIL("exit %d: %s", r.exit_code, r.err);
    T_EQ_STR(r.out, h_fmt("%s\n", status_body(f, 0)));
    h_result_free(&r);
}

/* A Unix socket; the body chunked. */
static void test_unix_chunked(void)
{
    struct fake *f = fake_start(h_fmt("unix:%s/metrics.sock", h_tmpdir()), SERVE_CHUNKED);
    struct h_result r;

    usher(&r, "status", "-i", "100ms", f->addr, NULL);
    if (r.exit_code != 0)
        T_FAIL("exit %d: %s", r.exit_code, r.err);
    T_EQ_STR(column(r.out, "echo ", 3), "1250");
    T_CONTAINS(h_read_file(f->log), "GET /status HTTP/1.1\r\nHost: localhost\r\n");
    h_result_free(&r);
}

static const struct {
    enum mode mode;
    const char *message; /* after "usher: tcp://127.0.0.1:PORT" */
} failures[] = {
    {SERVE_404, ": HTTP 404 Not Found\n"},
    {SERVE_GARBAGE, ": not an HTTP reply\n"},
    {SERVE_TRUNCATED, ": reply cut short: 100 of its 5000 bytes\n"},
    {SERVE_BAD_JSON, "/status: not JSON: offset 25: unexpected end of input, expected a value\n"},
    {SERVE_OTHER, "/status: not a usherd status: no \"version\"\n"},
};

/* Each failure: exit 1, one line naming the address and the cause, nothing on stdout. */
static void test_failures(void)
{
    for (size_t i = 0; i < ARRAY_LEN(failures); i++) {
        struct fake *f = fake_start("tcp://127.0.0.1:0", failures[i].mode);
        struct h_result r;
        usher(&r, "status", "--json", f->addr, NULL);
        expect_failure(&r, 1, h_fmt("usher: %s%s", f->addr, failures[i].message));
        usher(&r, "status", "-i", "100ms", f->addr, NULL);
        expect_failure(&r, 1, h_fmt("usher: %s%s", f->addr, failures[i].message));
        kill_fake();
        unlink(f->log);
    }
}

/* A server that never answers: -w bounds the wait for the reply. */
static void test_timeout(void)
{
    struct fake *f = fake_start("tcp://127.0.0.1:0", SERVE_SILENT);
    int64_t start = h_now_ms();
    struct h_result r;

    usher(&r, "status", "-w", "300ms", f->addr, NULL);
    expect_failure(&r, 1, h_fmt("usher: %s: timed out waiting for the reply\n", f->addr));
    if (h_now_ms() - start < 300 || h_now_ms() - start > 3000 * (int)t_scale())
        T_FAIL("gave up after %lld ms, -w 300ms", (long long)(h_now_ms() - start));
}

static void test_refused(void)
{
    char *addr = h_fmt("tcp://127.0.0.1:%d", h_free_port("tcp"));
    struct h_result r;

    usher(&r, "status", addr, NULL);
    expect_failure(&r, 1, h_fmt("usher: unable to connect to %s: Connection refused\n", addr));
    usher(&r, "status", "--watch", addr, NULL);
    expect_failure(&r, 1, h_fmt("usher: unable to connect to %s: Connection refused\n", addr));
}

static void test_usage(void)
{
    struct h_result r;

    usher(&r, "status", "udp://127.0.0.1:9100", NULL);
    expect_failure(&r, 2, "usher: status speaks HTTP: it needs a stream address");
    usher(&r, "status", "unixgram:/tmp/x", NULL);
    expect_failure(&r, 2, "usher: status speaks HTTP: it needs a stream address");
    usher(&r, "status", "-u", "127.0.0.1", "9100", NULL);
    expect_failure(&r, 2, "usher: status speaks HTTP: it needs a stream address");
    usher(&r, "--watch", "tcp://127.0.0.1:9100", NULL);
    expect_failure(&r, 2, "usher: --watch, --json and -i go with usher status");
    usher(&r, "time", "--json", "tcp://127.0.0.1:9100", NULL);
    expect_failure(&r, 2, "usher: --watch, --json and -i go with usher status");
    usher(&r, "status", "-i", "0", "tcp://127.0.0.1:9100", NULL);
    expect_failure(&r, 2, "usher: -i '0': expected a time above zero");
    usher(&r, "status", NULL);
    expect_failure(&r, 2, "usher: missing ADDRESS");
    usher(&r, "status", "--insecure", "tcp://127.0.0.1:9100", NULL);
    expect_failure(&r, 2, "usher: the TLS options go with a tls:// address");
}

/* A running usher whose stdout and stderr the test reads. */
struct child {
    pid_t pid;
    int out_fd, err_fd;
};

static void child_start(struct child *c, const char *const argv[])
{
    int out[2], err[2];

    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
        T_FAIL("pipe: %s", strerror(errno));
    if ((c->pid = fork()) < 0)
        T_FAIL("fork: %s", strerror(errno));
    if (c->pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
            _exit(126);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    c->out_fd = out[0];
    c->err_fd = err[0];
}

/* Read the child's stdout until `needle` occurs `n` times (or fail after `ms`); the text so far. */
static char *read_until(struct child *c, const char *needle, int n, int ms)
{
    int64_t deadline = h_now_ms() + ms * (int)t_scale();
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);

    T_ASSERT(buf != NULL);
    buf[0] = '\0';
    for (;;) {
        struct pollfd p = {.fd = c->out_fd, .events = POLLIN};
        int count = 0;
        ssize_t got;
        for (const char *at = buf; (at = strstr(at, needle)) != NULL; at++)
            count++;
        if (count >= n)
            return buf;
        if (h_now_ms() >= deadline || poll(&p, 1, (int)(deadline - h_now_ms())) <= 0)
            T_FAIL("%d times \"%s\" not seen in %d ms; got:\n%s", n, needle, ms, buf);
        if (len == cap || (got = read(c->out_fd, buf + len, cap - len)) <= 0)
            T_FAIL("usher's output ended or overflowed after:\n%s", buf);
        len += (size_t)got;
        buf[len] = '\0';
    }
}

/* Wait for the child's exit, bounded; its exit code. */
static int child_wait(struct child *c, int ms)
{
    int64_t deadline = h_now_ms() + ms * (int)t_scale();
    int status;

    do {
        if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
            if (!WIFEXITED(status))
                T_FAIL("usher died of signal %d", WTERMSIG(status));
            return WEXITSTATUS(status);
        }
        usleep(2000);
    } while (h_now_ms() < deadline);
    kill(c->pid, SIGKILL);
    T_FAIL("usher still running %d ms after it was told to stop", ms);
}

static const char *const *watch_argv(const char *addr, const char *interval)
{
    static const char *argv[8];

    argv[0] = h_usher();
    argv[1] = "status";
    argv[2] = "--watch";
    argv[3] = "-i";
    argv[4] = interval;
    argv[5] = addr;
    argv[6] = NULL;
    return argv;
}

/* --watch on a pipe: a table per sample, a blank line between, no escapes; SIGINT ends it, 0. */
static void test_watch_pipe(void)
{
    struct fake *f = fake_start("tcp://127.0.0.1:0", SERVE_OK);
    struct child c;
    char *out, *title = h_fmt("usher status %s  every 100ms  ", f->addr);

    child_start(&c, watch_argv(f->addr, "100ms"));
    out = read_until(&c, title, 4, 5000);
    T_ASSERT(strchr(out, '\033') == NULL);
    T_ASSERT(strncmp(out, title, strlen(title)) == 0);
    T_CONTAINS(out, "CHILDREN\necho     event       3                  1000       -");
    T_CONTAINS(out, "\n\nusher status ");
    T_CONTAINS(out, "  1250  ");
    T_CONTAINS(out, "  1500  ");
    kill(c.pid, SIGINT);
    T_EQ_INT(child_wait(&c, 2000), 0);
    T_EQ_STR(h_read_file(h_fmt("/proc/self/fd/%d", c.err_fd)), "");
}

/* A failure after the first sample is shown, and the watch goes on; SIGTERM ends it, 0. */
static void test_watch_failure_shown(void)
{
    struct fake *f = fake_start("tcp://127.0.0.1:0", SERVE_OK_THEN_404);
    struct child c;
    char *error = h_fmt("\nerror: %s: HTTP 404 Not Found\n", f->addr);

    child_start(&c, watch_argv(f->addr, "100ms"));
    read_until(&c, error, 2, 5000);
    kill(c.pid, SIGTERM);
    T_EQ_INT(child_wait(&c, 2000), 0);
}

/* SIGINT while a reply is awaited ends the watch at once, not at -w (5 s). */
static void test_watch_stops_waiting(void)
{
    struct fake *f = fake_start("tcp://127.0.0.1:0", SERVE_OK_THEN_SILENT);
    struct child c;
    int64_t start;

    child_start(&c, watch_argv(f->addr, "100ms"));
    read_until(&c, "CHILDREN\n", 1, 5000);
    T_ASSERT(h_wait_file(f->log, "GET /status", 2, 5000)); /* the second request is out */
    start = h_now_ms();
    kill(c.pid, SIGINT);
    T_EQ_INT(child_wait(&c, 2000), 0);
    if (h_now_ms() - start > 1000 * (int)t_scale())
        T_FAIL("%lld ms to stop", (long long)(h_now_ms() - start));
}

/* --watch --json: one document per sample, each as received. */
static void test_watch_json(void)
{
    struct fake *f = fake_start("tcp://127.0.0.1:0", SERVE_OK);
    const char *argv[] = {h_usher(), "status", "--watch", "--json", "-i", "100ms", f->addr, NULL};
    struct child c;
    char *out;

    child_start(&c, argv);
    out = read_until(&c, "]}\n", 3, 5000);
    T_ASSERT(strncmp(out, h_fmt("%s\n%s\n", status_body(f, 0), status_body(f, 1)),
                     strlen(status_body(f, 0)) + strlen(status_body(f, 1)) + 2) == 0);
    kill(c.pid, SIGINT);
    T_EQ_INT(child_wait(&c, 2000), 0);
}

/* tls://, against openssl s_server -WWW serving a file named "status" (a close-ended body). */
static void test_tls(void)
{
    const struct certs *pki;
    struct fake doc = {.started = (long long)time(NULL) - UPTIME_S};
    char *dir = h_fmt("%s/www", h_tmpdir()), *body, *log = h_fmt("%s/s_server.log", h_tmpdir());
    int port = h_free_port("tcp");
    struct h_result r;
    pid_t pid;

    h_need("openssl", "openssl");
    pki = certs_get();
    body = status_body(&doc, 0);
    T_ASSERT(mkdir(dir, 0700) == 0);
    h_write_file(h_fmt("%s/status", dir), body);
    if ((pid = fork()) < 0)
        T_FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || chdir(dir) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execlp("openssl", "openssl", "s_server", "-WWW", "-accept", h_fmt("127.0.0.1:%d", port),
               "-cert", pki->server.cert, "-key", pki->server.key, (char *)NULL);
        _exit(127);
    }
    fake_pid = pid;
    t_at_end(kill_fake);
    T_ASSERT(h_wait_file(log, "ACCEPT", 1, 5000));
    usher(&r, "status", "--json", "--ca", pki->ca.cert, h_fmt("tls://127.0.0.1:%d", port), NULL);
    if (r.exit_code != 0)
        T_FAIL("exit %d: %s", r.exit_code, r.err);
    T_EQ_STR(r.out, h_fmt("%s\n", body));
    /* Unverified, the TLS options' usual failure. */
    usher(&r, "status", "--json", h_fmt("tls://127.0.0.1:%d", port), NULL);
    expect_failure(&r, 1, "TLS handshake failed: certificate verify failed");
}

/* tmux, on a server of the case's own (its socket in the case's directory). */
static char *tmux_socket;
static pid_t tmux_server;

static void __attribute__((sentinel)) tmux(struct h_result *r, ...)
{
    const char *argv[24] = {"tmux", "-S", tmux_socket, "-f", "/dev/null"};
    int argc = 5;
    va_list ap;

    va_start(ap, r);
    while (argc < 23 && (argv[argc] = va_arg(ap, const char *)) != NULL)
        argc++;
    va_end(ap);
    argv[argc] = NULL;
    h_run(r, NULL, 0, RUN_MS, argv);
}

/* The tmux server leaves the case's process group: it is stopped by name and then by pid. */
static void kill_tmux(void)
{
    struct h_result r;

    tmux(&r, "kill-server", NULL);
    if (tmux_server > 0)
        kill(tmux_server, SIGKILL);
}

static char *pane(void)
{
    struct h_result r;

    tmux(&r, "capture-pane", "-p", "-t", "status", NULL);
    if (r.exit_code != 0)
        T_FAIL("tmux capture-pane: %s", r.err);
    return r.out;
}

/* The pane once it contains `needle` and, if `differs` is not NULL, is not that text. */
static char *wait_pane(const char *needle, const char *differs, int ms)
{
    int64_t deadline = h_now_ms() + ms * (int)t_scale();
    char *text;

    do {
        text = pane();
        if (strstr(text, needle) != NULL && (differs == NULL || strcmp(text, differs) != 0))
            return text;
        usleep(20000);
    } while (h_now_ms() < deadline);
    T_FAIL("no \"%s\" in the pane after %d ms:\n%s", needle, ms, text);
}

static int count(const char *text, const char *needle)
{
    int n = 0;

    for (const char *at = text; (at = strstr(at, needle)) != NULL; at++)
        n++;
    return n;
}

/*
 * --watch on a terminal: typed into a shell in tmux, the table is drawn at
 * the top of the screen and redrawn in place with new counts and rates
 * (never scrolling: the title is on the first line, once); Ctrl-C ends it
 * with status 0, the table left on the screen.
 */
static void test_watch_terminal(void)
{
    struct fake *f = fake_start("tcp://127.0.0.1:0", SERVE_OK);
    char *first, *second, *total, *title = h_fmt("usher status %s  every 300ms  ", f->addr);
    struct h_result r;

    h_need("tmux", "tmux");
    tmux_socket = h_fmt("%s/tmux.sock", h_tmpdir());
    setenv("TERM", "xterm", 0);
    t_at_end(kill_tmux);
    tmux(&r, "new-session", "-d", "-s", "status", "-x", "150", "-y", "40", "sh", NULL);
    if (r.exit_code != 0)
        t_skip("tmux cannot start a session here: %s", r.err);
    tmux(&r, "display-message", "-p", "-t", "status", "#{pid}", NULL);
    tmux_server = (pid_t)strtol(r.out, NULL, 10);
    tmux(&r, "send-keys", "-t", "status",
         h_fmt("%s status --watch -i 300ms %s; echo EXIT=$?", h_usher(), f->addr), "Enter", NULL);
    T_EQ_INT(r.exit_code, 0);
    first = wait_pane("CHILDREN", NULL, 5000);
    T_ASSERT(strncmp(first, title, strlen(title)) == 0);
    second = wait_pane("CHILDREN", first, 5000);
    second = wait_pane("CHILDREN", second, 5000); /* two redraws: the rates are known */
    if (strncmp(second, title, strlen(title)) != 0 || count(second, "usher status ") != 1 ||
        count(second, "\necho ") != 2 /* the service and a connection */)
        T_FAIL("not redrawn in place; first:\n%s\nthen:\n%s", first, second);
    total = h_fmt("%s", column(first, "echo     event", 3));
    if (strcmp(total, column(second, "echo     event", 3)) == 0)
        T_FAIL("the same total twice:\n%s\nthen:\n%s", first, second);
    if (strcmp(column(second, "echo     event", 4), "-") == 0)
        T_FAIL("no rate after three samples:\n%s", second);
    T_ASSERT(strchr(second, '\033') == NULL);
    tmux(&r, "send-keys", "-t", "status", "C-c", NULL);
    second = wait_pane("EXIT=0", NULL, 3000);
    T_CONTAINS(second, "CHILDREN"); /* the last table stays */
}

/* The real thing: usherd's own builtin = metrics, with counts made here. */
static void test_against_usherd(void)
{
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "[shut]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "deny = 127.0.0.0/8\n"
                                 "[metrics]\nlisten = tcp://127.0.0.1:0 unix:@DIR@/m.sock\n"
                                 "builtin = metrics\n",
                                 NULL);
    struct h_result r;
    int held;

    for (int i = 0; i < 5; i++) {
        int fd = h_connect(h_addr(d, "echo", "tcp://"));
        h_echo_roundtrip(fd, "hello");
        close(fd);
    }
    held = h_connect(h_addr(d, "echo", "tcp://"));
    h_echo_roundtrip(held, "held");
    for (int i = 0; i < 2; i++) {
        int fd = h_connect(h_addr(d, "shut", "tcp://"));
        T_ASSERT(h_wait_closed(fd, 2000));
        close(fd);
    }
    T_ASSERT(h_wait_log_count(d, "end=denied", 2, 2000));
    usher(&r, "status", "-i", "200ms", h_addr(d, "metrics", "unix:"), NULL);
    if (r.exit_code != 0)
        T_FAIL("exit %d: %s", r.exit_code, r.err);
    T_CONTAINS(r.out, h_fmt("usherd 0.1.0  pid %ld  up ", (long)d->pid));
    T_EQ_STR(column(r.out, "echo ", 1), "event");
    T_EQ_STR(column(r.out, "echo ", 2), "1"); /* active: the held one */
    T_EQ_STR(column(r.out, "echo ", 3), "6");
    T_EQ_STR(column(r.out, "shut ", 5), "2");
    T_CONTAINS(r.out, "  refused: denied 2\n");
    T_CONTAINS(r.out, h_fmt(" 127.0.0.1:%d ", h_local_port(held))); /* in the connections */
    h_result_free(&r);
    usher(&r, "status", "--json", h_addr(d, "metrics", "tcp://"), NULL);
    T_EQ_INT(r.exit_code, 0);
    T_CONTAINS(r.out, "{\"name\":\"echo\",\"listen\":[");
    h_result_free(&r);
    close(held);
}

static const struct t_case cases[] = {
    T_CASE(test_against_usherd),
    T_CASE(test_table),
    T_CASE(test_json),
    T_CASE(test_host_port),
    T_CASE(test_unix_chunked),
    T_CASE(test_failures),
    T_CASE(test_timeout),
    T_CASE(test_refused),
    T_CASE(test_usage),
    T_CASE(test_watch_pipe),
    T_CASE(test_watch_failure_shown),
    T_CASE(test_watch_stops_waiting),
    T_CASE(test_watch_json),
    T_CASE(test_tls),
    T_CASE(test_watch_terminal),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
