/*
 * Unit tests: the configuration parser and validator (conf.c).
 */
#include "conf.h"
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static struct conf *parse_ok(const char *text)
{
    char *errors = NULL;
    struct conf *c = conf_parse(text, "test.conf", &errors);

    if (c == NULL)
        T_FAIL("unexpected errors:\n%s", errors ? errors : "(none)");
    return c;
}

/* Parse `text`, expect failure; return the error text (malloc'd). */
static char *parse_bad(const char *text)
{
    char *errors = NULL;
    struct conf *c = conf_parse(text, "test.conf", &errors);

    if (c != NULL)
        T_FAIL("configuration accepted:\n%s", text);
    T_ASSERT(errors != NULL);
    return errors;
}

static void test_default_config(void)
{
    /* The embedded default: seven builtins, each on 127.0.0.1 and ::1, TCP and UDP. */
    char *errors = NULL;
    struct conf *c = conf_load_default(NULL, &errors);

    T_ASSERT(c != NULL);
    T_EQ_INT(c->nsvcs, 7);
    T_ASSERT(c->embedded);
    for (size_t i = 0; i < c->nsvcs; i++) {
        T_EQ_INT(c->svcs[i].nlistens, 4);
        T_EQ_INT(c->svcs[i].builtin, (int)i);
    }
    T_EQ_INT(addr_port((struct sockaddr *)&conf_find(c, "echo")->listens[0].addr.ss), 10007);
    T_EQ_INT(addr_port((struct sockaddr *)&conf_find(c, "sumbin")->listens[0].addr.ss), 10112);
    conf_unref(c);
}

static void test_minimal_service_defaults(void)
{
    /* A service needs listen and builtin; the rest has defaults. */
    struct conf *c = parse_ok("[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n");
    const struct svc_conf *s = conf_find(c, "e");

    T_ASSERT(s != NULL);
    T_EQ_INT(s->builtin, BUILTIN_ECHO);
    T_EQ_INT(s->model, MODEL_EVENT);
    T_EQ_INT(s->idle_timeout_ms, 300000);
    T_EQ_INT(s->backlog, 511);
    T_EQ_INT(s->keepalive_ms, 300000);
    T_EQ_INT(s->sock_mode, -1);
    T_EQ_INT(c->shutdown_timeout_ms, 10000);
    T_EQ_INT(c->max_conns, 10000);
    conf_unref(c);
}

static void test_full_syntax(void)
{
    /* Comments of both kinds, inline comments, lists split by blanks and commas. */
    struct conf *c = parse_ok("# comment\n"
                              "; another\n"
                              "[global]\n"
                              "log = stderr            # stderr only here\n"
                              "shutdown_timeout = 500ms\n"
                              "max_conns = 0 ; no limit\n"
                              "\n"
                              "[echo]\n"
                              "  listen = tcp://127.0.0.1:0,udp://127.0.0.1:0  unix:/tmp/e.sock\n"
                              "builtin=echo\n"
                              "idle_timeout = 2m\n"
                              "backlog = 16\n"
                              "keepalive = 60s\n"
                              "mode = 0600\n");
    const struct svc_conf *s = conf_find(c, "echo");

    T_EQ_INT(c->shutdown_timeout_ms, 500);
    T_EQ_INT(c->max_conns, 0);
    T_EQ_INT(s->nlistens, 3);
    T_EQ_INT(s->listens[1].addr.kind, ADDR_UDP);
    T_EQ_INT(s->listens[2].addr.kind, ADDR_UNIX);
    T_EQ_INT(s->listens[2].line, 9);
    T_EQ_INT(s->idle_timeout_ms, 120000);
    T_EQ_INT(s->backlog, 16);
    T_EQ_INT(s->keepalive_ms, 60000);
    T_EQ_INT(s->sock_mode, 0600);
    conf_unref(c);
}

static void test_listen_repeatable(void)
{
    /* listen may be given on several lines; the addresses add up. */
    struct conf *c = parse_ok("[e]\nlisten = tcp://127.0.0.1:0\nlisten = udp://127.0.0.1:0\n"
                              "builtin = echo\n");

    T_EQ_INT(conf_find(c, "e")->nlistens, 2);
    conf_unref(c);
}

