/*
 * The command line and the configuration file (SPEC sections 2, 3, 11):
 * -t, every kind of configuration error with its exact FILE:LINE, several
 * errors in one run, exit codes, -h/-V, and the embedded default.
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* A run of usherd with stdout and stderr apart. */
struct run {
    int code;
    char *out, *err;
    char path[512]; /* the config file */
};

/*
 * Write `conf` ("@DIR@" -> the temporary directory) to a file of its own
 * and run usherd -f FILE with the given arguments (NULL-ended), bounded.
 */
static void run_usherd(struct run *r, const char *conf, ...) __attribute__((sentinel));

static void run_usherd(struct run *r, const char *conf, ...)
{
    static int seq;
    const char *argv[32];
    struct h_result res;
    int argc = 0;
    va_list ap;

    memset(r, 0, sizeof(*r));
    argv[argc++] = h_usherd();
    if (conf != NULL) {
        char text[8192], *at;
        size_t dirlen = strlen(h_tmpdir());
        snprintf(text, sizeof(text), "%s", conf);
        while ((at = strstr(text, "@DIR@")) != NULL) {
            memmove(at + dirlen, at + 5, strlen(at + 5) + 1);
            memcpy(at, h_tmpdir(), dirlen);
        }
        snprintf(r->path, sizeof(r->path), "%s/c%d.conf", h_tmpdir(), ++seq);
        h_write_file(r->path, text);
        argv[argc++] = "-f";
        argv[argc++] = r->path;
    }
    va_start(ap, conf);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc < 30;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    h_run(&res, NULL, 0, 10000, argv);
    r->code = res.exit_code;
    r->out = res.out;
    r->err = res.err;
}

static int count_lines(const char *text)
{
    int n = 0;

    for (; *text; text++)
        n += *text == '\n';
    return n;
}

/* Does `text` have a line that starts with `prefix`? */
static bool has_line_starting(const char *text, const char *prefix)
{
    for (const char *line = text; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : "")
        if (strncmp(line, prefix, strlen(prefix)) == 0)
            return true;
    return false;
}

/* A TCP port that is bound (and listening) for the rest of the case. */
static int hold_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 1) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
        T_FAIL("holding a port: %s", strerror(errno));
    return ntohs(sin.sin_port);
}

/* --- -t and valid files -------------------------------------------------- */

static void test_check_ok_binds_nothing(void)
{
    /* Scenario: -t on a valid file using every supported key, comments of
     * both kinds, blank lines, a comma-separated list, and addresses that
     * could not be bound (a TCP port we hold; a Unix socket path).
     * Asserted: stdout is exactly "configuration ok\n", stderr is empty,
     * exit 0, and no socket file was created (-t binds nothing). */
    char conf[2048], sock[512];
    int port = hold_port();
    struct run r;
    struct stat st;

    snprintf(sock, sizeof(sock), "%s/echo.sock", h_tmpdir());
    snprintf(conf, sizeof(conf),
             "# usherd test configuration\n"
             "; another comment\n"
             "\n"
             "[global]\n"
             "log = stderr\n"
             "shutdown_timeout = 5s   # trailing comment\n"
             "max_conns = 100\n"
             "\n"
             "[echo]\n"
             "listen = tcp://127.0.0.1:%d, udp://127.0.0.1:0 unix:%s\n"
             "listen = tcp://[::1]:0\n"
             "builtin = echo\n"
             "model = event\n"
             "idle_timeout = 90s\n"
             "backlog = 128\n"
             "keepalive = 30s\n"
             "mode = 0660\n"
             "owner = daemon\n"
             "group = 1\n"
             "[time]\n"
             "listen = tcp://localhost:0\n"
             "builtin = time\n"
             "keepalive = no\n",
             port, sock);
    run_usherd(&r, conf, "-t", NULL);
    T_EQ_STR(r.out, "configuration ok\n");
    T_EQ_STR(r.err, "");
    T_EQ_INT(r.code, 0);
    if (lstat(sock, &st) == 0)
        T_FAIL("-t created the socket file %s", sock);
}

