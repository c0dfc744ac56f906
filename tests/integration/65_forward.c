/*
 * Forwarding (SPEC 14): a forward service relays each connection to the
 * first backend that accepts, tcp:// or unix:, tried in order; half-close
 * both ways, backpressure with bounded memory, idle_timeout, and the
 * connection line (backend=, or end=forward:ERR backends=A,B).
 */
#include "harness.h"
#include "proxy.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A backend usherd with an echo on TCP and on a Unix socket. */
static struct h_daemon *start_backend(void)
{
    return h_start("[echo]\nlisten = tcp://127.0.0.1:0 unix:@DIR@/echo.sock\nbuiltin = echo\n",
                   NULL);
}

/* A front usherd forwarding [fwd] to `backends`, with `extra` keys. */
static struct h_daemon *start_front(const char *backends, const char *extra)
{
    char *conf = h_fmt("[fwd]\nlisten = tcp://127.0.0.1:0\nforward = %s\n%s", backends, extra);
    struct h_daemon *d = h_start(conf, NULL);

    free(conf);
    return d;
}

static void test_forward_to_a_tcp_backend(void)
{
    /* Scenario: [fwd] forwards to a backend usherd's echo; a round trip, then
     * the client half-closes.  Asserted: the echo comes back, the client
     * gets EOF after it (the half-close went through to the backend and its
     * close came back), and the line names the backend with the bytes. */
    struct h_daemon *b = start_backend();
    const char *echo = h_addr(b, "echo", "tcp://");
    struct h_daemon *f = start_front(echo, "");
    int fd = h_connect(h_addr(f, "fwd", "tcp://"));
    char buf[64];

    h_echo_roundtrip(fd, "through the relay\n");
    shutdown(fd, SHUT_WR);
    T_EQ_INT((int)h_recv_all(fd, buf, sizeof(buf)), 0);
    close(fd);
    T_ASSERT(h_wait_log(f, "usherd: service=fwd ", 2000));
    T_CONTAINS(h_log_line(f, "usherd: service=fwd "), " in=18 out=18 end=closed backend=");
    T_CONTAINS(h_log_line(f, "usherd: service=fwd "), echo);
}

static void test_forward_to_a_unix_backend(void)
{
    struct h_daemon *b = start_backend();
    const char *sock = h_addr(b, "echo", "unix:");
    struct h_daemon *f = start_front(sock, "");
    int fd = h_connect(h_addr(f, "fwd", "tcp://"));

    h_echo_roundtrip(fd, "to a unix socket");
    close(fd);
    T_ASSERT(h_wait_log(f, "usherd: service=fwd ", 2000));
    T_CONTAINS(h_log_line(f, "usherd: service=fwd "), h_fmt(" backend=%s", sock));
}

static void test_second_backend_when_the_first_refuses(void)
{
    /* Scenario: the first backend is a port nobody listens on.  Asserted:
     * the connection is served by the second, and the line says which. */
    struct h_daemon *b = start_backend();
    const char *echo = h_addr(b, "echo", "tcp://");
    char *backends = h_fmt("tcp://127.0.0.1:%d %s", h_free_port("tcp"), echo);
    struct h_daemon *f = start_front(backends, "");
    int fd = h_connect(h_addr(f, "fwd", "tcp://"));

    h_echo_roundtrip(fd, "second time lucky");
    close(fd);
    T_ASSERT(h_wait_log(f, "usherd: service=fwd ", 2000));
    T_CONTAINS(h_log_line(f, "usherd: service=fwd "), h_fmt("end=closed backend=%s", echo));
}

static void test_no_backend_reachable(void)
{
    /* Scenario: both backends refuse.  Asserted: the client is closed with
     * nothing sent, and the line gives the last cause and both backends. */
    int p1 = h_free_port("tcp"), p2 = h_free_port("tcp");
    char *backends = h_fmt("tcp://127.0.0.1:%d tcp://127.0.0.1:%d", p1, p2);
    struct h_daemon *f = start_front(backends, "");
    int fd = h_connect(h_addr(f, "fwd", "tcp://"));
    char buf[16];

    T_EQ_INT((int)h_recv_all(fd, buf, sizeof(buf)), 0);
    close(fd);
    T_ASSERT(h_wait_log(f, "end=forward:", 2000));
    T_CONTAINS(h_log_line(f, "end=forward:"),
               h_fmt("in=0 out=0 end=forward:ECONNREFUSED backends=tcp://127.0.0.1:%d,"
                     "tcp://127.0.0.1:%d",
                     p1, p2));
}