static void test_idle_timeout_zero_is_off(void)
{
    struct conf *c = parse_ok("[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                              "idle_timeout = 0\nkeepalive = no\n");

    T_EQ_INT(conf_find(c, "e")->idle_timeout_ms, 0);
    T_EQ_INT(conf_find(c, "e")->keepalive_ms, 0);
    conf_unref(c);
}

static void test_durations_up_to_a_year(void)
{
    /* 365 days is the longest duration, in every unit. */
    struct conf *c = parse_ok("[global]\nshutdown_timeout = 31536000s\n"
                              "[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                              "idle_timeout = 8760h\nmax_time = 31536000000ms\n"
                              "[x]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\n"
                              "rlimit_cpu = 525600m\n");

    T_EQ_INT(c->shutdown_timeout_ms, 31536000000LL);
    T_EQ_INT(conf_find(c, "e")->idle_timeout_ms, 31536000000LL);
    T_EQ_INT(conf_find(c, "e")->max_time_ms, 31536000000LL);
    T_EQ_INT(conf_find(c, "x")->exec->rlimit[RLIM_CPU], 31536000);
    conf_unref(c);
}

static void test_sizes_below_2_63(void)
{
    /* The largest size is 2^63 - 1 bytes; "unlimited" is RLIM_INFINITY. */
    struct conf *c = parse_ok("[x]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\n"
                              "rlimit_as = 9223372036854775807\nrlimit_fsize = 8589934591G\n"
                              "rlimit_core = unlimited\n");
    const struct exec_conf *ex = conf_find(c, "x")->exec;

    T_ASSERT(ex->rlimit[RLIM_AS] == (rlim_t)INT64_MAX);
    T_ASSERT(ex->rlimit[RLIM_FSIZE] == (rlim_t)8589934591ULL << 30);
    T_ASSERT(ex->rlimit[RLIM_CORE] == RLIM_INFINITY);
    conf_unref(c);
}

/* A bad configuration and the error line it must produce. */
static const struct {
    const char *text;
    const char *error;
} bad_cases[] = {
    {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\ncolour = blue\n",
     "test.conf:4: unknown key 'colour'"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nbuiltin = echo\n",
     "test.conf:4: builtin: set twice in this section (first on line 3)"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n[e]\n",
     "test.conf:4: [e]: defined twice (first on line 1)"},
    {"[global]\n[global]\n", "test.conf:2: [global]: defined twice"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nidle_timeout = soon\n",
     "test.conf:4: idle_timeout: 'soon' is not a duration"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = ping\n",
     "test.conf:3: builtin: unknown service 'ping'"},
    {"[e]\nbuiltin = echo\n", "test.conf:1: [e]: no listen addresses"},
    {"[e]\nlisten = tcp://127.0.0.1:0\n", "test.conf:1: [e]: no builtin"},
    {"listen = tcp://127.0.0.1:0\n", "test.conf:1: 'listen' before any section"},
    {"[global]\nlisten = tcp://127.0.0.1:0\n",
     "test.conf:2: 'listen' belongs in a service section"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nshutdown_timeout = 1s\n",
     "test.conf:4: 'shutdown_timeout' belongs in [global]"},
    {"[e]\nlisten = tcp://::1:7\nbuiltin = echo\n",
     "test.conf:2: listen: IPv6 address must be in brackets"},
    {"[e]\nlisten = tcp://127.0.0.1:7\nbuiltin = echo\n[f]\nlisten = tcp://127.0.0.1:7\nbuiltin = "
     "echo\n",
     "test.conf:5: listen: tcp://127.0.0.1:7 is already used by [e] on line 2"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nmode = 0600\n",
     "test.conf:1: [e]: mode and owner apply to unix"},
    {"[e]\nlisten = unix:/tmp/x\nbuiltin = echo\nmode = 999\n",
     "test.conf:4: mode: '999' is not an octal mode"},
    {"[e]\nlisten = unix:/tmp/x\nbuiltin = echo\nowner = no-such-user-here\n",
     "test.conf:4: owner: no such user 'no-such-user-here'"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nbacklog = 0\n",
     "test.conf:4: backlog: '0' is not a whole number from 1 to 65535"},
    {"[e]\nlisten =\nbuiltin = echo\n", "test.conf:2: listen: empty value"},
    {"[bad name]\n", "test.conf:1: [bad name]: a service name is"},
    {"[e\n", "test.conf:1: expected [NAME]"},
    {"[e]\njust words\n", "test.conf:2: expected 'key = value'"},
    {"[global]\nlog = /var/log/x\n", "test.conf:2: log: '/var/log/x' is not a log target"},
    {"[global]\nlog = syslog:udp://127.0.0.1:99999\n",
     "test.conf:2: log: port '99999' is outside the range 0 to 65535"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nidle_timeout = 9223372036854775807ms\n",
     "test.conf:4: idle_timeout: '9223372036854775807ms' is not a duration from 0 to 365 days"},
    {"[global]\nshutdown_timeout = 8761h\n",
     "test.conf:2: shutdown_timeout: '8761h' is not a duration from 0 to 365 days"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nmax_time = 31536000001ms\n",
     "test.conf:4: max_time: '31536000001ms' is not a duration from 0 to 365 days"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\nrlimit_cpu = 9223372036854775807ms\n",
     "test.conf:4: rlimit_cpu: '9223372036854775807ms' is not a duration from 0 to 365 days or "
     "unlimited"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\nrlimit_as = 18446744073709551615\n",
     "test.conf:4: rlimit_as: '18446744073709551615' is not a size from 0 to 2^63-1 bytes (K, M, "
     "G) or unlimited"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\nrlimit_core = 8589934592G\n",
     "test.conf:4: rlimit_core: '8589934592G' is not a size from 0 to 2^63-1 bytes"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\nrlimit_nofile = 2147483648\n",
     "test.conf:4: rlimit_nofile: '2147483648' is not a count from 0 to 2147483647 or unlimited"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nrate = 0000000000000000000000000000005x/s\n",
     "test.conf:4: rate: '0000000000000000000000000000005x/s' is not a rate N/s, N/m or N/h with "
     "N from 0 to 10000000"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nrate_per_ip = 10000001/m\n",
     "test.conf:4: rate_per_ip: '10000001/m' is not a rate N/s, N/m or N/h with N from 0 to "
     "10000000"},
    {"[global]\nmax_conns = -1\n", "test.conf:2: max_conns: '-1' is not a whole number"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nkeepalive = 0s\n",
     "test.conf:4: keepalive: '0s' is not yes, no, or a duration"},
    {"[e]\nlisten = tcp://no-such-host.invalid:7\nbuiltin = echo\n",
     "test.conf:2: listen: no-such-host.invalid:7:"},
    {"[e]\nlisten = unix:run/e.sock\nbuiltin = echo\n",
     "test.conf:2: listen: unix:run/e.sock: a socket path must be absolute"},
    {"[global]\nlog_format = JSON\n", "test.conf:2: log_format: 'JSON' is not text or json"},
    {"[global]\nlog_format = json\nlog_format = text\n",
     "test.conf:3: log_format: set twice in this section (first on line 2)"},
    {"[global]\nlog_ip = anonymize\n",
     "test.conf:2: log_ip: 'anonymize' is not full, truncate, hash or none"},
    {"[global]\nlog_ip = hash\x1b[2J\n", "test.conf:2: log_ip: 'hash\\x1b[2J' is not full"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nlog_connections = errors\n",
     "test.conf:4: log_connections: 'errors' is not all, failures or none"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nlog_format = json\n",
     "test.conf:4: 'log_format' belongs in [global]"},
    {"[global]\nlog_connections = none\n",
     "test.conf:2: 'log_connections' belongs in a service section"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\non_stop = kill\n",
     "test.conf:4: on_stop: 'kill' is not term or leave"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\non_stop = LEAVE\n",
     "test.conf:4: on_stop: 'LEAVE' is not term or leave"},
    {"[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\non_stop = leave\n",
     "test.conf:4: on_stop: applies to exec services only"},
    {"[e]\nlisten = tcp://127.0.0.1:0\non_stop = term\nforward = tcp://127.0.0.1:7\n",
     "test.conf:3: on_stop: applies to exec services only"},
    {"[e]\nlisten = udp://127.0.0.1:0\nexec = /bin/cat\nwait = yes\non_stop = leave\n",
     "test.conf:5: on_stop: leave: a wait = yes program holds the listening socket"},
    {"[global]\non_stop = leave\n", "test.conf:2: 'on_stop' belongs in a service section"},
};

static void test_log_options(void)
{
    /* Every value of the logging options is taken; the defaults are text, full and all. */
    static const struct {
        const char *format, *ip, *conns;
        enum log_format want_format;
        enum log_ip want_ip;
        enum log_conns want_conns;
    } cases[] = {
        {"text", "full", "all", LOG_FORMAT_TEXT, LOG_IP_FULL, LOG_CONNS_ALL},
        {"json", "truncate", "failures", LOG_FORMAT_JSON, LOG_IP_TRUNCATE, LOG_CONNS_FAILURES},
        {"json", "hash", "none", LOG_FORMAT_JSON, LOG_IP_HASH, LOG_CONNS_NONE},
        {"text", "none", "all", LOG_FORMAT_TEXT, LOG_IP_NONE, LOG_CONNS_ALL},
    };
    struct conf *c = parse_ok("[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n");

    T_EQ_INT(c->log_format, LOG_FORMAT_TEXT);
    T_EQ_INT(c->log_ip, LOG_IP_FULL);
    T_EQ_INT(conf_find(c, "e")->log_conns, LOG_CONNS_ALL);
    conf_unref(c);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *text = h_fmt("[global]\nlog_format = %s\nlog_ip = %s\n[e]\nlisten = "
                           "tcp://127.0.0.1:0\nbuiltin = echo\nlog_connections = %s\n",
                           cases[i].format, cases[i].ip, cases[i].conns);
        c = parse_ok(text);
        T_EQ_INT(c->log_format, cases[i].want_format);
        T_EQ_INT(c->log_ip, cases[i].want_ip);
        T_EQ_INT(conf_find(c, "e")->log_conns, cases[i].want_conns);
        conf_unref(c);
        free(text);
    }
}