static void test_check_accepts_every_duration_form(void)
{
    /* Scenario: durations written 500ms, 30s, 5m, 1h and 30 (bare seconds),
     * keepalive yes / no / a duration.  Asserted: -t says ok, exit 0. */
    static const char *const values[] = {"500ms", "30s", "5m", "1h", "30"};

    for (size_t i = 0; i < ARRAY_LEN(values); i++) {
        char conf[512];
        struct run r;
        snprintf(conf, sizeof(conf),
                 "[global]\nshutdown_timeout = %s\n"
                 "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nidle_timeout = %s\n"
                 "keepalive = %s\n",
                 values[i], values[i],
                 i == 0   ? "yes"
                 : i == 1 ? "no"
                          : "2m");
        run_usherd(&r, conf, "-t", NULL);
        if (r.code != 0)
            T_FAIL("duration %s refused (exit %d): %s", values[i], r.code, r.err);
        T_EQ_STR(r.out, "configuration ok\n");
    }
}

/* --- each error ------------------------------------------------------------ */

struct bad_conf {
    const char *what;
    const char *conf;
    int line;          /* where the error is */
    int alt_line;      /* another defensible line for it, or 0 */
    const char *names; /* the message names this (the key, value or section) */
};

static const struct bad_conf bad_confs[] = {
    {"unknown key", "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\ncolour = blue\n", 4, 0,
     "colour"},
    {"unknown key in [global]",
     "[global]\nworkerz = 2\n[a]\nlisten = tcp://127.0.0.1:0\n"
     "builtin = echo\n",
     2, 0, "workerz"},
    {"duplicate section",
     "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n\n[a]\n"
     "listen = tcp://127.0.0.1:0\nbuiltin = echo\n",
     5, 0, "a"},
    {"duplicate [global]",
     "[global]\nmax_conns = 5\n[global]\nmax_conns = 6\n[a]\n"
     "listen = tcp://127.0.0.1:0\nbuiltin = echo\n",
     3, 0, "global"},
    {"duplicate key", "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nbuiltin = time\n", 4, 0,
     "builtin"},
    {"duplicate key in [global]",
     "[global]\nmax_conns = 5\nmax_conns = 6\n[a]\n"
     "listen = tcp://127.0.0.1:0\nbuiltin = echo\n",
     3, 0, "max_conns"},
    {"bad duration", "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nidle_timeout = 5x\n", 4, 0,
     "5x"},
    {"negative duration",
     "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
     "idle_timeout = -5s\n",
     4, 0, "-5s"},
    {"duration past 365 days",
     "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
     "idle_timeout = 9223372036854775807ms\n",
     4, 0, "idle_timeout: '9223372036854775807ms' is not a duration from 0 to 365 days"},
    {"bad shutdown_timeout",
     "[global]\nshutdown_timeout = soon\n[a]\n"
     "listen = tcp://127.0.0.1:0\nbuiltin = echo\n",
     2, 0, "soon"},
    {"bad keepalive", "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nkeepalive = maybe\n", 4, 0,
     "maybe"},
    {"bad model", "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nmodel = threads\n", 4, 0,
     "threads"},
    {"missing listen", "[global]\nmax_conns = 5\n\n[a]\nbuiltin = echo\n", 4, 0, "listen"},
    {"missing builtin", "[a]\nlisten = tcp://127.0.0.1:0\n", 1, 0, "builtin"},
    {"unbracketed IPv6", "[a]\nlisten = tcp://::1:7007\nbuiltin = echo\n", 2, 0, "::1"},
    {"bad address scheme", "[a]\nlisten = sctp://127.0.0.1:7\nbuiltin = echo\n", 2, 0,
     "sctp://127.0.0.1:7"},
    {"missing port", "[a]\nlisten = tcp://127.0.0.1\nbuiltin = echo\n", 2, 0, "port"},
    {"port above 65535 (not wrapped)", "[a]\nlisten = tcp://127.0.0.1:99999\nbuiltin = echo\n", 2,
     0, "'99999' is outside the range 0 to 65535"},
    {"port 65536 (not port 0)", "[a]\nlisten = udp://127.0.0.1:65536\nbuiltin = echo\n", 2, 0,
     "'65536' is outside the range 0 to 65535"},
    {"unresolvable host", "[a]\nlisten = tcp://no-such-host.invalid:7\nbuiltin = echo\n", 2, 0,
     "no-such-host.invalid"},
    {"listen address used twice",
     "[a]\nlisten = tcp://127.0.0.1:7007\nbuiltin = echo\n"
     "[b]\nlisten = udp://127.0.0.1:7007 tcp://127.0.0.1:7007\n"
     "builtin = time\n",
     5, 0, "tcp://127.0.0.1:7007"},
    {"listen address twice in one service",
     "[a]\nlisten = unix:/tmp/usher-never.sock\nlisten = unix:/tmp/usher-never.sock\n"
     "builtin = echo\n",
     3, 0, "/tmp/usher-never.sock"},
    {"mode without a unix listener",
     "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
     "mode = 0600\n",
     1, 4, "mode"},
    {"owner without a unix listener",
     "[a]\nlisten = udp://127.0.0.1:0\nbuiltin = echo\n"
     "owner = daemon\n",
     1, 4, "owner"},
    {"group without a unix listener",
     "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
     "group = daemon\n",
     1, 4, "group"},
    {"bad mode", "[a]\nlisten = unix:/tmp/usher-never.sock\nbuiltin = echo\nmode = 0999\n", 4, 0,
     "0999"},
    {"unknown owner",
     "[a]\nlisten = unix:/tmp/usher-never.sock\nbuiltin = echo\n"
     "owner = no_such_user_x\n",
     4, 0, "no_such_user_x"},
    {"unknown group",
     "[a]\nlisten = unix:/tmp/usher-never.sock\nbuiltin = echo\n"
     "group = no_such_group_x\n",
     4, 0, "no_such_group_x"},
    {"bad max_conns",
     "[global]\nmax_conns = lots\n[a]\nlisten = tcp://127.0.0.1:0\n"
     "builtin = echo\n",
     2, 0, "lots"},
    {"bad backlog", "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nbacklog = -1\n", 4, 0,
     "backlog"},
    {"unsupported log target",
     "[global]\nlog = carrier-pigeon\n[a]\n"
     "listen = tcp://127.0.0.1:0\nbuiltin = echo\n",
     2, 0, "carrier-pigeon"},
    {"service key in [global]",
     "[global]\nbuiltin = echo\n[a]\nlisten = tcp://127.0.0.1:0\n"
     "builtin = echo\n",
     2, 0, "builtin"},
    {"global key in a service",
     "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
     "shutdown_timeout = 1s\n",
     4, 0, "shutdown_timeout"},
    {"key before any section",
     "listen = tcp://127.0.0.1:0\n[a]\nlisten = tcp://127.0.0.1:0\n"
     "builtin = echo\n",
     1, 0, "listen"},
    {"line that is not key = value",
     "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
     "just some words\n",
     4, 0, NULL},
    {"unclosed section header", "[a\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", 1, 0, NULL},
    {"empty value", "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nidle_timeout =\n", 4, 0,
     "idle_timeout"},
};

