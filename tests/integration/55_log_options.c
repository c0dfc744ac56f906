/*
 * The operator's logging options (SPEC 15).  log_format = json: every
 * line of the log, from start-up to stop, is one JSON object with time,
 * level and msg and the line's key=value fields, checked line by line by
 * Python's json module, whatever bytes a client sent, a program wrote to
 * its stderr or a configuration held, on stderr and through syslog; what
 * a program writes can never become a field.  log_ip: each mode, line by
 * line, for direct clients, IPv6, PROXY-protocol clients and their
 * balancers, in per-connection processes too, while the access rules and
 * the programs' environment still see the full address.
 * log_connections: failures writes refusals, timeouts and non-zero exits
 * only; none writes no connection line but the daemon's warnings stay.
 * A reload switches format and addresses in every worker.
 */
#include "certs.h"
#include "harness.h"
#include "t.h"
#include "tlsc.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The checker: every line of the file (after a syslog header, if any) is
 * strict UTF-8, printable ASCII in fact (SPEC 9 escapes the rest before
 * JSON does), a JSON object without a repeated key, whose members are
 * strings: time (RFC 3339, UTC, milliseconds), level, msg, and fields
 * with lowercase names, each one a KEY=VALUE word of msg.  Prints the
 * count of lines.
 */
static const char checker[] =
    "import json, re, sys\n"
    "def fail(n, why, line):\n"
    "    print('line %d: %s: %r' % (n, why, line)); sys.exit(1)\n"
    "def pairs(items):\n"
    "    keys = [k for k, _ in items]\n"
    "    if len(keys) != len(set(keys)): raise ValueError('a key given twice')\n"
    "    return dict(items)\n"
    "count = 0\n"
    "data = open(sys.argv[1], 'rb').read()\n"
    "if not data.endswith(b'\\n'): fail(0, 'the last line is not whole', data[-80:])\n"
    "for n, raw in enumerate(data.split(b'\\n')[:-1], 1):\n"
    "    if raw.startswith(b'<'): raw = raw.split(b']: ', 1)[1]\n"
    "    if any(b < 0x20 or b > 0x7e for b in raw): fail(n, 'not printable ASCII', raw)\n"
    "    try: obj = json.loads(raw.decode('utf-8'), object_pairs_hook=pairs)\n"
    "    except ValueError as e: fail(n, 'not JSON (%s)' % e, raw)\n"
    "    if not isinstance(obj, dict): fail(n, 'not an object', raw)\n"
    "    if list(obj)[:3] != ['time', 'level', 'msg']: fail(n, 'not time, level, msg first', raw)\n"
    "    if not re.fullmatch(r'\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z', "
    "obj['time']):\n"
    "        fail(n, 'time', raw)\n"
    "    if obj['level'] not in ('error', 'warning', 'info', 'debug'): fail(n, 'level', raw)\n"
    "    for k, v in obj.items():\n"
    "        if not isinstance(v, str): fail(n, 'a value not a string', raw)\n"
    "        if k in ('time', 'level', 'msg'): continue\n"
    "        if not re.fullmatch(r'[a-z][a-z0-9_]*', k): fail(n, 'a field name', raw)\n"
    "        if ' ' in v or (k + '=' + v) not in obj['msg'].split(' ') and\\\n"
    "           (k + '=' + v + ':') not in obj['msg'].split(' '):\n"
    "            fail(n, 'field %s not a word of msg' % k, raw)\n"
    "    count += 1\n"
    "print(count)\n";

/* Run the checker on `path`; fails the test, showing why, unless it passes with >= `min` lines. */
static void check_json_file(const char *path, int min)
{
    const char *script = h_fmt("%s/check.py", h_tmpdir());
    const char *const argv[] = {"python3", script, path, NULL};
    struct h_result r;
    long lines;

    h_need("python3", "python3");
    h_write_file(script, checker);
    h_run(&r, NULL, 0, 10000, argv);
    if (r.exit_code != 0)
        T_FAIL("the log is not JSON lines: %s%s\n%s", r.out, r.err, h_read_file(path));
    lines = strtol(r.out, NULL, 10);
    if (lines < min)
        T_FAIL("%ld JSON lines, want at least %d:\n%s", lines, min, h_read_file(path));
    h_result_free(&r);
}