static void test_log_connections_makes_a_service_changed(void)
{
    /* A reload tells a changed service by its keys: log_connections is one. */
    struct conf *a = parse_ok("[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n");
    struct conf *b = parse_ok("[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                              "log_connections = failures\n");

    T_ASSERT(!conf_svc_equal(conf_find(a, "e"), conf_find(b, "e")));
    conf_unref(a);
    conf_unref(b);
}

static void test_on_stop(void)
{
    /* Default term; leave as asked.  A change of on_stop is a changed service. */
    struct conf *a = parse_ok("[e]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\n");
    struct conf *b = parse_ok("[e]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\n"
                              "on_stop = leave\nstderr = null\n");
    struct conf *c = parse_ok("[e]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\n"
                              "on_stop = term\nstderr = null\n");

    T_EQ_INT(conf_find(a, "e")->exec->on_stop, ON_STOP_TERM);
    T_EQ_INT(conf_find(b, "e")->exec->on_stop, ON_STOP_LEAVE);
    T_EQ_INT(conf_find(c, "e")->exec->on_stop, ON_STOP_TERM);
    T_ASSERT(b->warnings == NULL);
    T_ASSERT(!conf_svc_equal(conf_find(b, "e"), conf_find(c, "e")));
    conf_unref(a);
    conf_unref(b);
    conf_unref(c);
}

static void test_on_stop_leave_warns_what_ends_with_usherd(void)
{
    /* leave with stderr = log (the default): the pipe ends with usherd; with a
     * tls:// listener, the relay does.  Warnings at on_stop's line, and the
     * configuration loads; with stderr = socket, no stderr warning. */
    struct conf *a = parse_ok("[e]\nlisten = tcp://127.0.0.1:0\nexec = /bin/cat\n"
                              "on_stop = leave\n");
    struct conf *b = parse_ok("[e]\nlisten = tls://127.0.0.1:0\nexec = /bin/cat\n"
                              "stderr = socket\non_stop = leave\n"
                              "tls_cert = /c.pem\ntls_key = /k.pem\n");

    T_ASSERT(a->warnings != NULL);
    T_CONTAINS(a->warnings, "test.conf:4: warning: on_stop: leave: a program left running loses "
                            "its stderr (stderr = log)");
    T_ASSERT(b->warnings != NULL);
    T_CONTAINS(b->warnings, "test.conf:5: warning: on_stop: leave: usherd relays the TLS of "
                            "tls://127.0.0.1:0: its connections end when usherd exits");
    T_ASSERT(strstr(b->warnings, "stderr") == NULL);
    conf_unref(a);
    conf_unref(b);
}

static void test_errors_name_file_and_line(void)
{
    for (size_t i = 0; i < ARRAY_LEN(bad_cases); i++) {
        char *errors = parse_bad(bad_cases[i].text);
        if (strstr(errors, bad_cases[i].error) == NULL)
            T_FAIL("case %zu: want \"%s\" in:\n%s", i, bad_cases[i].error, errors);
        free(errors);
    }
}

static void test_every_error_reported(void)
{
    /* One run reports each mistake, with its own line. */
    char *errors = parse_bad("[e]\n"
                             "listen = tcp://127.0.0.1:0\n"
                             "builtin = nope\n"
                             "idle_timeout = x\n"
                             "[f]\n"
                             "listen = tcp://127.0.0.1:0\n"
                             "builtin = echo\n"
                             "colour = red\n");

    T_CONTAINS(errors, "test.conf:3:");
    T_CONTAINS(errors, "test.conf:4:");
    T_CONTAINS(errors, "test.conf:8:");
    free(errors);
}

static void test_bad_section_keys_ignored(void)
{
    /* After a bad section header, its keys do not add errors of their own. */
    char *errors = parse_bad("[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                             "[e]\nlisten = tcp://127.0.0.1:1\nbuiltin = echo\n");

    T_CONTAINS(errors, "test.conf:4:");
    T_ASSERT(strstr(errors, "test.conf:5:") == NULL);
    free(errors);
}

static void test_missing_file(void)
{
    char *errors = NULL;

    T_ASSERT(conf_load("/nonexistent/usherd.conf", NULL, &errors) == NULL);
    T_CONTAINS(errors, "/nonexistent/usherd.conf: unable to open: No such file or directory");
    free(errors);
}

/* A FIFO in the test's directory, with no writer. */
static const char *make_fifo(const char *name)
{
    char *path = h_fmt("%s/%s", h_tmpdir(), name);

    if (mkfifo(path, 0600) < 0)
        T_FAIL("mkfifo %s: %s", path, strerror(errno));
    return path;
}

static void test_fifo_refused_at_once(void)
{
    /* A FIFO as the file, as -I's inetd.conf, or as the inetd key's: each
     * is refused at once, not waited on for a writer (the case's 5 s
     * timeout fails it if open(2) blocks). */
    const char *fifo = make_fifo("usherd.conf");
    const char *conf = h_fmt("%s/ok.conf", h_tmpdir());
    char *errors = NULL;

    h_write_file(conf, "[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n");
    T_ASSERT(conf_load(fifo, NULL, &errors) == NULL);
    T_CONTAINS(errors, h_fmt("%s: a FIFO, not a regular file", fifo));
    free(errors);
    T_ASSERT(conf_load(conf, fifo, &errors) == NULL);
    T_CONTAINS(errors, h_fmt("%s: a FIFO, not a regular file", fifo));
    free(errors);
    errors = parse_bad(h_fmt("[global]\ninetd = %s\n", fifo));
    T_CONTAINS(errors, h_fmt("%s: a FIFO, not a regular file", fifo));
    free(errors);
}

static void test_directory_refused(void)
{
    char *errors = NULL;

    T_ASSERT(conf_load(h_tmpdir(), NULL, &errors) == NULL);
    T_CONTAINS(errors, h_fmt("%s: a directory, not a regular file", h_tmpdir()));
    free(errors);
}

static void test_utf8_accepted(void)
{
    /* Two-, three- and four-byte forms up to U+10FFFF, in values and comments. */
    struct conf *c =
        parse_ok("# caf\xc3\xa9 \xe2\x82\xac \xef\xbf\xbd \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\n"
                 "[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                 "[x]\nlisten = tcp://127.0.0.1:0\nexec = /bin/echo \xc3\xa9t\xc3\xa9\n");

    T_EQ_STR(conf_find(c, "x")->exec->argv[1], "\xc3\xa9t\xc3\xa9");
    conf_unref(c);
}

static const struct {
    const char *bytes, *what;
} bad_utf8[] = {
    {"\x80", "a continuation byte alone"},
    {"\xff", "a byte that is never UTF-8"},
    {"\xc0\xaf", "an overlong '/' in two bytes"},
    {"\xc1\xbf", "an overlong two-byte form"},
    {"\xe0\x80\xaf", "an overlong '/' in three bytes"},
    {"\xf0\x80\x80\xaf", "an overlong '/' in four bytes"},
    {"\xed\xa0\x80", "a surrogate, U+D800"},
    {"\xed\xbf\xbf", "a surrogate, U+DFFF"},
    {"\xf4\x90\x80\x80", "U+110000"},
    {"\xf5\x80\x80\x80", "a lead byte past U+10FFFF"},
    {"\xe2\x82", "a sequence cut short by the end of the line"},
    {"\xe2\x82x", "a sequence cut short by an ASCII byte"},
};

static void test_invalid_utf8_is_an_error_at_its_line(void)
{
    for (size_t i = 0; i < ARRAY_LEN(bad_utf8); i++) {
        char *text =
            h_fmt("[e]\nlisten = tcp://127.0.0.1:0 # ab%s\nbuiltin = echo\n", bad_utf8[i].bytes);
        char *errors = NULL;
        struct conf *c = conf_parse(text, "test.conf", &errors);
        if (c != NULL)
            T_FAIL("%s: accepted", bad_utf8[i].what);
        if (strstr(errors, "test.conf:2: invalid UTF-8 at byte 32 of the line") == NULL)
            T_FAIL("%s: want the line and byte in:\n%s", bad_utf8[i].what, errors);
        free(errors);
    }
    /* Cut short by the end of the file, on line 1. */
    {
        char *errors = parse_bad("# \xf0\x9f\x98");
        T_CONTAINS(errors, "test.conf:1: invalid UTF-8 at byte 3 of the line");
        free(errors);
    }
}

/* Write `len` bytes of `data` to a new file in the test's directory. */
static const char *write_bytes(const char *name, const char *data, size_t len)
{
    const char *path = h_fmt("%s/%s", h_tmpdir(), name);
    FILE *f = fopen(path, "w");

    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        T_FAIL("writing %s: %s", path, strerror(errno));
    return path;
}

static void test_nul_byte_is_an_error_at_its_line(void)
{
    /* A NUL byte on line 3 of the file, and on line 2 of an inetd.conf. */
    static const char conf[] = "[e]\nlisten = tcp://127.0.0.1:0\nbuil\0tin = echo\n";
    static const char inetd[] = "# inetd\necho stream tcp nowait root \0internal\n";
    const char *path = write_bytes("nul.conf", conf, sizeof(conf) - 1);
    const char *ok = write_bytes("ok.conf", "[global]\n", 9);
    const char *ipath = write_bytes("inetd.conf", inetd, sizeof(inetd) - 1);
    char *errors = NULL;

    T_ASSERT(conf_load(path, NULL, &errors) == NULL);
    T_CONTAINS(errors, h_fmt("%s:3: a NUL byte at byte 5 of the line: not a text file", path));
    free(errors);
    T_ASSERT(conf_load(ok, ipath, &errors) == NULL);
    T_CONTAINS(errors, h_fmt("%s:2: a NUL byte at byte 29 of the line", ipath));
    free(errors);
}

static void test_byte_order_mark_skipped(void)
{
    /* A UTF-8 BOM at the start of the file or of an inetd.conf is skipped:
     * the first line reads as written, and lines keep their numbers. */
    static const char conf[] = "\xef\xbb\xbf[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n";
    static const char inetd[] = "\xef\xbb\xbf"
                                "127.0.0.1:echo stream tcp nowait root internal\n";
    struct conf *c = parse_ok(conf);
    char *errors;

    T_ASSERT(conf_find(c, "e") != NULL);
    conf_unref(c);
    errors = parse_bad("\xef\xbb\xbf[e]\nlisten = tcp://127.0.0.1:0\ncolour = blue\n");
    T_CONTAINS(errors, "test.conf:3: unknown key 'colour'");
    T_ASSERT(strstr(errors, "test.conf:1:") != NULL); /* [e]: no builtin, at its header */
    T_ASSERT(strstr(errors, "before any section") == NULL);
    free(errors);
    c = conf_load(write_bytes("bom.conf", conf, sizeof(conf) - 1),
                  write_bytes("inetd.conf", inetd, sizeof(inetd) - 1), &errors);
    if (c == NULL)
        T_FAIL("refused:\n%s", errors);
    T_ASSERT(conf_find(c, "e") != NULL);
    T_ASSERT(conf_find(c, "echo-tcp") != NULL);
    conf_unref(c);
}

static void test_duplicate_listen_names_each_file(void)
{
    /* The same address in the file (line 2) and in the inetd.conf (line 2),
     * then twice in the inetd.conf (lines 3 and 4): each error is at the
     * FILE:LINE of the second listen and names where the first one is. */
    static const char text[] = "[e]\nlisten = tcp://127.0.0.1:17310\nbuiltin = echo\n";
    const char *conf = write_bytes("usherd.conf", text, sizeof(text) - 1);
    static const char inetd[] = "# inetd\n"
                                "127.0.0.1:17310 stream tcp nowait root /bin/cat cat\n"
                                "127.0.0.1:17311 stream tcp nowait root /bin/cat cat\n"
                                "127.0.0.1:17311 stream tcp nowait root /bin/cat cat\n";
    const char *ipath = write_bytes("inetd.conf", inetd, sizeof(inetd) - 1);
    char *errors = NULL;

    T_ASSERT(conf_load(conf, ipath, &errors) == NULL);
    T_CONTAINS(errors, h_fmt("%s:2: listen: tcp://127.0.0.1:17310 is already used by [e] at %s:2\n",
                             ipath, conf));
    T_CONTAINS(
        errors,
        h_fmt("%s:4: listen: tcp://127.0.0.1:17311 is already used by [17311-tcp] on line 3\n",
              ipath));
    T_ASSERT(strstr(errors, h_fmt("%s:2: listen", conf)) == NULL);
    T_ASSERT(strstr(errors, h_fmt("%s:4: listen", conf)) == NULL);
    free(errors);
}

static void test_builtin_names(void)
{
    static const char *const names[] = {"echo", "discard", "daytime", "chargen",
                                        "time", "sum",     "sumbin",  "metrics"};

    for (int i = 0; i < BUILTIN_COUNT; i++) {
        T_EQ_STR(conf_builtin_name((enum builtin_id)i), names[i]);
        T_EQ_INT(conf_builtin_lookup(names[i]), i);
    }
    T_EQ_INT(conf_builtin_lookup("Echo"), BUILTIN_NONE);
}

static const struct t_case cases[] = {
    T_CASE(test_default_config),
    T_CASE(test_minimal_service_defaults),
    T_CASE(test_full_syntax),
    T_CASE(test_listen_repeatable),
    T_CASE(test_idle_timeout_zero_is_off),
    T_CASE(test_durations_up_to_a_year),
    T_CASE(test_sizes_below_2_63),
    T_CASE(test_log_options),
    T_CASE(test_log_connections_makes_a_service_changed),
    T_CASE(test_on_stop),
    T_CASE(test_on_stop_leave_warns_what_ends_with_usherd),
    T_CASE(test_errors_name_file_and_line),
    T_CASE(test_every_error_reported),
    T_CASE(test_bad_section_keys_ignored),
    T_CASE(test_missing_file),
    T_CASE_TIMEOUT(test_fifo_refused_at_once, 5),
    T_CASE(test_directory_refused),
    T_CASE(test_utf8_accepted),
    T_CASE(test_invalid_utf8_is_an_error_at_its_line),
    T_CASE(test_nul_byte_is_an_error_at_its_line),
    T_CASE(test_byte_order_mark_skipped),
    T_CASE(test_duplicate_listen_names_each_file),
    T_CASE(test_builtin_names),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