static void test_each_error_names_file_and_line(void)
{
    /* Scenario: one file per kind of mistake (table above), each run with -t.
     * Asserted: exit 2, nothing on stdout, exactly one stderr line, starting
     * "FILE:LINE: " with the exact line of the mistake (no "usherd:" prefix),
     * and the message names the key, value or section at fault. */
    for (size_t i = 0; i < ARRAY_LEN(bad_confs); i++) {
        const struct bad_conf *b = &bad_confs[i];
        char prefix[600], alt[600];
        struct run r;
        run_usherd(&r, b->conf, "-t", NULL);
        snprintf(prefix, sizeof(prefix), "%s:%d: ", r.path, b->line);
        snprintf(alt, sizeof(alt), "%s:%d: ", r.path, b->alt_line);
        if (r.code != 2)
            T_FAIL("%s: exit %d, want 2; stderr: %s", b->what, r.code, r.err);
        if (r.out[0] != '\0')
            T_FAIL("%s: stdout not empty: %s", b->what, r.out);
        if (count_lines(r.err) != 1)
            T_FAIL("%s: want exactly one error line, got:\n%s", b->what, r.err);
        if (strncmp(r.err, prefix, strlen(prefix)) != 0 &&
            (b->alt_line == 0 || strncmp(r.err, alt, strlen(alt)) != 0))
            T_FAIL("%s: want an error starting \"%s\", got: %s", b->what, prefix, r.err);
        if (b->names != NULL && strcasestr(r.err + strlen(r.path), b->names) == NULL)
            T_FAIL("%s: the message does not name \"%s\": %s", b->what, b->names, r.err);
        free(r.out);
        free(r.err);
    }
}