static void test_connect_timeout(void)
{
    /* Scenario: the only backend's listen queue is full, so its SYNs go
     * unanswered; connect_timeout = 200ms.  Asserted: the client is closed
     * and the line says ETIMEDOUT. */
    char bound[128];
    int lfd = h_listen_socket("tcp://127.0.0.1:0", bound, sizeof(bound));
    int filler[4], fd;
    struct h_daemon *f;
    char buf[8];

    listen(lfd, 0);
    for (int i = 0; i < 4; i++) /* never accepted: the queue stays full */
        filler[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    for (int i = 0; i < 4; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        getsockname(lfd, (struct sockaddr *)&ss, &len);
        connect(filler[i], (struct sockaddr *)&ss, len);
    }
    usleep(100000); /* the handshakes of the fillers settle */
    f = start_front(bound, "connect_timeout = 200ms\n");
    fd = h_connect(h_addr(f, "fwd", "tcp://"));
    T_EQ_INT((int)h_recv_all(fd, buf, sizeof(buf)), 0);
    T_ASSERT(h_wait_log(f, "end=forward:", 3000));
    T_CONTAINS(h_log_line(f, "end=forward:"), "end=forward:ETIMEDOUT backends=");
    for (int i = 0; i < 4; i++)
        close(filler[i]);
    close(lfd);
}

static void test_idle_timeout_applies(void)
{
    struct h_daemon *b = start_backend();
    struct h_daemon *f = start_front(h_addr(b, "echo", "tcp://"), "idle_timeout = 300ms\n");
    int fd = h_connect(h_addr(f, "fwd", "tcp://"));

    h_echo_roundtrip(fd, "then silence");
    if (!h_wait_closed(fd, 5000))
        T_FAIL("the idle connection was not closed");
    T_ASSERT(h_wait_log(f, "usherd: service=fwd ", 2000));
    T_CONTAINS(h_log_line(f, "usherd: service=fwd "), "end=timeout backend=");
}

/* The byte at offset `i` of the test stream: a function of the offset, so checking needs no copy.
 */
static uint8_t pattern(uint64_t i)
{
    return (uint8_t)((i >> 9) ^ (i * 131) ^ (i >> 17));
}

/* Push `total` bytes through fd while checking what comes back; half-close at the end. */
static void push_and_check(int fd, uint64_t total)
{
    static char out[65536], in[65536];
    uint64_t sent = 0, got = 0;

    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    while (got < total) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0)};
        if (poll(&p, 1, 10000 * (int)t_scale()) <= 0)
            T_FAIL("stalled at %llu back of %llu sent", (unsigned long long)got,
                   (unsigned long long)sent);
        if ((p.revents & POLLOUT) && sent < total) {
            size_t len = total - sent < sizeof(out) ? (size_t)(total - sent) : sizeof(out);
            ssize_t n;
            for (size_t i = 0; i < len; i++)
                out[i] = (char)pattern(sent + i);
            n = send(fd, out, len, MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN)
                T_FAIL("send: %s", strerror(errno));
            if (n > 0 && (sent += (uint64_t)n) == total)
                shutdown(fd, SHUT_WR);
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(fd, in, sizeof(in), 0);
            if (n == 0)
                T_FAIL("EOF after %llu of %llu bytes", (unsigned long long)got,
                       (unsigned long long)total);
            if (n < 0 && errno != EAGAIN)
                T_FAIL("recv: %s", strerror(errno));
            for (ssize_t i = 0; i < n; i++)
                if ((uint8_t)in[i] != pattern(got + (uint64_t)i))
                    T_FAIL("byte %llu differs", (unsigned long long)(got + (uint64_t)i));
            if (n > 0)
                got += (uint64_t)n;
        }
    }
}

