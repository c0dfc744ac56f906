/*
 * The client over TLS (SPEC 10, 12): usher tls://HOST:PORT and its
 * options against real TLS peers, `openssl s_server` (verification, host
 * names, SNI, client certificates, ALPN, half-close) and socat's TLS
 * listener (an echo server for usher bench, and a TLS front for usherd's
 * sum service).  The certificates are made for each case at run time: a
 * throwaway CA, ECDSA P-256, and leaves signed by it.
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define RUN_MS   10000
#define READY_MS 5000
#define PEERS    8

/* A file of the case's directory (malloc'd). */
static char *tmp(const char *name)
{
    return h_fmt("%s/%s", h_tmpdir(), name);
}

/* Certificates */

static void openssl(const char *const argv[])
{
    struct h_result r;

    h_run(&r, NULL, 0, RUN_MS, argv);
    if (r.exit_code != 0)
        T_FAIL("%s %s failed (%d): %s", argv[0], argv[1], r.exit_code, r.err);
    h_result_free(&r);
}

/* ca.pem and ca.key: a self-signed CA that no system trusts. */
static void make_ca(void)
{
    openssl((const char *[]){"openssl", "req", "-x509", "-new", "-nodes", "-newkey", "ec",
                             "-pkeyopt", "ec_paramgen_curve:P-256", "-keyout", tmp("ca.key"),
                             "-out", tmp("ca.pem"), "-days", "2", "-subj", "/CN=usher test CA",
                             NULL});
}

/* NAME.pem and NAME.key, signed by the CA, for the names in `san`. */
static void make_leaf(const char *name, const char *san, const char *usage, int serial)
{
    char *ext = tmp(h_fmt("%s.ext", name)), *csr = tmp(h_fmt("%s.csr", name));

    h_write_file(ext, h_fmt("subjectAltName = %s\nbasicConstraints = CA:FALSE\n"
                            "extendedKeyUsage = %s\n",
                            san, usage));
    openssl((const char *[]){"openssl", "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
                             "ec_paramgen_curve:P-256", "-keyout", tmp(h_fmt("%s.key", name)),
                             "-out", csr, "-subj", h_fmt("/CN=%s", name), NULL});
    openssl((const char *[]){"openssl", "x509", "-req", "-in", csr, "-CA", tmp("ca.pem"), "-CAkey",
                             tmp("ca.key"), "-set_serial", h_fmt("%d", serial), "-days", "2",
                             "-extfile", ext, "-out", tmp(h_fmt("%s.pem", name)), NULL});
}

/*
 * The CA; "srv" for localhost and 127.0.0.1; "other" for other.test only;
 * "cli", a client certificate.
 */
static void make_certs(void)
{
    h_need("openssl", "openssl");
    make_ca();
    make_leaf("srv", "DNS:localhost, IP:127.0.0.1", "serverAuth", 1);
    make_leaf("other", "DNS:other.test", "serverAuth", 2);
    make_leaf("cli", "DNS:client.test", "clientAuth", 3);
}

/* Peers */

static pid_t peers[PEERS];
static int npeers;

static void kill_peers(void)
{
    for (int i = 0; i < npeers; i++) {
        kill(peers[i], SIGKILL);
        waitpid(peers[i], NULL, 0);
    }
    npeers = 0;
}

/*
 * Start a peer program, its output to `log`, its stdin a pipe held open
 * until the case ends (s_server reads its stdin, and ends at its EOF), and
 * wait until `ready` is in its output.
 */
static void start_peer(const char *const argv[], const char *log, const char *ready)
{
    int in[2];
    pid_t pid;

    if (npeers == PEERS)
        T_FAIL("too many peers");
    if (pipe2(in, O_CLOEXEC) < 0)
        T_FAIL("pipe: %s", strerror(errno));
    if ((pid = fork()) < 0)
        T_FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || dup2(in[0], 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in[0]); /* in[1] stays open: the peer's stdin never ends */
    if (npeers == 0)
        t_at_end(kill_peers);
    peers[npeers++] = pid;
    if (!h_wait_file(log, ready, 1, READY_MS))
        T_FAIL("%s did not start: %s", argv[0], h_read_file(log));
}

/*
 * openssl s_server on a free loopback port with certificate NAME, then the
 * `extra` arguments (NULL-ended; without -rev it prints what it gets).
 * Returns the port; *log (if not NULL) gets the path of its output.
 */