static void test_bad_builtin_reported_once(void)
{
    /* Scenario: a service whose builtin key has an unknown value ("ftp"), and
     * one where it is empty.  Asserted: exit 2 and exactly one error each,
     * "FILE:3: ..." naming the key; not a second, misleading "no builtin"
     * error for the section, whose builtin key is there (a bad listen value
     * gets no such echo either). */
    static const char *const values[] = {"ftp", ""};

    for (size_t i = 0; i < ARRAY_LEN(values); i++) {
        struct run r;
        char conf[256], prefix[600];
        snprintf(conf, sizeof(conf), "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = %s\n", values[i]);
        run_usherd(&r, conf, "-t", NULL);
        snprintf(prefix, sizeof(prefix), "%s:3: ", r.path);
        T_EQ_INT(r.code, 2);
        if (!has_line_starting(r.err, prefix) || strstr(r.err, "builtin") == NULL)
            T_FAIL("builtin = \"%s\": want an error at line 3, got:\n%s", values[i], r.err);
        if (count_lines(r.err) != 1)
            T_FAIL("builtin = \"%s\": one mistake, want one error line; got:\n%s", values[i],
                   r.err);
    }
}

static void test_all_errors_reported_in_one_run(void)
{
    /* Scenario: one file with seven mistakes in four sections.  Asserted: one
     * run (without -t) reports all seven, each with its FILE:LINE, and nothing else; exit 2. */
    static const char conf[] = "[global]\n"                    /* 1 */
                               "max_conns = many\n"            /* 2: bad value */
                               "[a]\n"                         /* 3 */
                               "listen = tcp://127.0.0.1:0\n"  /* 4 */
                               "builtin = echo\n"              /* 5 */
                               "idle_timeout = 3 weeks\n"      /* 6: bad duration */
                               "colour = blue\n"               /* 7: unknown key */
                               "[b]\n"                         /* 8: no builtin */
                               "listen = tcp://::1:9\n"        /* 9: unbracketed */
                               "[a]\n"                         /* 10: duplicate */
                               "[c]\n"                         /* 11 */
                               "builtin = echo\n"              /* 12 */
                               "backlog = lots\n"              /* 13: bad value */
                               "listen = tcp://127.0.0.1:0\n"; /* 14 */
    static const int lines[] = {2, 6, 7, 8, 9, 10, 13};
    struct run r;

    run_usherd(&r, conf, NULL);
    T_EQ_INT(r.code, 2);
    for (size_t i = 0; i < ARRAY_LEN(lines); i++) {
        char prefix[600];
        snprintf(prefix, sizeof(prefix), "%s:%d: ", r.path, lines[i]);
        if (!has_line_starting(r.err, prefix))
            T_FAIL("no error for line %d; stderr:\n%s", lines[i], r.err);
    }
    if (count_lines(r.err) != (int)ARRAY_LEN(lines))
        T_FAIL("want %zu error lines, got:\n%s", ARRAY_LEN(lines), r.err);
    T_EQ_STR(r.out, "");
}

static void test_bad_config_prevents_start(void)
{
    /* Scenario: start (no -t) on a file with a valid Unix-socket service and
     * one bad key.  Asserted: exit 2, the FILE:LINE error on stderr, no
     * "listening" or "ready" line, and the socket file was never created. */
    struct run r;
    char sock[512];
    struct stat st;

    snprintf(sock, sizeof(sock), "%s/good.sock", h_tmpdir());
    run_usherd(&r,
               "[good]\nlisten = unix:@DIR@/good.sock\nbuiltin = echo\n"
               "[bad]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nidle_timeout = never\n",
               NULL);
    T_EQ_INT(r.code, 2);
    {
        char prefix[600];
        snprintf(prefix, sizeof(prefix), "%s:7: ", r.path);
        if (!has_line_starting(r.err, prefix))
            T_FAIL("want an error at line 7, got:\n%s", r.err);
    }
    if (strstr(r.err, "usherd: listening") != NULL || strstr(r.err, "usherd: ready") != NULL)
        T_FAIL("usherd went on after the error:\n%s", r.err);
    if (lstat(sock, &st) == 0)
        T_FAIL("the socket file %s was created", sock);
}