/* Wait up to `ms` for a complete line holding both `needle` and `what`; returns it. */
static char *wait_line(const struct h_daemon *d, const char *needle, const char *what, int ms)
{
    int64_t deadline = h_now_ms() + (int64_t)ms * t_scale();

    do {
        char *line = h_log_line(d, needle);
        if (line != NULL && strstr(line, what) != NULL)
            return line;
        free(line);
        usleep(5000);
    } while (h_now_ms() < deadline);
    T_FAIL("no line with \"%s\" and \"%s\" within %d ms:\n%s", needle, what, ms, h_log(d));
}

/* How many lines of the log hold `needle`. */
static int count_lines(const struct h_daemon *d, const char *needle)
{
    char *log = h_log(d);
    int n = 0;

    for (char *line = log, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        *nl = '\0';
        n += strstr(line, needle) != NULL;
    }
    free(log);
    return n;
}

/* An echo round trip from `local` ("tcp://127.0.0.1:0") to `addr`, closed; our port. */
static int echo_from(const char *local, const char *addr)
{
    int fd = h_connect_from(local, addr), port;
    char buf[8];

    if (fd < 0)
        T_FAIL("connect from %s to %s failed", local, addr);
    port = h_local_port(fd);
    h_echo_roundtrip(fd, "ping\n");
    shutdown(fd, SHUT_WR);
    h_recv_all(fd, buf, sizeof(buf));
    close(fd);
    return port;
}

/* The program's whole answer to `input` (half-closed after it). */
static void exchange(const char *addr, const char *input, char *out, size_t cap)
{
    int fd = h_connect(addr);

    h_stream_exchange(fd, input, strlen(input), out, cap, 5000);
    close(fd);
}

/* Can this host bind [::1]? */
static bool have_ipv6_loopback(void)
{
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&s6, sizeof(s6)) == 0;

    if (fd >= 0)
        close(fd);
    return ok;
}

/* --- log_format = json ---------------------------------------------------------------- */

/* What a client sends a program that copies it to its stderr: every kind of hostile byte,
 * and text that looks like fields, JSON and a log line of its own. */
static const char hostile[] = "a\x1b[2J\"q\"\\ \xff\xfe\xc3( \x01z\r end=forged peer=6.6.6.6\n"
                              "{\"level\":\"forged\",\"service\":\"evil\"}\n"
                              "service=evil pid=1 end=exit:0 msg=forged\n";

static void test_json_lines_whatever_the_bytes(void)
{
    /* Scenario: log_format = json and log_ip = hash; an echo round trip;
     * a client sends `hostile` to an exec service whose program copies its
     * input to stderr (stderr = log); a reload with a configuration whose
     * bad value holds an escape sequence and UTF-8 fails; stop.  Asserted:
     * every line from "starting" to "stopped" is a JSON object (the
     * checker); the listening line has its service and addr fields; the
     * connection lines have their fields, peer hashed; the program's lines
     * carry the fields service and pid only, their text escaped in msg; no
     * line has a field the client or the configuration wrote; the reload's
     * errors are error lines quoting the value escaped. */
    const char *conf = "[global]\nlog_format = json\nlog_ip = hash\nworkers = 1\n"
                       "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nmodel = event\n"
                       "[copy]\nlisten = tcp://127.0.0.1:0\nstderr = log\n"
                       "exec = /bin/sh -c 'cat >&2'\n";
    struct h_daemon *d = h_start(conf, NULL);
    char out[64], *line, *log;

    line = h_log_line(d, "\"msg\":\"listening service=echo addr=");
    T_ASSERT(line != NULL);
    T_CONTAINS(line, h_fmt("\"service\":\"echo\",\"addr\":\"%s\"}", h_addr(d, "echo", "tcp://")));
    echo_from("tcp://127.0.0.1:0", h_addr(d, "echo", "tcp://"));
    line = wait_line(d, "\"msg\":\"service=echo proto=tcp ", "\"end\":\"closed\"", 5000);
    T_CONTAINS(line, "\"service\":\"echo\",\"proto\":\"tcp\",\"peer\":\"h:");
    T_CONTAINS(line, "\"in\":\"5\",\"out\":\"5\",\"end\":\"closed\"}");
    exchange(h_addr(d, "copy", "tcp://"), hostile, out, sizeof(out));
    wait_line(d, "\"msg\":\"service=copy proto=tcp ", "\"end\":\"exit:0\"", 5000);
    log = h_log(d);
    T_CONTAINS(log, "stderr: a\\\\x1b[2J\\\"q\\\"\\\\\\\\ \\\\xff\\\\xfe\\\\xc3( \\\\x01z\\\\x0d "
                    "end=forged peer=6.6.6.6\",\"service\":\"copy\",\"pid\":\"");
    T_CONTAINS(log, "stderr: {\\\"level\\\":\\\"forged\\\",\\\"service\\\":\\\"evil\\\"}\","
                    "\"service\":\"copy\",\"pid\":\"");
    T_CONTAINS(log, "stderr: service=evil pid=1 end=exit:0 msg=forged\",\"service\":\"copy\"");
    T_EQ_INT(count_lines(d, "\"end\":\"forged\""), 0);
    T_EQ_INT(count_lines(d, "\"peer\":\"6.6.6.6\""), 0);
    T_EQ_INT(count_lines(d, "\"level\":\"forged\""), 0);
    T_EQ_INT(count_lines(d, "\"service\":\"evil\""), 0);
    /* A configuration's bytes, in a reload's errors. */
    h_write_file(d->conf_path, h_fmt("%slog_connections = \x1b]0;pwned\x07 caf\xc3\xa9\n", conf));
    h_kill(d, SIGHUP);
    wait_line(d, "\"msg\":\"reload failed: the configuration in force stays\"",
              "\"level\":\"error\"", 5000);
    line = wait_line(d, "log_connections: ", "\"level\":\"error\"", 5000);
    T_CONTAINS(line, ":13: log_connections: '\\\\x1b]0;pwned\\\\x07 caf\\\\xc3\\\\xa9' is not all, "
                     "failures or none\"");
    T_EQ_INT(h_stop(d), 0);
    T_ASSERT(h_log_line(d, "\"msg\":\"stopped\"") != NULL);
    check_json_file(d->log_path, 10);
}