static void test_a_gigabyte_both_ways(void)
{
    /* Scenario: 1 GiB sent through the relay to the backend's echo while
     * reading it back.  Asserted: every byte comes back in order, and the
     * line counts 1 GiB each way. */
    struct h_daemon *b = start_backend();
    struct h_daemon *f = start_front(h_addr(b, "echo", "tcp://"), "");
    int fd = h_connect(h_addr(f, "fwd", "tcp://"));
    uint64_t total = 1ULL << 30;

    push_and_check(fd, total);
    close(fd);
    T_ASSERT(h_wait_log(f, "usherd: service=fwd ", 5000));
    T_CONTAINS(h_log_line(f, "usherd: service=fwd "), " in=1073741824 out=1073741824 end=closed");
}

static void test_backend_that_stops_reading(void)
{
    /* Scenario: the backend accepts and never reads; the client pushes 50 MiB.
     * Asserted: writes block (backpressure), usherd grows by less than
     * 8 MiB, and it still serves another connection. */
    char bound[128], chunk[65536];
    int lfd = h_listen_socket("tcp://127.0.0.1:0", bound, sizeof(bound));
    struct h_daemon *f = start_front(bound, "");
    int fd = h_connect(h_addr(f, "fwd", "tcp://")), held;
    uint64_t sent = 0;
    long rss0 = h_rss_kb(f->pid), rss1;

    held = accept(lfd, NULL, NULL);
    T_ASSERT(held >= 0);
    memset(chunk, 'x', sizeof(chunk));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    for (int quiet = 0; quiet < 5 && sent < (50u << 20);) {
        ssize_t n = send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL);
        if (n > 0) {
            sent += (uint64_t)n;
            quiet = 0;
            continue;
        }
        quiet++;
        usleep(50000); /* nothing goes in: is it for good? */
    }
    rss1 = h_rss_kb(f->pid);
    t_note("writes blocked after %llu KiB; usherd RSS %ld -> %ld KiB",
           (unsigned long long)(sent >> 10), rss0, rss1);
    if (sent >= (50u << 20))
        T_FAIL("all 50 MiB went in: no backpressure");
    if (rss1 - rss0 > 8 * 1024)
        T_FAIL("usherd grew by %ld KiB", rss1 - rss0);
    close(fd);
    close(held);
    close(lfd);
}