static void test_missing_config_file(void)
{
    /* Scenario: -f names a file that does not exist.  Asserted: exit 2 and a
     * message naming the file and the cause. */
    char path[512];
    const char *argv[5];
    struct h_result res;

    snprintf(path, sizeof(path), "%s/absent.conf", h_tmpdir());
    argv[0] = h_usherd();
    argv[1] = "-f";
    argv[2] = path;
    argv[3] = NULL;
    h_run(&res, NULL, 0, 10000, argv);
    T_EQ_INT(res.exit_code, 2);
    T_CONTAINS(res.err, path);
    T_CONTAINS(res.err, strerror(ENOENT));
}

/* --- the command line ------------------------------------------------------ */

static void test_check_on_a_fifo_returns_at_once(void)
{
    /* Scenario: -t -f FIFO, a FIFO that no one writes.  Asserted: usherd
     * does not wait for a writer (the run is bounded to 3 s), exit 2, and
     * the message names the file and what it is. */
    char path[512], want[600];
    const char *argv[] = {h_usherd(), "-t", "-f", path, NULL};
    struct h_result res;

    snprintf(path, sizeof(path), "%s/fifo.conf", h_tmpdir());
    if (mkfifo(path, 0600) < 0)
        T_FAIL("mkfifo %s: %s", path, strerror(errno));
    h_run(&res, NULL, 0, 3000, argv);
    T_EQ_INT(res.exit_code, 2);
    snprintf(want, sizeof(want), "%s: a FIFO, not a regular file\n", path);
    T_EQ_STR(res.err, want);
    T_EQ_STR(res.out, "");
}

static void test_unknown_option_exits_2(void)
{
    /* Scenario: an unknown option, and a stray argument.  Asserted: exit 2
     * with a message on stderr, and nothing started (no "ready"). */
    static const char *const bad[] = {"-Z", "--frobnicate", "stray"};

    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct run r;
        run_usherd(&r, "[a]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", bad[i], NULL);
        if (r.code != 2)
            T_FAIL("%s: exit %d, want 2", bad[i], r.code);
        if (r.err[0] == '\0' || strstr(r.err, "usherd: ready") != NULL)
            T_FAIL("%s: stderr: \"%s\"", bad[i], r.err);
    }
}

static void test_help_and_version_exit_0(void)
{
    /* Scenario: -h, --help, -V, --version.  Asserted: exit 0; help prints a
     * usage text naming -f and -t on stdout; version prints "usherd " and
     * the version of the VERSION file (when it is at hand). */
    static const char *const help[] = {"-h", "--help"}, *const version[] = {"-V", "--version"};
    char want[64] = "usherd ";
    FILE *f = fopen("VERSION", "r");

    if (f != NULL) {
        if (fgets(want + 7, (int)sizeof(want) - 7, f) == NULL)
            want[7] = '\0';
        fclose(f);
    }
    for (size_t i = 0; i < 2; i++) {
        struct run r;
        run_usherd(&r, NULL, help[i], NULL);
        T_EQ_INT(r.code, 0);
        T_CONTAINS(r.out, "usage");
        T_CONTAINS(r.out, "-f");
        T_CONTAINS(r.out, "-t");
        run_usherd(&r, NULL, version[i], NULL);
        T_EQ_INT(r.code, 0);
        T_CONTAINS(r.out, want);
    }
}

/* --- the embedded default -------------------------------------------------- */

static const struct {
    const char *name;
    int port;
} default_ports[] = {
    {"echo", 10007}, {"discard", 10009}, {"daytime", 10013}, {"chargen", 10019},
    {"time", 10037}, {"sum", 10111},     {"sumbin", 10112},
};