static void test_json_through_syslog(void)
{
    /* Scenario: log_format = json to a syslog collector; an echo round
     * trip; stop.  Asserted: every message, after its RFC 3164 header, is
     * a JSON object, the connection line's among them. */
    struct h_daemon *d = h_start("[global]\nlog = @SYSLOG@\nlog_format = json\nworkers = 1\n"
                                 "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "model = event\n",
                                 NULL);
    char *line;

    echo_from("tcp://127.0.0.1:0", h_addr(d, "echo", "tcp://"));
    line = wait_line(d, "\"msg\":\"service=echo proto=tcp ", "\"end\":\"closed\"", 5000);
    T_CONTAINS(line, "]: {\"time\":\"");
    T_EQ_INT(h_stop(d), 0);
    check_json_file(d->log_path, 4);
}

static void test_json_tls_server_name_is_one_field(void)
{
    /* Scenario: log_format = json, a TLS echo; a client sends the server
     * name "x y=forged" ESC.  Asserted: the connection line's sni field is
     * the whole name, escaped, its space too; no field y; every line is
     * JSON. */
    const struct certs *c = certs_get();
    struct h_daemon *d = h_start(h_fmt("[global]\nlog_format = json\nworkers = 1\n"
                                       "[tls]\nlisten = tls://127.0.0.1:0\nbuiltin = echo\n"
                                       "model = event\ntls_cert = %s\ntls_key = %s\n",
                                       c->server.cert, c->server.key),
                                 NULL);
    struct tlsc_opts o = {.sni = "x y=forged\x1b"};
    struct tlsc *t = tlsc_connect(h_addr(d, "tls", "tls://"), &o);
    char line[32], *log_line;

    tlsc_send_str(t, "hi\n");
    tlsc_recv_line(t, line, sizeof(line), 5000);
    tlsc_close_notify(t);
    tlsc_free(t);
    log_line = wait_line(d, "\"msg\":\"service=tls proto=tcp ", "\"end\":\"closed\"", 5000);
    T_CONTAINS(log_line, ",\"sni\":\"x\\\\x20y=forged\\\\x1b\"}");
    T_ASSERT(strstr(log_line, "\"y\":") == NULL);
    T_EQ_INT(h_stop(d), 0);
    check_json_file(d->log_path, 5);
}

/* --- log_ip ----------------------------------------------------------------------------- */