static int s_server(const char *name, const char *const extra[], char **log)
{
    int port = h_free_port("tcp");
    const char *argv[32] = {"openssl", "s_server",
                            "-accept", h_fmt("127.0.0.1:%d", port),
                            "-cert",   tmp(h_fmt("%s.pem", name)),
                            "-key",    tmp(h_fmt("%s.key", name))};
    int n = 8;
    char *path = tmp(h_fmt("s_server%d.log", npeers));

    for (int i = 0; extra != NULL && extra[i] != NULL && n < 31; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    start_peer(argv, path, "ACCEPT");
    if (log != NULL)
        *log = path;
    return port;
}

/* A socat TLS listener (certificate "srv") on a free port, relaying each connection to `to`. */
static int socat_tls(const char *to)
{
    int port = h_free_port("tcp");
    const char *argv[] = {
        "socat",
        "-d",
        "-d",
        h_fmt("OPENSSL-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,nodelay,backlog=128,cert=%s,"
              "key=%s,verify=0",
              port, tmp("srv.pem"), tmp("srv.key")),
        to,
        NULL,
    };

    h_need("socat", "socat");
    start_peer(argv, tmp(h_fmt("socat%d.log", npeers)), "listening on");
    return port;
}

/* Running usher */

/* Run usher with `input` on stdin and the arguments after it (NULL-ended). */
static void __attribute__((sentinel)) usher(struct h_result *r, const char *input, ...)
{
    const char *argv[24];
    int argc = 0;
    va_list ap;

    argv[argc++] = h_usher();
    va_start(ap, input);
    while (argc < 23 && (argv[argc] = va_arg(ap, const char *)) != NULL)
        argc++;
    va_end(ap);
    argv[argc] = NULL;
    h_run(r, input, input ? strlen(input) : 0, RUN_MS, argv);
}

static char *tls_addr(const char *host, int port)
{
    return h_fmt("tls://%s:%d", host, port);
}

static void expect_ok(struct h_result *r, const char *out)
{
    if (r->exit_code != 0)
        T_FAIL("usher exited %d: %s", r->exit_code, r->err);
    T_EQ_STR(r->out, out);
    T_EQ_STR(r->err, "");
}

/* The number after `key` in a JSON text. */
static double json_number(const char *json, const char *key)
{
    char needle[64];

    snprintf(needle, sizeof(needle), "\"%s\":", key);
    return strtod(h_after(json, needle), NULL);
}

static void bench(struct h_result *r, const char *const args[])
{
    const char *argv[32] = {h_usher(), "bench"};
    int n = 2;

    for (int i = 0; args[i] != NULL && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    h_run(r, NULL, 0, RUN_MS * 2, argv);
}

/* Verification */

static void test_verified_with_ca(void)
{
    /* Scenario: s_server -rev with a certificate for localhost and
     * 127.0.0.1 from a throwaway CA; usher --ca that CA, by name and by IP.
     * Asserted: both verify, each line comes back reversed, exit 0. */
    struct h_result r;
    int port;

    make_certs();
    port = s_server("srv", (const char *[]){"-rev", NULL}, NULL);
    usher(&r, "hello\n", "--ca", tmp("ca.pem"), tls_addr("localhost", port), NULL);
    expect_ok(&r, "olleh\n");
    h_result_free(&r);
    usher(&r, "abc\n", "--ca", tmp("ca.pem"), tls_addr("127.0.0.1", port), NULL);
    expect_ok(&r, "cba\n");
    h_result_free(&r);
}

static void test_unknown_ca_refused(void)
{
    /* Scenario: the same server, no --ca: the system's CAs do not know
     * ours.  Asserted: exit 1, nothing printed on stdout, a message naming
     * the address and OpenSSL's reason with the verification's. */
    struct h_result r;
    int port;
    char *addr;

    make_certs();
    port = s_server("srv", (const char *[]){"-rev", NULL}, NULL);
    addr = tls_addr("127.0.0.1", port);
    usher(&r, "hello\n", addr, NULL);
    T_EQ_INT(r.exit_code, 1);
    T_EQ_STR(r.out, "");
    T_CONTAINS(r.err, addr);
    T_CONTAINS(r.err, "certificate verify failed: unable to get local issuer certificate");
    h_result_free(&r);
}

static void test_insecure_skips_verification(void)
{
    /* Scenario: no --ca, but --insecure.  Asserted: the exchange works. */
    struct h_result r;
    int port;

    make_certs();
    port = s_server("srv", (const char *[]){"-rev", NULL}, NULL);
    usher(&r, "insecure\n", "--insecure", tls_addr("127.0.0.1", port), NULL);
    expect_ok(&r, "erucesni\n");
    h_result_free(&r);
}

static void test_wrong_host_refused(void)
{
    /* Scenario: a server whose certificate (from our CA) is for other.test
     * only; usher --ca to 127.0.0.1, then with --servername other.test.
     * Asserted: the first fails on the name (exit 1), the second checks
     * the certificate for other.test and works. */
    struct h_result r;
    int port;

    make_certs();
    port = s_server("other", (const char *[]){"-rev", NULL}, NULL);
    usher(&r, "x\n", "--ca", tmp("ca.pem"), tls_addr("127.0.0.1", port), NULL);
    T_EQ_INT(r.exit_code, 1);
    T_CONTAINS(r.err, "certificate verify failed: IP address mismatch");
    h_result_free(&r);
    usher(&r, "ab\n", "--ca", tmp("ca.pem"), "--servername", "other.test",
          tls_addr("127.0.0.1", port), NULL);
    expect_ok(&r, "ba\n");
    h_result_free(&r);
    usher(&r, "x\n", "--ca", tmp("ca.pem"), "--servername", "wrong.test",
          tls_addr("127.0.0.1", port), NULL);
    T_EQ_INT(r.exit_code, 1);
    T_CONTAINS(r.err, "certificate verify failed: hostname mismatch");
    h_result_free(&r);
}

static void test_servername_picks_certificate(void)
{
    /* Scenario: s_server with the localhost certificate by default and the
     * other.test one for SNI other.test (-servername, -cert2).  Asserted:
     * --servername other.test gets (and verifies) the second, which only
     * SNI can select; without it, by IP, the first. */
    struct h_result r;
    int port;

    make_certs();
    port = s_server("srv",
                    (const char *[]){"-rev", "-servername", "other.test", "-cert2",
                                     tmp("other.pem"), "-key2", tmp("other.key"), NULL},
                    NULL);
    usher(&r, "sni\n", "--ca", tmp("ca.pem"), "--servername", "other.test",
          tls_addr("127.0.0.1", port), NULL);
    expect_ok(&r, "ins\n");
    h_result_free(&r);
    usher(&r, "ip\n", "--ca", tmp("ca.pem"), tls_addr("127.0.0.1", port), NULL);
    expect_ok(&r, "pi\n");
    h_result_free(&r);
}

/* Client certificates and options */

static void test_client_certificate(void)
{
    /* Scenario: s_server -Verify 1 against our CA (a client certificate is
     * required).  Asserted: with --cert and --key the exchange works;
     * without them it fails, exit 1, with the server's alert named. */
    struct h_result r;
    int port;
    char *log;

    make_certs();
    port = s_server("srv", (const char *[]){"-rev", "-Verify", "1", "-CAfile", tmp("ca.pem"), NULL},
                    &log);
    usher(&r, "client\n", "--ca", tmp("ca.pem"), "--cert", tmp("cli.pem"), "--key", tmp("cli.key"),
          tls_addr("127.0.0.1", port), NULL);
    expect_ok(&r, "tneilc\n");
    h_result_free(&r);
    T_ASSERT(h_wait_file(log, "CN = cli", 1, READY_MS));
    usher(&r, "client\n", "--ca", tmp("ca.pem"), tls_addr("127.0.0.1", port), NULL);
    T_EQ_INT(r.exit_code, 1);
    T_EQ_STR(r.out, "");
    T_CONTAINS(r.err, "alert");
    h_result_free(&r);
}

static void test_option_usage_errors(void)
{
    /* Scenario: --cert without --key, --key without --cert, a TLS option
     * with a tcp:// address, an empty --alpn name, a bad --ca file.
     * Asserted: exit 2 with the reason for the usage errors; the unreadable
     * --ca file is a runtime failure naming it (exit 1). */
    static const struct {
        const char *args[4];
        const char *want;
    } cases[] = {
        {{"--cert", "c.pem", "tls://127.0.0.1:1", NULL}, "--cert needs --key"},
        {{"--key", "k.pem", "tls://127.0.0.1:1", NULL}, "--key needs --cert"},
        {{"--insecure", "tcp://127.0.0.1:1", NULL}, "go with a tls:// address"},
        {{"--alpn", "h2,,x", "tls://127.0.0.1:1", NULL}, "--alpn 'h2,,x'"},
    };
    struct h_result r;

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const char *const *a = cases[i].args;
        usher(&r, NULL, a[0], a[1], a[2], a[3], NULL);
        T_EQ_INT(r.exit_code, 2);
        T_CONTAINS(r.err, cases[i].want);
        h_result_free(&r);
    }
    usher(&r, NULL, "--ca", tmp("missing.pem"), "tls://127.0.0.1:1", NULL);
    T_EQ_INT(r.exit_code, 1);
    T_CONTAINS(r.err, "--ca ");
    T_CONTAINS(r.err, "missing.pem: No such file or directory");
    h_result_free(&r);
}

static void test_alpn_offered(void)
{
    /* Scenario: s_server -alpn h2 (not -rev: it reports the ALPN it saw);
     * usher --alpn h2,http/1.1 sends a line.  Asserted: exit 0, and the
     * server saw both protocols offered, chose h2, and got the line. */
    struct h_result r;
    int port;
    char *log;

    make_certs();
    port = s_server("srv", (const char *[]){"-alpn", "h2", NULL}, &log);
    usher(&r, "over alpn\n", "--ca", tmp("ca.pem"), "--alpn", "h2,http/1.1",
          tls_addr("127.0.0.1", port), NULL);
    expect_ok(&r, "");
    h_result_free(&r);
    T_ASSERT(h_wait_file(log, "over alpn", 1, READY_MS));
    T_CONTAINS(h_read_file(log), "ALPN protocols advertised by the client: h2, http/1.1");
    T_CONTAINS(h_read_file(log), "ALPN protocols selected: h2");
}

/* The stream */

static void test_half_close_reply_after_eof(void)
{
    /* Scenario: 300 lines on stdin, then its EOF at once: usher sends
     * close_notify right after the data.  Asserted: every reversed line
     * still arrives, in order, exit 0. */
    struct h_result r;
    char *in = h_fmt("%s", ""), *want = h_fmt("%s", "");
    int port;

    make_certs();
    port = s_server("srv", (const char *[]){"-rev", NULL}, NULL);
    for (int i = 0; i < 300; i++) {
        in = h_fmt("%sline %03d\n", in, i);
        want = h_fmt("%s%d%d%d enil\n", want, i % 10, i / 10 % 10, i / 100);
    }
    usher(&r, in, "--ca", tmp("ca.pem"), tls_addr("127.0.0.1", port), NULL);
    expect_ok(&r, want);
    h_result_free(&r);
}

/*
 * Run usher with `args` (NULL-ended), `input` written to its stdin, which
 * then stays open; wait up to `ms` for it to exit.  Returns its exit code
 * and what it printed (malloc'd) in *out.
 */
static int usher_stdin_open(const char *const args[], const char *input, int ms, char **out)
{
    const char *argv[24] = {h_usher()};
    int in[2], outp[2], status, n = 1;
    ssize_t got;
    int64_t deadline = h_now_ms() + ms * (int)t_scale();
    pid_t pid;

    for (int i = 0; args[i] != NULL && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0)
        T_FAIL("pipe: %s", strerror(errno));
    if ((pid = fork()) < 0)
        T_FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        if (dup2(in[0], 0) < 0 || dup2(outp[1], 1) < 0)
            _exit(126);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(outp[1]);
    if (write(in[1], input, strlen(input)) != (ssize_t)strlen(input))
        T_FAIL("write to usher: %s", strerror(errno));
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (h_now_ms() > deadline) {
            kill(pid, SIGKILL);
            T_FAIL("usher still running after %d ms, its stdin open", ms);
        }
        usleep(2000);
    }
    *out = malloc(4096);
    T_ASSERT(*out != NULL);
    got = read_full(outp[0], *out, 4095);
    (*out)[got < 0 ? 0 : (size_t)got] = '\0';
    close(outp[0]);
    close(in[1]);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_server_closes_first(void)
{
    /* Scenario: s_server -rev answers a line, then ends the connection at
     * "CLOSE" (close_notify), while usher's stdin stays open.  Asserted:
     * usher ends at once with exit 0, the reply printed. */
    char *out;
    int port;

    make_certs();
    port = s_server("srv", (const char *[]){"-rev", NULL}, NULL);
    T_EQ_INT(
        usher_stdin_open((const char *[]){"--ca", tmp("ca.pem"), tls_addr("127.0.0.1", port), NULL},
                         "abc\nCLOSE\n", 5000, &out),
        0);
    T_CONTAINS(out, "cba\n");
}

static void test_large_transfer_both_ways(void)
{
    /* Scenario: 4 MiB through a TLS echo server (socat), which sends it back
     * while usher is still sending: both directions full at once, records
     * split across reads, writes that must wait.  Asserted: every byte comes
     * back, in order, exit 0. */
    size_t len = 4u << 20;
    char *in = malloc(len + 1);
    struct h_result r;
    int port;

    T_ASSERT(in != NULL);
    for (size_t i = 0; i < len; i++)
        in[i] = (i % 64 == 63) ? '\n' : (char)('a' + i % 26);
    in[len] = '\0';
    make_certs();
    port = socat_tls("PIPE");
    usher(&r, in, "--ca", tmp("ca.pem"), tls_addr("127.0.0.1", port), NULL);
    T_EQ_INT(r.exit_code, 0);
    T_EQ_INT(r.out_len, len);
    T_ASSERT(memcmp(r.out, in, len) == 0);
    h_result_free(&r);
    free(in);
}

static void test_handshake_timeout(void)
{
    /* Scenario: a listening socket that never accepts (the kernel completes
     * the TCP handshake, nobody answers the ClientHello); usher -w 0.3.
     * Asserted: exit 1, the message names the address and the TLS
     * handshake as what timed out. */
    char bound[160];
    int fd = h_listen_socket("tcp://127.0.0.1:0", bound, sizeof(bound));
    char *addr = tls_addr("127.0.0.1", h_port(bound));
    struct h_result r;

    usher(&r, "x\n", "-w", "0.3", "--insecure", addr, NULL);
    T_EQ_INT(r.exit_code, 1);
    T_CONTAINS(r.err, h_fmt("%s: timed out in the TLS handshake", addr));
    h_result_free(&r);
    close(fd);
}

static void test_sum_over_tls(void)
{
    /* Scenario: usherd's sum service behind a socat TLS listener; usher
     * sum and sumbin to the tls:// address.  Asserted: the helpers work over
     * TLS as over TCP. */
    struct h_daemon *d = h_start("[sum]\nlisten = tcp://127.0.0.1:0\nbuiltin = sum\n"
                                 "[sumbin]\nlisten = tcp://127.0.0.1:0\nbuiltin = sumbin\n",
                                 NULL);
    struct h_result r;
    int sum, sumbin;

    make_certs();
    sum = socat_tls(h_fmt("TCP:127.0.0.1:%d", h_port(h_addr(d, "sum", "tcp://"))));
    sumbin = socat_tls(h_fmt("TCP:127.0.0.1:%d", h_port(h_addr(d, "sumbin", "tcp://"))));
    usher(&r, "1 2\nfoo\n", "sum", "--ca", tmp("ca.pem"), tls_addr("127.0.0.1", sum), NULL);
    T_EQ_INT(r.exit_code, 1); /* an error reply */
    T_EQ_STR(r.out, "3\nerror: input\n");
    h_result_free(&r);
    usher(&r, "40 2\n", "sumbin", "--ca", tmp("ca.pem"), tls_addr("127.0.0.1", sumbin), NULL);
    expect_ok(&r, "42\n");
    h_result_free(&r);
}

/* Bench */

static void test_bench_connect_full_and_resumed(void)
{
    /* Scenario: a TLS echo server (socat, which keeps TLS 1.3 tickets);
     * bench connect -n 40 -c 4, first with full handshakes, then with
     * --resume.  Asserted: every transaction done without an error; 40
     * handshakes each time, none resumed at first, some with --resume (the
     * first of each slot is full), and the text report says so too. */
    struct h_result r;
    char *addr;

    make_certs();
    addr = tls_addr("127.0.0.1", socat_tls("PIPE"));
    bench(&r, (const char *[]){"-c", "4", "-n", "40", "--ca", tmp("ca.pem"), "--json", "connect",
                               addr, NULL});
    if (r.exit_code != 0)
        T_FAIL("bench exited %d: %s %s", r.exit_code, r.out, r.err);
    T_EQ_INT((long long)json_number(r.out, "transactions"), 40);
    T_EQ_INT((long long)json_number(r.out, "total"), 0);
    T_EQ_INT((long long)json_number(r.out, "handshakes"), 40);
    T_EQ_INT((long long)json_number(r.out, "resumed"), 0);
    T_CONTAINS(r.out, "\"tls\":true");
    h_result_free(&r);

    bench(&r, (const char *[]){"-c", "4", "-n", "40", "--resume", "--ca", tmp("ca.pem"), "--json",
                               "connect", addr, NULL});
    T_EQ_INT(r.exit_code, 0);
    T_EQ_INT((long long)json_number(r.out, "transactions"), 40);
    T_EQ_INT((long long)json_number(r.out, "total"), 0);
    T_ASSERT(json_number(r.out, "resumed") > 0);
    T_ASSERT(json_number(r.out, "resumed") <= 36);
    h_result_free(&r);

    bench(&r,
          (const char *[]){"-n", "5", "--resume", "--ca", tmp("ca.pem"), "connect", addr, NULL});
    T_EQ_INT(r.exit_code, 0);
    T_CONTAINS(r.out, "TLS sessions resumed");
    T_CONTAINS(r.out, "  tls         5 handshakes, 4 resumed\n");
    h_result_free(&r);
}

static void test_bench_inside_tls(void)
{
    /* Scenario: the same echo server; bulk with 2 connections and pingpong
     * with 16, for 0.3 s each.  Asserted: data flowed and was echoed
     * unchanged, no error, a handshake per connection. */
    struct h_result r;
    char *addr;

    make_certs();
    addr = tls_addr("localhost", socat_tls("PIPE"));
    bench(&r, (const char *[]){"-c", "2", "-d", "0.3", "--ca", tmp("ca.pem"), "--json", "bulk",
                               addr, NULL});
    if (r.exit_code != 0)
        T_FAIL("bench exited %d: %s %s", r.exit_code, r.out, r.err);
    T_ASSERT(json_number(r.out, "mb_per_s") > 0);
    T_EQ_INT((long long)json_number(r.out, "total"), 0);
    T_EQ_INT((long long)json_number(r.out, "handshakes"), 2);
    h_result_free(&r);

    bench(&r, (const char *[]){"-c", "16", "-d", "0.3", "--insecure", "--json", "pingpong", addr,
                               NULL});
    T_EQ_INT(r.exit_code, 0);
    T_ASSERT(json_number(r.out, "transactions") > 16);
    T_EQ_INT((long long)json_number(r.out, "total"), 0);
    T_EQ_INT((long long)json_number(r.out, "stalled"), 0);
    T_EQ_INT((long long)json_number(r.out, "handshakes"), 16);
    h_result_free(&r);
}

static void test_bench_verification_and_usage(void)
{
    /* Scenario: bench connect to the echo server without --ca; then
     * --resume with pingpong, and --insecure with a tcp:// address.
     * Asserted: the refused certificates are counted as tls errors and
     * the run fails (exit 1); the others are usage errors (exit 2). */
    struct h_result r;
    char *addr;

    make_certs();
    addr = tls_addr("127.0.0.1", socat_tls("PIPE"));
    bench(&r, (const char *[]){"-n", "3", "-w", "1", "--json", "connect", addr, NULL});
    T_EQ_INT(r.exit_code, 1);
    T_ASSERT(json_number(h_after(r.out, "\"errors\":"), "tls") >= 3);
    h_result_free(&r);
    bench(&r, (const char *[]){"--resume", "--insecure", "pingpong", addr, NULL});
    T_EQ_INT(r.exit_code, 2);
    T_CONTAINS(r.err, "--resume goes with connect mode");
    h_result_free(&r);
    bench(&r, (const char *[]){"--insecure", "connect", "tcp://127.0.0.1:1", NULL});
    T_EQ_INT(r.exit_code, 2);
    T_CONTAINS(r.err, "go with a tls:// address");
    h_result_free(&r);
}

static const struct t_case cases[] = {
    T_CASE(test_verified_with_ca),
    T_CASE(test_unknown_ca_refused),
    T_CASE(test_insecure_skips_verification),
    T_CASE(test_wrong_host_refused),
    T_CASE(test_servername_picks_certificate),
    T_CASE(test_client_certificate),
    T_CASE(test_option_usage_errors),
    T_CASE(test_alpn_offered),
    T_CASE(test_half_close_reply_after_eof),
    T_CASE(test_server_closes_first),
    T_CASE(test_large_transfer_both_ways),
    T_CASE(test_handshake_timeout),
    T_CASE(test_sum_over_tls),
    T_CASE(test_bench_connect_full_and_resumed),
    T_CASE(test_bench_inside_tls),
    T_CASE(test_bench_verification_and_usage),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