/* Skip unless the embedded default will be used and its ports are free. */
static void need_default_ports(void)
{
    if (access("/etc/usherd.conf", F_OK) == 0)
        t_skip("/etc/usherd.conf exists, so usherd would not use its embedded default");
    for (size_t i = 0; i < ARRAY_LEN(default_ports); i++) {
        for (int fam = 0; fam < 2; fam++) {
            for (int type = 0; type < 2; type++) {
                struct sockaddr_in6 s6 = {.sin6_family = AF_INET6,
                                          .sin6_addr = IN6ADDR_LOOPBACK_INIT};
                struct sockaddr_in s4 = {.sin_family = AF_INET,
                                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
                int fd = socket(fam ? AF_INET6 : AF_INET,
                                (type ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0),
                    rc;
                s6.sin6_port = s4.sin_port = htons((uint16_t)default_ports[i].port);
                rc = fam ? bind(fd, (struct sockaddr *)&s6, sizeof(s6))
                         : bind(fd, (struct sockaddr *)&s4, sizeof(s4));
                close(fd);
                if (rc < 0)
                    t_skip("port %d (%s) is busy: %s", default_ports[i].port, type ? "udp" : "tcp",
                           strerror(errno));
            }
        }
    }
}

static void test_embedded_default_check(void)
{
    /* Scenario: usherd -t without -f (and no /etc/usherd.conf).  Asserted:
     * the embedded default is valid: "configuration ok", exit 0. */
    struct run r;

    if (access("/etc/usherd.conf", F_OK) == 0)
        t_skip("/etc/usherd.conf exists");
    run_usherd(&r, NULL, "-t", NULL);
    T_EQ_STR(r.out, "configuration ok\n");
    T_EQ_INT(r.code, 0);
}

static void test_embedded_default_serves_every_builtin(void)
{
    /* Scenario: usherd without -f (skipped if /etc/usherd.conf exists or a
     * default port is busy).  Asserted: it listens on exactly the 28
     * addresses of SPEC 3.4 (7 builtins x TCP/UDP x 127.0.0.1/::1), and
     * echo answers over TCP and UDP on both; then it stops with exit 0. */
    struct h_daemon *d;
    char addr[64], buf[16];

    need_default_ports();
    d = h_start(NULL, NULL);
    T_EQ_INT(d->nlistens, 28);
    for (size_t i = 0; i < ARRAY_LEN(default_ports); i++) {
        static const char *const forms[] = {"tcp://127.0.0.1:%d", "tcp://[::1]:%d",
                                            "udp://127.0.0.1:%d", "udp://[::1]:%d"};
        for (size_t f = 0; f < ARRAY_LEN(forms); f++) {
            snprintf(addr, sizeof(addr), forms[f], default_ports[i].port);
            T_EQ_STR(h_addr(d, default_ports[i].name, addr), addr);
        }
    }
    for (int v6 = 0; v6 <= 1; v6++) {
        int fd;
        snprintf(addr, sizeof(addr), v6 ? "tcp://[::1]:%d" : "tcp://127.0.0.1:%d", 10007);
        fd = h_connect(addr);
        h_send_str(fd, "ping");
        h_recv_exact(fd, buf, 4);
        T_EQ_MEM(buf, "ping", 4);
        close(fd);
        snprintf(addr, sizeof(addr), v6 ? "udp://[::1]:%d" : "udp://127.0.0.1:%d", 10007);
        T_EQ_INT(h_dgram_exchange(addr, "pong", 4, buf, sizeof(buf), 2000), 4);
        T_EQ_MEM(buf, "pong", 4);
    }
    T_EQ_INT(h_stop(d), 0);
}

static const struct t_case cases[] = {
    T_CASE(test_check_ok_binds_nothing),
    T_CASE(test_check_accepts_every_duration_form),
    T_CASE(test_each_error_names_file_and_line),
    T_CASE(test_bad_builtin_reported_once),
    T_CASE(test_all_errors_reported_in_one_run),
    T_CASE(test_bad_config_prevents_start),
    T_CASE(test_missing_config_file),
    T_CASE(test_check_on_a_fifo_returns_at_once),
    T_CASE(test_unknown_option_exits_2),
    T_CASE(test_help_and_version_exit_0),
    T_CASE(test_embedded_default_check),
    T_CASE(test_embedded_default_serves_every_builtin),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