/* The value of " KEY=" in a text line, up to the next space (a static buffer); NULL if none. */
static const char *field(const char *line, const char *key)
{
    static char buf[128];
    char needle[32];
    const char *v;

    snprintf(needle, sizeof(needle), " %s=", key);
    if ((v = strstr(line, needle)) == NULL)
        return NULL;
    v += strlen(needle);
    snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(v, " "), v);
    return buf;
}

static bool is_hash(const char *v)
{
    return strlen(v) == 18 && strncmp(v, "h:", 2) == 0 && strspn(v + 2, "0123456789abcdef") == 16;
}

/* What one mode's run logged: the peer of each kind of client, in the order they came. */
struct seen {
    char echo[3][64]; /* 127.0.0.1, 127.0.0.1 again, [::1] */
    int necho;
    char denied[64], who[64], real[64], balancer[64];
    int ports[3]; /* the echo clients' own ports */
    bool v6;
};

/*
 * A daemon with log_ip = `mode`: an echo service served by a process per
 * connection (model = fork) that denies 127.0.0.2, a program that prints
 * the TCPREMOTEIP it was given, and an echo service behind a PROXY
 * balancer.  Two clients from 127.0.0.1, one from ::1 (when there is
 * IPv6), one from 127.0.0.2, the program's client, and 192.0.2.7 through
 * the balancer (127.0.0.1).  Checked in every mode: the rules and the
 * environment see the full addresses.  Unless mode is full, not one line
 * of the log holds a client's address in full.
 */