static void test_pipes_reused_clean(void)
{
    /* Scenario: a first connection fills its relay's pipes, then the
     * backend resets it without reading, so the relay ends with bytes in a
     * pipe; a second connection follows.  Asserted: the second one's bytes
     * arrive as they were sent, both ways: no pipe that kept bytes is used
     * again (the relays' pipes go to a pool for the next connections). */
    char bound[128], chunk[65536], buf[16];
    int lfd = h_listen_socket("tcp://127.0.0.1:0", bound, sizeof(bound));
    struct h_daemon *f = start_front(bound, "");
    int fd = h_connect(h_addr(f, "fwd", "tcp://")), back;
    struct linger lg = {1, 0};

    back = accept(lfd, NULL, NULL);
    T_ASSERT(back >= 0);
    memset(chunk, 'x', sizeof(chunk));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    for (int quiet = 0; quiet < 4;) {
        if (send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL) > 0) {
            quiet = 0;
            continue;
        }
        quiet++;
        usleep(50000); /* nothing goes in: the relay and its pipe are full */
    }
    T_ASSERT(setsockopt(back, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
    close(back); /* a reset, with what the relay holds unread */
    T_ASSERT(h_wait_log(f, "usherd: service=fwd ", 2000));
    close(fd);

    fd = h_connect(h_addr(f, "fwd", "tcp://"));
    h_send_str(fd, "fresh");
    back = accept(lfd, NULL, NULL);
    T_ASSERT(back >= 0);
    h_set_timeout(back, 2000);
    h_recv_exact(back, buf, 5);
    T_EQ_MEM(buf, "fresh", 5);
    h_send_str(back, "reply");
    h_recv_exact(fd, buf, 5);
    T_EQ_MEM(buf, "reply", 5);
    close(fd);
    close(back);
    close(lfd);
}

/* CPU used so far by usherd and its processes (a model may relay in a child). */
static long daemon_cpu_ms(const struct h_daemon *d)
{
    pid_t pids[16];
    int n = h_daemon_children(d, pids, 16);
    long ms = h_cpu_ms(d->pid);

    for (int i = 0; i < n; i++)
        ms += h_cpu_ms(pids[i]);
    return ms;
}

static void test_urgent_byte_does_not_spin(void)
{
    /* Scenario: a relayed client sends "hello", then one byte with MSG_OOB
     * (TCP urgent data), then "more", and stays.  Asserted: the backend
     * gets "hellomore" (the urgent byte is not part of the stream, as for
     * any reader without SO_OOBINLINE): the relay does not stall at the
     * urgent mark; over the next second usherd uses under 300 ms of CPU
     * (more for slow builds): splice, which stops at the mark and says
     * EAGAIN on a socket still readable, is not called again and again. */
    char bound[128], buf[16];
    int lfd = h_listen_socket("tcp://127.0.0.1:0", bound, sizeof(bound));
    struct h_daemon *f = start_front(bound, "");
    int fd = h_connect(h_addr(f, "fwd", "tcp://")), back;
    long cpu0, cpu1;

    back = accept(lfd, NULL, NULL);
    T_ASSERT(back >= 0);
    h_set_timeout(back, 2000);
    h_send_str(fd, "hello");
    h_recv_exact(back, buf, 5);
    T_ASSERT(send(fd, "X", 1, MSG_OOB) == 1);
    h_send_str(fd, "more");
    h_recv_exact(back, buf, 4);
    T_EQ_MEM(buf, "more", 4);
    cpu0 = daemon_cpu_ms(f);
    usleep(1000000); /* the measurement window: the client idle after its urgent byte */
    cpu1 = daemon_cpu_ms(f);
    t_note("1 s after an urgent byte: %ld ms of CPU", cpu1 - cpu0);
    if (cpu1 - cpu0 > 300 * (long)t_scale())
        T_FAIL("usherd used %ld ms of CPU in 1 s after an urgent byte", cpu1 - cpu0);
    h_send_str(back, "reply");
    h_set_timeout(fd, 2000);
    h_recv_exact(fd, buf, 5);
    T_EQ_MEM(buf, "reply", 5);
    close(fd);
    close(back);
    close(lfd);
}

static void test_client_reset_passed_on(void)
{
    /* Scenario: a relayed client makes a round trip, then resets its
     * connection (SO_LINGER 0).  Asserted: the backend sees a reset too,
     * not an end of data (as a balancer passes an abort, and no closed
     * connection to the backend waits in TIME_WAIT in usherd). */
    char bound[128], buf[8];
    int lfd = h_listen_socket("tcp://127.0.0.1:0", bound, sizeof(bound));
    struct h_daemon *f = start_front(bound, "");
    int fd = h_connect(h_addr(f, "fwd", "tcp://")), back;
    struct linger lg = {1, 0};
    ssize_t n;

    h_send_str(fd, "ping");
    back = accept(lfd, NULL, NULL);
    T_ASSERT(back >= 0);
    h_set_timeout(back, 2000);
    h_recv_exact(back, buf, 4);
    h_send_str(back, "pong");
    h_recv_exact(fd, buf, 4);
    T_ASSERT(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
    close(fd);
    n = recv(back, buf, sizeof(buf), 0);
    if (n != -1 || errno != ECONNRESET)
        T_FAIL("the backend got %zd (%s), not a reset", n, n < 0 ? strerror(errno) : "data or EOF");
    T_ASSERT(h_wait_log(f, "usherd: service=fwd ", 2000));
    T_CONTAINS(h_log_line(f, "usherd: service=fwd "), " end=error:ECONNRESET backend=");
    close(back);
    close(lfd);
}

/* Forward with forward_proxy_protocol = `version`; the backend is ours, reading the header. */
static void check_proxy_header_sent(const char *version)
{
    char bound[128], buf[512];
    int lfd = h_listen_socket("tcp://127.0.0.1:0", bound, sizeof(bound));
    char *extra = h_fmt("forward_proxy_protocol = %s\n", version);
    struct h_daemon *f = start_front(bound, extra);
    const char *front = h_addr(f, "fwd", "tcp://");
    int fd = h_connect(front), back, client_port = h_local_port(fd);
    struct proxy_parser *p = calloc(1, sizeof(*p));
    size_t got = 0, used;

    h_send_str(fd, "after the header");
    back = accept(lfd, NULL, NULL);
    T_ASSERT(back >= 0 && p != NULL);
    h_set_timeout(back, 5000);
    while (got < sizeof(buf)) { /* the header and the client's 16 bytes */
        ssize_t n = recv(back, buf + got, sizeof(buf) - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        proxy_parser_init(p, PROXY_ANY);
        used = proxy_feed(p, buf, got);
        if (p->state == PROXY_DONE && got - used >= 16)
            break;
    }
    proxy_parser_init(p, PROXY_ANY);
    used = proxy_feed(p, buf, got);
    T_EQ_INT(p->state, PROXY_DONE);
    T_EQ_INT(p->result.version, version[1] - '0');
    T_EQ_INT(p->result.family, AF_INET);
    T_EQ_INT(ntohs(((struct sockaddr_in *)&p->result.src)->sin_port), client_port);
    T_EQ_INT(ntohs(((struct sockaddr_in *)&p->result.dst)->sin_port), h_port(front));
    T_EQ_MEM(buf + used, "after the header", 16);
    /* The relay goes on both ways after it. */
    h_send_str(back, "reply");
    h_recv_exact(fd, buf, 5);
    T_EQ_MEM(buf, "reply", 5);
    free(p);
    free(extra);
    close(fd);
    close(back);
    close(lfd);
    /* The header is usherd's, not counted as the client's bytes. */
    T_ASSERT(h_wait_log(f, "usherd: service=fwd ", 2000));
    T_CONTAINS(h_log_line(f, "usherd: service=fwd "), " in=16 out=5 end=closed");
}

static void test_proxy_v1_to_the_backend(void)
{
    check_proxy_header_sent("v1");
}

static void test_proxy_v2_to_the_backend(void)
{
    check_proxy_header_sent("v2");
}

static void test_forward_config_errors(void)
{
    static const struct {
        const char *text, *error;
    } cases[] = {
        {"[f]\nlisten = tcp://127.0.0.1:0\nforward = udp://127.0.0.1:7\n",
         "a backend is tcp://HOST:PORT or unix:PATH"},
        {"[f]\nlisten = tcp://127.0.0.1:0\nforward = tcp://127.0.0.1:7\nbuiltin = echo\n",
         "f.conf:4: builtin: [f] has a forward already; one of builtin, exec, forward"},
        {"[f]\nlisten = udp://127.0.0.1:0\nforward = tcp://127.0.0.1:7\n",
         "forwarding relays streams"},
        {"[f]\nlisten = tcp://127.0.0.1:0\nforward = tcp://127.0.0.1:7\nconnect_timeout = 0s\n",
         "connect_timeout: '0s' is not a duration from 1ms to 1h"},
        {"[f]\nlisten = tcp://127.0.0.1:0\nconnect_timeout = 1s\nbuiltin = echo\n",
         "connect_timeout and forward_proxy_protocol without forward"},
        {"[f]\nlisten = tcp://127.0.0.1:0\nforward = tcp://127.0.0.1:7\n"
         "forward_proxy_protocol = v3\n",
         "forward_proxy_protocol: 'v3' is not no, v1 or v2"},
        {"[f]\nlisten = tcp://127.0.0.1:0\nforward = tcp://127.0.0.1:7\nuser = nobody\n",
         "user: applies to exec services only"},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *out = NULL;
        char *conf = h_fmt("%s/f.conf", h_tmpdir());
        FILE *fp = fopen(conf, "w");
        T_ASSERT(fp != NULL);
        fputs(cases[i].text, fp);
        fclose(fp);
        T_EQ_INT(h_usherd_run(NULL, &out, "-t", "-f", conf, NULL), 2);
        T_CONTAINS(out, cases[i].error);
        free(out);
        free(conf);
    }
}

static const struct t_case cases[] = {
    T_CASE(test_forward_to_a_tcp_backend),
    T_CASE(test_forward_to_a_unix_backend),
    T_CASE(test_second_backend_when_the_first_refuses),
    T_CASE(test_no_backend_reachable),
    T_CASE(test_connect_timeout),
    T_CASE(test_idle_timeout_applies),
    T_CASE_TIMEOUT(test_a_gigabyte_both_ways, 120),
    T_CASE(test_backend_that_stops_reading),
    T_CASE(test_pipes_reused_clean),
    T_CASE(test_urgent_byte_does_not_spin),
    T_CASE(test_client_reset_passed_on),
    T_CASE(test_proxy_v1_to_the_backend),
    T_CASE(test_proxy_v2_to_the_backend),
    T_CASE(test_forward_config_errors),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