static void run_mode(const char *mode, struct seen *s)
{
    struct h_daemon *d;
    char out[64], *log, *line;
    int fd, lines = 0;

    s->v6 = have_ipv6_loopback();
    d = h_start(h_fmt("[global]\nlog_ip = %s\nworkers = 1\n"
                      "[echo]\nlisten = tcp://127.0.0.1:0%s\nbuiltin = echo\nmodel = fork\n"
                      "deny = 127.0.0.2\n"
                      "[who]\nlisten = tcp://127.0.0.1:0\nexec = /bin/sh -c 'echo $TCPREMOTEIP'\n"
                      "[lb]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nmodel = event\n"
                      "proxy_protocol = v1\nproxy_from = 127.0.0.1\n",
                      mode, s->v6 ? " tcp://[::1]:0" : ""),
                NULL);
    s->ports[0] = echo_from("tcp://127.0.0.1:0", h_addr(d, "echo", "tcp://127"));
    s->ports[1] = echo_from("tcp://127.0.0.1:0", h_addr(d, "echo", "tcp://127"));
    if (s->v6)
        s->ports[2] = echo_from("tcp://[::1]:0", h_addr(d, "echo", "tcp://["));
    fd = h_connect_from("tcp://127.0.0.2:0", h_addr(d, "echo", "tcp://127"));
    T_ASSERT(fd >= 0);
    T_ASSERT(h_wait_closed(fd, 5000)); /* denied: 127.0.0.2 is not 127.0.0.1 to the rules */
    close(fd);
    exchange(h_addr(d, "who", "tcp://"), "", out, sizeof(out));
    T_EQ_STR(out, "127.0.0.1\n"); /* the program's environment: the full address */
    fd = h_connect(h_addr(d, "lb", "tcp://"));
    h_send_str(fd, "PROXY TCP4 192.0.2.7 127.0.0.1 40000 7\r\n");
    h_echo_roundtrip(fd, "hi\n");
    close(fd);
    wait_line(d, "service=lb proto=", "end=closed", 5000);
    wait_line(d, "service=who proto=", "end=exit:0", 5000);
    wait_line(d, "service=echo proto=", "end=denied", 5000);
    T_EQ_INT(h_stop(d), 0);
    log = h_log(d);
    for (line = strtok(log, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        const char *peer = field(line, "peer");
        if (peer == NULL)
            continue;
        lines++;
        if (strstr(line, "service=echo ") != NULL && strstr(line, "end=denied") != NULL)
            snprintf(s->denied, sizeof(s->denied), "%s", peer);
        else if (strstr(line, "service=echo ") != NULL && s->necho < 3)
            snprintf(s->echo[s->necho++], sizeof(s->echo[0]), "%s", peer);
        else if (strstr(line, "service=who ") != NULL)
            snprintf(s->who, sizeof(s->who), "%s", peer);
        else if (strstr(line, "service=lb ") != NULL) {
            snprintf(s->real, sizeof(s->real), "%s", peer);
            snprintf(s->balancer, sizeof(s->balancer), "%s", field(line, "via"));
        }
    }
    T_EQ_INT(lines, 5 + s->v6);
    T_EQ_INT(s->necho, 2 + s->v6);
    free(log);
    if (strcmp(mode, "full") == 0)
        return;
    log = h_log(d);
    for (int i = 0; i < 3; i++)
        if (s->ports[i] != 0 && strstr(log, h_fmt(":%d ", s->ports[i])) != NULL)
            T_FAIL("client port %d in the log:\n%s", s->ports[i], log);
    if (strstr(log, "192.0.2.7") != NULL || strstr(log, "127.0.0.2") != NULL ||
        strstr(log, "peer=127.0.0.1") != NULL || strstr(log, "via=127.0.0.1") != NULL ||
        strstr(log, "peer=[::1]") != NULL)
        T_FAIL("a client address in full:\n%s", log);
    free(log);
}

static void test_log_ip_full(void)
{
    struct seen s = {0};

    run_mode("full", &s);
    T_EQ_STR(s.echo[0], h_fmt("127.0.0.1:%d", s.ports[0]));
    T_EQ_STR(s.echo[1], h_fmt("127.0.0.1:%d", s.ports[1]));
    if (s.v6)
        T_EQ_STR(s.echo[2], h_fmt("[::1]:%d", s.ports[2]));
    T_ASSERT(strncmp(s.denied, "127.0.0.2:", 10) == 0);
    T_ASSERT(strncmp(s.who, "127.0.0.1:", 10) == 0);
    T_EQ_STR(s.real, "192.0.2.7:40000");
    T_ASSERT(strncmp(s.balancer, "127.0.0.1:", 10) == 0);
}

static void test_log_ip_truncate(void)
{
    struct seen s = {0};

    run_mode("truncate", &s);
    T_EQ_STR(s.echo[0], "127.0.0.0/24");
    T_EQ_STR(s.echo[1], "127.0.0.0/24");
    if (s.v6)
        T_EQ_STR(s.echo[2], "::/48");
    T_EQ_STR(s.denied, "127.0.0.0/24");
    T_EQ_STR(s.who, "127.0.0.0/24");
    T_EQ_STR(s.real, "192.0.2.0/24");
    T_EQ_STR(s.balancer, "127.0.0.0/24");
}

static void test_log_ip_hash(void)
{
    /* One value for 127.0.0.1 in the per-connection processes, the
     * program's line and the balancer's via= alike; another for each
     * other address. */
    struct seen s = {0};

    run_mode("hash", &s);
    T_ASSERT(is_hash(s.echo[0]));
    T_EQ_STR(s.echo[1], s.echo[0]);
    T_EQ_STR(s.who, s.echo[0]);
    T_EQ_STR(s.balancer, s.echo[0]);
    T_ASSERT(is_hash(s.denied) && strcmp(s.denied, s.echo[0]) != 0);
    T_ASSERT(is_hash(s.real) && strcmp(s.real, s.echo[0]) != 0);
    if (s.v6)
        T_ASSERT(is_hash(s.echo[2]) && strcmp(s.echo[2], s.echo[0]) != 0);
}

static void test_log_ip_none(void)
{
    struct seen s = {0};

    run_mode("none", &s);
    for (int i = 0; i < s.necho; i++)
        T_EQ_STR(s.echo[i], "-");
    T_EQ_STR(s.denied, "-");
    T_EQ_STR(s.who, "-");
    T_EQ_STR(s.real, "-");
    T_EQ_STR(s.balancer, "-");
}

static void test_log_ip_hash_differs_per_run(void)
{
    /* The key is the run's: two daemons give one address two values. */
    char first[64];

    for (int run = 0; run < 2; run++) {
        struct h_daemon *d = h_start("[global]\nlog_ip = hash\n[echo]\nlisten = "
                                     "tcp://127.0.0.1:0\nbuiltin = echo\n",
                                     NULL);
        char *line;
        echo_from("tcp://127.0.0.1:0", h_addr(d, "echo", "tcp://"));
        line = wait_line(d, "service=echo proto=", "end=closed", 5000);
        T_ASSERT(is_hash(field(line, "peer")));
        if (run == 0)
            snprintf(first, sizeof(first), "%s", field(line, "peer"));
        else
            T_ASSERT(strcmp(first, field(line, "peer")) != 0);
        T_EQ_INT(h_stop(d), 0);
    }
}

/* --- log_connections --------------------------------------------------------------------- */

static void test_log_connections_failures(void)
{
    /* Scenario: services with log_connections = failures: an echo that
     * denies 127.0.0.2 and closes idle connections after 200 ms, and a
     * program that exits with the number it reads; and an echo with the
     * default (all).  A successful round trip to each, the program's exit
     * 0, then its exit 3, a denied client and an idle one.  Asserted: the
     * default service writes its success; the failures services write the
     * exit 3, the denial and the timeout, and neither success. */
    struct h_daemon *d =
        h_start("[global]\nworkers = 1\n"
                "[quiet]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nmodel = event\n"
                "deny = 127.0.0.2\nidle_timeout = 200ms\nlog_connections = failures\n"
                "[code]\nlisten = tcp://127.0.0.1:0\nexec = /bin/sh -c 'read x; exit $x'\n"
                "log_connections = failures\n"
                "[loud]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nmodel = event\n",
                NULL);
    char out[16];
    int fd;

    echo_from("tcp://127.0.0.1:0", h_addr(d, "quiet", "tcp://"));
    exchange(h_addr(d, "code", "tcp://"), "0\n", out, sizeof(out));
    echo_from("tcp://127.0.0.1:0", h_addr(d, "loud", "tcp://"));
    wait_line(d, "service=loud proto=", "end=closed", 5000);
    exchange(h_addr(d, "code", "tcp://"), "3\n", out, sizeof(out));
    wait_line(d, "service=code proto=", "end=exit:3", 5000);
    fd = h_connect_from("tcp://127.0.0.2:0", h_addr(d, "quiet", "tcp://"));
    T_ASSERT(fd >= 0 && h_wait_closed(fd, 5000));
    close(fd);
    wait_line(d, "service=quiet proto=", "end=denied", 5000);
    fd = h_connect(h_addr(d, "quiet", "tcp://"));
    T_ASSERT(h_wait_closed(fd, 5000));
    close(fd);
    wait_line(d, "service=quiet proto=", "end=timeout", 5000);
    T_EQ_INT(count_lines(d, "service=quiet proto="), 2);
    T_EQ_INT(count_lines(d, "service=code proto="), 1);
    T_EQ_INT(count_lines(d, "end=exit:0"), 0);
    T_EQ_INT(count_lines(d, "service=loud proto="), 1);
    T_EQ_INT(h_stop(d), 0);
}

/* The stats line of `service` once it has no child left (its last exits reaped). */
static void wait_no_children(const struct h_daemon *d, const char *service)
{
    int64_t deadline = h_now_ms() + 5000LL * t_scale();

    while (h_log_field(h_stats(d, service), "children") != 0)
        if (h_now_ms() > deadline)
            T_FAIL("service %s still has children:\n%s", service, h_log(d));
}

static void test_log_connections_none(void)
{
    /* Scenario: log_connections = none on a program that exits with the
     * number it reads and denies 127.0.0.2, and on a service whose program
     * is removed once usherd has started; exits 0 and 3, a denied client,
     * a client of the removed program; then a round trip to a default
     * service, and every child reaped.  Asserted: no connection line of
     * either none service; the warning that the program could not run is
     * there; the default service's line is. */
    const char *prog = h_fmt("%s/prog", h_tmpdir());
    struct h_daemon *d;
    char out[16];
    int fd;

    h_write_file(prog, "#!/bin/sh\n");
    T_ASSERT(chmod(prog, 0755) == 0);
    d = h_start(h_fmt("[global]\nworkers = 1\n"
                      "[silent]\nlisten = tcp://127.0.0.1:0\nexec = /bin/sh -c 'read x; exit $x'\n"
                      "deny = 127.0.0.2\nlog_connections = none\n"
                      "[broken]\nlisten = tcp://127.0.0.1:0\nexec = %s\nlog_connections = none\n"
                      "[loud]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nmodel = event\n",
                      prog),
                NULL);
    T_ASSERT(unlink(prog) == 0); /* checked at load, gone at run time */

    exchange(h_addr(d, "silent", "tcp://"), "0\n", out, sizeof(out));
    exchange(h_addr(d, "silent", "tcp://"), "3\n", out, sizeof(out));
    fd = h_connect_from("tcp://127.0.0.2:0", h_addr(d, "silent", "tcp://"));
    T_ASSERT(fd >= 0 && h_wait_closed(fd, 5000));
    close(fd);
    exchange(h_addr(d, "broken", "tcp://"), "", out, sizeof(out));
    wait_line(d, "warning: service=broken pid=", h_fmt("unable to execute %s", prog), 5000);
    echo_from("tcp://127.0.0.1:0", h_addr(d, "loud", "tcp://"));
    wait_line(d, "service=loud proto=", "end=closed", 5000);
    wait_no_children(d, "silent");
    wait_no_children(d, "broken");
    T_EQ_INT(count_lines(d, "service=silent proto="), 0);
    T_EQ_INT(count_lines(d, "service=silent:"), 0); /* nor a summary of refusals */
    T_EQ_INT(count_lines(d, "service=broken proto="), 0);
    T_EQ_INT(h_stop(d), 0);
}

/* --- reload ------------------------------------------------------------------------------- */

/* Wait until the daemon has `n` children, none of `old`, each settled in its loop. */
static void wait_new_workers(const struct h_daemon *d, int n, const pid_t *old, int nold)
{
    int64_t deadline = h_now_ms() + 10000LL * t_scale();
    pid_t pids[16];

    for (;;) {
        int got = h_daemon_children(d, pids, 16), fresh = 0;
        for (int i = 0; i < got; i++)
            fresh += !h_pid_among(pids[i], old, nold) && h_proc_settled(pids[i]);
        if (got == n && fresh == n)
            return;
        if (h_now_ms() > deadline)
            T_FAIL("no %d new workers:\n%s", n, h_log(d));
        usleep(10000);
    }
}

static void test_reload_switches_every_worker(void)
{
    /* Scenario: two workers, text and full addresses; a round trip; a
     * reload to json and truncate; new workers; six round trips.
     * Asserted: the first line is text with the full address; the reload
     * says what changed, in JSON; every line after it is JSON (the
     * checker), the six connection lines among them, each with the
     * truncated address. */
    const char *base = "[global]\nworkers = 2\n[echo]\nlisten = tcp://127.0.0.1:0\n"
                       "builtin = echo\nmodel = event\n";
    struct h_daemon *d = h_start(base, NULL);
    char *log, *tail, *path;
    pid_t old[16];
    int nold = h_wait_children(d, 2, true, old, 16, 5000);

    echo_from("tcp://127.0.0.1:0", h_addr(d, "echo", "tcp://"));
    wait_line(d, "usherd: service=echo proto=tcp peer=127.0.0.1:", "end=closed", 5000);
    h_write_file(d->conf_path,
                 "[global]\nworkers = 2\nlog_format = json\nlog_ip = truncate\n"
                 "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nmodel = event\n");
    h_kill(d, SIGHUP);
    wait_line(d, "\"level\":\"info\"",
              "\"msg\":\"log: log_format=json log_ip=truncate\",\"log_format\":\"json\","
              "\"log_ip\":\"truncate\"}",
              5000);
    wait_new_workers(d, 2, old, nold);
    for (int i = 0; i < 6; i++)
        echo_from("tcp://127.0.0.1:0", h_addr(d, "echo", "tcp://"));
    if (!h_wait_log_count(d, "\"peer\":\"127.0.0.0/24\"", 6, 5000))
        T_FAIL("not six JSON lines with the truncated address:\n%s", h_log(d));
    T_EQ_INT(h_stop(d), 0);
    log = h_log(d);
    tail = strstr(log, "{\"time\":\"");
    T_ASSERT(tail != NULL);
    path = h_fmt("%s/tail.log", h_tmpdir());
    h_write_file(path, tail);
    check_json_file(path, 8);
    T_EQ_INT(count_lines(d, "usherd: service=echo"), 1);
    free(log);
}

static const struct t_case cases[] = {
    T_CASE(test_json_lines_whatever_the_bytes),
    T_CASE(test_json_through_syslog),
    T_CASE(test_json_tls_server_name_is_one_field),
    T_CASE(test_log_ip_full),
    T_CASE(test_log_ip_truncate),
    T_CASE(test_log_ip_hash),
    T_CASE(test_log_ip_none),
    T_CASE(test_log_ip_hash_differs_per_run),
    T_CASE(test_log_connections_failures),
    T_CASE(test_log_connections_none),
    T_CASE(test_reload_switches_every_worker),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
