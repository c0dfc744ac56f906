/*
 * Unit tests: the xinetd reader (conf_xinetd.c, conf_xinetd_keys.c).
 *
 * The splitting and the operators are tested on text alone (xinetd_split,
 * xinetd_merge_*); the meaning of the attributes through a whole load, a
 * configuration holding `xinetd = DIR/xinetd.conf` and the files written in
 * a temporary directory.  Each table row is one file and what must come of
 * it: an error at its line, or the usherd keys the service gets.
 */
#include "conf.h"
#include "conf_xinetd.h"
#include "harness.h"
#include "t.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Split `text` as file "x.conf"; returns the errors ("" if none), the items in *f. */
static char *split(const char *text, struct xi_file *f)
{
    struct conf_errs errs = {0};
    struct parser p = {.file = "x.conf", .errs = &errs};
    char *copy = strdup(text);

    T_ASSERT(copy != NULL);
    memset(f, 0, sizeof(*f));
    xinetd_split(&p, copy, f);
    return errs.text ? errs.text : strdup("");
}

static void test_split_entries_and_directives(void)
{
    /* Comments (first non-blank '#'), blank lines, blanks and tabs, a
     * defaults entry, a service, both directives; '#' inside a value is
     * the value's (xinetd has no trailing comments). */
    struct xi_file f;
    char *errors = split("# comment\n"
                         "\n"
                         "defaults\n"
                         "{\n"
                         "\tinstances = 60\n"
                         "}\n"
                         "  # indented comment\n"
                         "service echo\n"
                         "  {  \n"
                         "\tsocket_type\t= stream\n"
                         "\tonly_from += 10.0.0.1   10.0.0.2 #x\n"
                         "\tno_access -= 10.0.0.3\n"
                         "\tserver_args =\n"
                         "}\n"
                         "include /etc/x\n"
                         "includedir /etc/x.d\n",
                         &f);

    T_EQ_STR(errors, "");
    T_EQ_INT(f.nitems, 4);
    T_EQ_INT(f.items[0].kind, XI_DEFAULTS);
    T_EQ_INT(f.items[0].nattrs, 1);
    T_EQ_INT(f.items[1].kind, XI_SERVICE);
    T_EQ_STR(f.items[1].name, "echo");
    T_EQ_INT(f.items[1].line, 8);
    T_EQ_INT(f.items[1].nattrs, 4);
    T_EQ_STR(f.items[1].attrs[1].name, "only_from");
    T_EQ_INT(f.items[1].attrs[1].op, XI_ADD);
    T_EQ_INT(f.items[1].attrs[1].nvalues, 3);
    T_EQ_STR(f.items[1].attrs[1].values[2], "#x");
    T_EQ_INT(f.items[1].attrs[1].line, 11);
    T_EQ_INT(f.items[1].attrs[2].op, XI_REMOVE);
    T_EQ_INT(f.items[1].attrs[3].nvalues, 0);
    T_EQ_INT(f.items[2].kind, XI_INCLUDE);
    T_EQ_STR(f.items[2].name, "/etc/x");
    T_EQ_INT(f.items[3].kind, XI_INCLUDEDIR);
    xinetd_file_free(&f);
}

static void test_split_errors(void)
{
    /* Each text has one mistake; the error names its line. */
    static const struct {
        const char *text, *error;
    } cases[] = {
        {"service a\n{\nwait = no\n", "x.conf:1: the entry begun here has no '}'"},
        {"service a\n{\n", "x.conf:1: the entry begun here has no '}'"},
        {"service a\n", "x.conf:1: the entry begun here has no '}'"},
        {"}\n", "x.conf:1: '}' without an entry open: braces do not balance"},
        {"{\n}\n", "x.conf:1: '{' without 'service NAME' or 'defaults'"},
        {"service a\nwait = no\n}\n",
         "x.conf:2: expected '{' alone on the line after the entry begun on line 1"},
        {"service a\n{\nservice b\n{\n}\n",
         "x.conf:3: 'service' inside the entry begun on line 1: a '}' is missing before it"},
        {"service a\n{\n{\n}\n", "x.conf:3: '{' inside the entry begun on line 1"},
        {"service a\n{\n  wait\n}\n",
         "x.conf:3: 'wait': expected 'ATTRIBUTE = VALUE...' (or += or -=)"},
        {"service a\n{\n  wait == no\n}\n", ""}, /* "= no" is its value: fine here */
        {"service a\n{\n  wa-it = no\n}\n", "x.conf:3: 'wa-it': expected 'ATTRIBUTE = VALUE...'"},
        {"service a\n{\n  wait *= no\n}\n", "x.conf:3: 'wait': expected 'ATTRIBUTE = VALUE...'"},
        {"service a b\n{\n}\n", "x.conf:1: service: expected 'service NAME'"},
        {"service\n", "x.conf:1: service: expected 'service NAME'"},
        {"defaults x\n", "x.conf:1: defaults: expected 'defaults'"},
        {"include\n", "x.conf:1: include: expected 'include FILE'"},
        {"includedir a b\n", "x.conf:1: includedir: expected 'includedir DIRECTORY'"},
        {"bogus line\n", "x.conf:1: 'bogus': expected 'service NAME', 'defaults'"},
        {"service a\n{\n} # done\n", "x.conf:3: '}': expected 'ATTRIBUTE = VALUE...'"},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct xi_file f;
        char *errors = split(cases[i].text, &f);
        if (cases[i].error[0] == '\0' ? errors[0] != '\0' : strstr(errors, cases[i].error) == NULL)
            T_FAIL("case %zu:\n%s\nwanted \"%s\", got:\n%s", i, cases[i].text, cases[i].error,
                   errors);
        xinetd_file_free(&f);
        free(errors);
    }
}

/* Merge the defaults and the one service of `text`; the errors ("" if none), the service in *s. */
static char *merge(const char *text, struct xi_service *s)
{
    struct conf_errs errs = {0};
    struct parser p = {.file = "x.conf", .errs = &errs};
    struct xi_service defaults = {0};
    struct xi_file f;
    char *split_errors = split(text, &f);
    bool after = false;

    T_EQ_STR(split_errors, "");
    memset(s, 0, sizeof(*s));
    /* As the reader does: the defaults entry first, wherever it is, then the service. */
    for (size_t i = 0; i < f.nitems; i++)
        if (f.items[i].kind == XI_DEFAULTS)
            xinetd_merge_defaults(&p, &f.items[i], "x.conf", &defaults);
    for (size_t i = 0; i < f.nitems; i++) {
        if (f.items[i].kind == XI_DEFAULTS)
            after = true;
        else if (f.items[i].kind == XI_SERVICE)
            xinetd_merge_service(&p, &defaults, after, &f.items[i], "x.conf", s, NULL, NULL);
    }
    /* The values point into the text: keep it (the test process ends soon). */
    free(f.items);
    xinetd_service_free(&defaults);
    return errs.text ? errs.text : strdup("");
}

/* The values of `id` joined by blanks. */
static char *joined(const struct xi_service *s, enum xi_attr_id id)
{
    char buf[1024] = "";
    size_t off = 0;

    for (size_t i = 0; i < s->val[id].n; i++)
        off +=
            (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? " " : "", s->val[id].v[i]);
    return strdup(buf);
}

static void test_merge_operators_and_defaults(void)
{
    static const struct {
        const char *text;
        enum xi_attr_id id;
        const char *want; /* the values joined, or "-" for not set */
    } cases[] = {
        /* A defaults list is where a later service starts: += adds, = replaces, -= takes. */
        {"defaults\n{\nonly_from = 10.0.0.1\n}\nservice a\n{\nonly_from += 10.0.0.2\n}\n",
         XA_ONLY_FROM, "10.0.0.1 10.0.0.2"},
        {"defaults\n{\nonly_from = 10.0.0.1\n}\nservice a\n{\nonly_from = 10.0.0.2\n}\n",
         XA_ONLY_FROM, "10.0.0.2"},
        {"defaults\n{\nonly_from = 10.0.0.1 10.0.0.2\n}\nservice a\n{\nonly_from -= 10.0.0.1\n}\n",
         XA_ONLY_FROM, "10.0.0.2"},
        {"defaults\n{\nonly_from = 10.0.0.1\n}\nservice a\n{\nwait = no\n}\n", XA_ONLY_FROM,
         "10.0.0.1"},
        /* ...but a service before the defaults entry gets none of its lists... */
        {"service a\n{\nwait = no\n}\ndefaults\n{\nonly_from = 10.0.0.1\n}\n", XA_ONLY_FROM, "-"},
        /* ...and all of its other values, as xinetd fills them in at the end. */
        {"service a\n{\nwait = no\n}\ndefaults\n{\ninstances = 7\n}\n", XA_INSTANCES, "7"},
        {"defaults\n{\ninstances = 7\n}\nservice a\n{\ninstances = 9\n}\n", XA_INSTANCES, "9"},
        /* In defaults, '=' on a list adds, as in xinetd. */
        {"defaults\n{\nno_access = 1.1.1.1\nno_access = 2.2.2.2\n}\nservice a\n{\nwait = no\n}\n",
         XA_NO_ACCESS, "1.1.1.1 2.2.2.2"},
        {"service a\n{\nenv = A=1\nenv += B=2\n}\n", XA_ENV, "A=1 B=2"},
        {"service a\n{\nenv = A=1\nenv = B=2\n}\n", XA_ENV, "B=2"},
        {"service a\n{\nonly_from =\n}\n", XA_ONLY_FROM, ""},
        {"service a\n{\nserver_args = -a  -b\t-c\n}\n", XA_SERVER_ARGS, "-a -b -c"},
        {"service a\n{\ninterface = 127.0.0.1\n}\n", XA_BIND, "127.0.0.1"},
        {"defaults\n{\nbanner = /b\n}\nservice a\n{\nbanner = /c\n}\n", XA_BANNER, "/c"},
        {"defaults\n{\ndisabled = a b\ndisabled += c\n}\nservice z\n{\nwait = no\n}\n", XA_DISABLED,
         "-"},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct xi_service s;
        char *errors = merge(cases[i].text, &s), *got = joined(&s, cases[i].id);
        if (errors[0] != '\0')
            T_FAIL("case %zu: errors:\n%s", i, errors);
        if (strcmp(cases[i].want, "-") == 0
                ? s.val[cases[i].id].line != 0
                : strcmp(got, cases[i].want) != 0 || s.val[cases[i].id].line == 0)
            T_FAIL("case %zu:\n%s\nwanted \"%s\", got \"%s\" (line %d)", i, cases[i].text,
                   cases[i].want, got, s.val[cases[i].id].line);
        free(got);
        free(errors);
        xinetd_service_free(&s);
    }
}

static void test_merge_errors(void)
{
    static const struct {
        const char *text, *error;
    } cases[] = {
        {"service a\n{\nwait = no\nwait = yes\n}\n",
         "x.conf:4: wait: set twice in this service (first on line 3)"},
        {"service a\n{\nwait += yes\n}\n", "x.conf:3: wait: takes only '=' (not '+=')"},
        {"service a\n{\nport -= 7\n}\n", "x.conf:3: port: takes only '=' (not '-=')"},
        {"service a\n{\ncps = 10\n}\n", "x.conf:3: cps: takes 2 values, not 1"},
        {"service a\n{\nredirect = 127.0.0.1\n}\n", "x.conf:3: redirect: takes 2 values, not 1"},
        {"service a\n{\nuser = a b\n}\n", "x.conf:3: user: takes 1 value, not 2"},
        {"service a\n{\ntype =\n}\n", "x.conf:3: type: no value"},
        {"service a\n{\nfoo = bar\n}\n", "x.conf:3: unknown attribute 'foo'"},
        {"service a\n{\naccess_times = 2:00-8:00\n}\n",
         "x.conf:3: access_times: not supported: usherd has no times of day"},
        {"service a\n{\nrpc_number = 5\n}\n", "x.conf:3: rpc_number: not supported"},
        {"service a\n{\nenv -= A=1\n}\n", "x.conf:3: env: takes '=' and '+=' (not '-='"},
        {"service a\n{\ndisabled = x\n}\n", "x.conf:3: disabled: belongs in the defaults entry"},
        {"defaults\n{\nserver = /bin/cat\n}\n",
         "x.conf:3: server: not an attribute of defaults (a service's)"},
        {"defaults\n{\ninstances = 1\ninstances = 2\n}\n",
         "x.conf:4: instances: set twice in this defaults entry (first on line 3)"},
        {"defaults\n{\nbogus = 1\n}\n", "x.conf:3: unknown attribute 'bogus'"},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct xi_service s;
        char *errors = merge(cases[i].text, &s);
        if (strstr(errors, cases[i].error) == NULL)
            T_FAIL("case %zu:\n%s\nwanted \"%s\", got:\n%s", i, cases[i].text, cases[i].error,
                   errors);
        free(errors);
        xinetd_service_free(&s);
    }
}

/* Loading whole configurations */

/* Write DIR/NAME with `text`; returns the path. */
static char *put(const char *name, const char *text)
{
    char *path = h_fmt("%s/%s", h_tmpdir(), name);

    h_write_file(path, text);
    return path;
}

/* Load `text` as DIR/xinetd.conf through -X (conf_load_sources); *errors set if it fails. */
static struct conf *load(const char *text, char **errors)
{
    struct conf_sources src = {.xinetd = put("xinetd.conf", text)};

    *errors = NULL;
    return conf_load_sources(&src, errors);
}

static void test_load_errors_name_file_line_and_attribute(void)
{
    static const struct {
        const char *body; /* of "service NAME {...}" at line 1: the body starts at line 3 */
        const char *name, *error;
    } cases[] = {
        {"socket_type = stream\ninstances = -1\nwait = no\ntype = INTERNAL\n", "echo",
         ":4: instances: '-1' is not a whole number from 1 to 10000000 or UNLIMITED"},
        {"socket_type = stream\nwait = no\ntype = INTERNAL\nper_source = x\n", "echo",
         ":6: per_source: 'x' is not a whole number"},
        {"socket_type = stream\nwait = no\ntype = INTERNAL UNLISTED\nport = 70000\n", "echo",
         ":6: port: '70000' is not a whole number from 0 to 65535"},
        {"socket_type = stream\nwait = no\ntype = INTERNAL\nport = 8\n", "echo",
         ":6: port: 8, but /etc/services has 7 for echo/tcp"},
        {"socket_type = stream\nwait = no\ntype = RPC\n", "echo",
         ":5: type: RPC services are not supported"},
        {"socket_type = stream\nwait = no\ntype = TCPMUX\n", "echo",
         ":5: type: TCPMUX services are not supported"},
        {"socket_type = raw\nwait = no\n", "echo", ":3: socket_type: 'raw' is not served"},
        {"socket_type = stream\nprotocol = udp\nwait = no\n", "echo",
         ":4: protocol: udp does not go with socket_type stream"},
        {"socket_type = stream\nwait = no\nflags = SENSOR\n", "echo",
         ":5: flags: SENSOR is not supported by usherd"},
        {"socket_type = stream\ntype = INTERNAL\n", "echo",
         ":1: service echo: wait (yes or no) is required"},
        {"wait = no\ntype = INTERNAL\n", "echo",
         ":1: service echo: socket_type (or protocol) is required"},
        {"socket_type = stream\nwait = maybe\n", "echo", ":4: wait: 'maybe' is not yes or no"},
        {"socket_type = stream\nwait = no\ntype = INTERNAL UNLISTED\nport = 9099\n", "servers",
         ":5: type = INTERNAL: usherd has no built-in service 'servers'"},
        {"socket_type = stream\nwait = no\ntype = UNLISTED\n", "x",
         ":1: service x: type = UNLISTED needs a port"},
        {"socket_type = stream\nwait = no\n", "no-such-service-here",
         ":1: service no-such-service-here: not in /etc/services for tcp"},
        {"socket_type = stream\nwait = no\ntype = UNLISTED\nport = 1\n", "x",
         ":1: service x: server is required"},
        {"socket_type = stream\nwait = no\ntype = UNLISTED\nport = 1\nserver = cat\n", "x",
         ":7: server: 'cat' must be an absolute path"},
        {"socket_type = stream\nwait = no\ntype = UNLISTED\nport = 1\nserver = /bin/cat\n"
         "flags = NAMEINARGS\n",
         "x", ":8: flags: NAMEINARGS needs server_args"},
        {"socket_type = stream\nwait = no\ntype = UNLISTED\nport = 1\nserver = /bin/cat\n"
         "nice = 30\n",
         "x", ":8: nice: '30' is not a whole number from -20 to 19"},
        {"socket_type = stream\nwait = no\ntype = UNLISTED\nport = 1\nserver = /bin/cat\n"
         "umask = 999\n",
         "x", ":8: umask: '999' is not an octal mode"},
        {"socket_type = stream\nwait = no\ntype = UNLISTED\nport = 1\nserver = /bin/cat\n"
         "rlimit_as = 5T\n",
         "x",
         ":8: rlimit_as: '5T' is not a number of bytes (K or M after it, or none) or UNLIMITED"},
        {"socket_type = stream\nwait = no\ntype = UNLISTED\nport = 1\nserver = /bin/cat\n"
         "rlimit_cpu = 10K\n",
         "x", ":8: rlimit_cpu: '10K' is not a number of seconds or UNLIMITED"},
        {"socket_type = stream\nwait = no\ntype = UNLISTED\nport = 1\nserver = /bin/cat\n"
         "user = no-such-user-here\n",
         "x", ":8: user: no such user 'no-such-user-here'"},
        {"socket_type = stream\nwait = no\ntype = UNLISTED\nport = 1\nserver = /bin/cat\n"
         "env = NOEQUALS\n",
         "x", ":8: env: 'NOEQUALS' is not NAME=VALUE"},
        {"socket_type = stream\nwait = no\ntype = UNLISTED\nport = 1\nserver = /bin/cat\n"
         "only_from = .example.com\n",
         "x", ":8: only_from: '.example.com': a domain matches peers by their reverse lookup"},
        {"socket_type = stream\nwait = no\ntype = UNLISTED\nport = 1\nserver = /bin/cat\n"
         "no_access = 300.1.1.1/8\n",
         "x", ":8: no_access: '300.1.1.1': not an IPv4 or IPv6 address"},
        {"socket_type = stream\nwait = no\ntype = UNLISTED\nport = 1\nserver = /bin/cat\n"
         "only_from = 10.0.{1,2\n",
         "x", ":8: only_from: '10.0.{1,2' is not a factorized address"},
        {"socket_type = stream\nwait = no\ntype = UNLISTED\nport = 1\nserver = /bin/cat\n"
         "cps = 10 x\n",
         "x", ":8: cps: '10 x' is not N S"},
        {"socket_type = dgram\nwait = no\ntype = UNLISTED\nport = 1\nredirect = 127.0.0.1 7\n", "x",
         ":7: redirect: for stream (tcp) services only"},
        {"socket_type = stream\nwait = no\ntype = UNLISTED\nport = 1\nredirect = 127.0.0.1 0\n",
         "x", ":7: redirect: '0' is not a port from 1 to 65535"},
        {"socket_type = stream\nwait = no\ntype = UNLISTED\nport = 1\nserver = /bin/cat\n"
         "banner = relative\n",
         "x", ":8: banner: 'relative' must be an absolute path"},
        {"socket_type = stream\nwait = no\ntype = UNLISTED\nport = 1\nserver = /bin/cat\n"
         "banner = /nonexistent/banner\n",
         "x", ":8: banner: unable to open /nonexistent/banner: No such file or directory"},
        {"socket_type = stream\nwait = no\ntype = INTERNAL\nid = a b\n", "echo",
         ":6: id: takes 1 value, not 2"},
        {"socket_type = stream\nwait = no\ntype = INTERNAL\nid = no/slash\n", "echo",
         ":6: id 'no/slash': usherd names a service with 1-63 letters"},
        {"socket_type = stream\nwait = no\ntype = INTERNAL\nv6only = perhaps\n", "echo",
         ":6: v6only: 'perhaps' is not yes or no"},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *text = h_fmt("service %s\n{\n%s}\n", cases[i].name, cases[i].body), *errors;
        struct conf *c = load(text, &errors);
        char *want = h_fmt("%s/xinetd.conf%s", h_tmpdir(), cases[i].error);
        if (c != NULL || errors == NULL || strstr(errors, want) == NULL)
            T_FAIL("case %zu:\n%s\nwanted \"%s\", got:\n%s", i, text, want,
                   errors ? errors : "(accepted)");
        conf_unref(c);
        free(errors);
    }
}

/* The canonical text of service `name` of a successful load of `text` (malloc'd). */
static char *canon_of(const char *text, const char *name)
{
    char *errors;
    struct conf *c = load(text, &errors);
    const struct svc_conf *s;
    char *out;

    if (c == NULL)
        T_FAIL("not loaded:\n%s\n%s", text, errors);
    if ((s = conf_find(c, name)) == NULL)
        T_FAIL("no service %s from:\n%s", name, text);
    out = strdup(s->canon);
    conf_unref(c);
    return out;
}

static void test_attributes_become_usherd_keys(void)
{
    static const struct {
        const char *text, *name, *canon;
    } cases[] = {
        {"service echo\n{\nsocket_type = stream\nwait = no\ntype = INTERNAL\nuser = root\n}\n",
         "echo", "listen=tcp://*:7\nbuiltin=echo\n"},
        {"service daytime\n{\nprotocol = udp\nwait = yes\ntype = INTERNAL\n}\n", "daytime",
         "listen=udp://*:13\nbuiltin=daytime\n"},
        {"service echo\n{\nsocket_type = stream\nwait = no\ntype = INTERNAL UNLISTED\nport = 17\n"
         "bind = 127.0.0.1\n}\n",
         "echo", "listen=tcp://127.0.0.1:17\nbuiltin=echo\n"},
        {"service echo\n{\nsocket_type = stream\nwait = no\ntype = INTERNAL\nflags = IPv4\n}\n",
         "echo", "listen=tcp://0.0.0.0:7\nbuiltin=echo\n"},
        {"service echo\n{\nsocket_type = stream\nwait = no\ntype = INTERNAL\nflags = IPv6\n"
         "v6only = yes\n}\n",
         "echo", "listen=tcp://[::]:7\nbuiltin=echo\n"},
        {"service echo\n{\nsocket_type = stream\nwait = no\ntype = INTERNAL\ninterface = ::1\n}\n",
         "echo", "listen=tcp://[::1]:7\nbuiltin=echo\n"},
        /* A program: server_args split at blanks, quoted for exec; the process's keys. */
        {"service x\n{\ntype = UNLISTED\nport = 9000\nsocket_type = stream\nwait = no\n"
         "server = /bin/echo\nserver_args = it's  a\ttest\nuser = root\ngroup = 0\nnice = 5\n"
         "umask = 077\nenv = A=1 B=two\npassenv = PATH\nrlimit_as = 64M\nrlimit_cpu = 5\n"
         "rlimit_data = 1K\nrlimit_rss = UNLIMITED\nrlimit_stack = 8M\nrlimit_files = 100\n}\n",
         "x",
         "listen=tcp://*:9000\nexec='/bin/echo' 'it'\\''s' 'a' 'test'\nwait=no\nuser=root\n"
         "group=0\nnice=5\numask=077\nenv=A=1\nenv=B=two\npassenv=PATH\nrlimit_as=67108864\n"
         "rlimit_cpu=5\nrlimit_data=1024\nrlimit_rss=unlimited\nrlimit_stack=8388608\n"
         "rlimit_nofile=100\n"},
        /* NAMEINARGS: server_args begins with argv[0], as tcpd wants it (a program that
         * exists here: the load checks it). */
        {"service x\n{\ntype = UNLISTED\nport = 9000\nsocket_type = stream\nwait = no\n"
         "flags = NAMEINARGS REUSE\nserver = /bin/echo\nserver_args = /usr/sbin/in.x -l\n}\n",
         "x", "listen=tcp://*:9000\nexec='/bin/echo' '-l'\nargv0=/usr/sbin/in.x\nwait=no\n"},
        /* Access: networks with trailing zero octets, factorized, prefixes, names. */
        {"service x\n{\ntype = UNLISTED\nport = 9000\nsocket_type = stream\nwait = no\n"
         "server = /bin/cat\nonly_from = 10.1.0.0 0.0.0.0 192.168.1.7 10.0.{1,2} 172.16.0.0/12 "
         "::1 localhost\nno_access = 10.1.2.0\n}\n",
         "x",
         "listen=tcp://*:9000\nexec='/bin/cat'\nwait=no\nallow=10.1.0.0/16 0.0.0.0/0 "
         "192.168.1.7/32 10.0.1.0/24 10.0.2.0/24 172.16.0.0/12 ::1 127.0.0.1\n"
         "deny=10.1.2.0/24\n"},
        {"service x\n{\ntype = UNLISTED\nport = 9000\nsocket_type = stream\nwait = no\n"
         "server = /bin/cat\nonly_from =\n}\n",
         "x", "listen=tcp://*:9000\nexec='/bin/cat'\nwait=no\ndeny=0.0.0.0/0 ::/0\n"},
        /* Limits. */
        {"service x\n{\ntype = UNLISTED\nport = 9000\nsocket_type = stream\nwait = no\n"
         "server = /bin/cat\ninstances = 30\nper_source = UNLIMITED\ncps = 25 30\n}\n",
         "x", "listen=tcp://*:9000\nexec='/bin/cat'\nwait=no\nmax_conns=30\nrate=25/s\n"},
        /* wait = yes: the program accepts; instances (from defaults, say) mean nothing. */
        {"defaults\n{\ninstances = 60\nper_source = 5\n}\nservice x\n{\ntype = UNLISTED\n"
         "port = 9000\nsocket_type = dgram\nwait = yes\nserver = /bin/cat\n}\n",
         "x", "listen=udp://*:9000\nexec='/bin/cat'\nwait=yes\n"},
        /* redirect is forward; nothing of a process. */
        {"service x\n{\ntype = UNLISTED\nport = 9000\nsocket_type = stream\nwait = no\n"
         "redirect = ::1 echo\nuser = root\n}\n",
         "x", "listen=tcp://*:9000\nforward=tcp://[::1]:7\n"},
        /* The id names the section; a repeated name gets -udp. */
        {"service echo\n{\nid = e1\nsocket_type = stream\nwait = no\ntype = INTERNAL\n}\n", "e1",
         "listen=tcp://*:7\nbuiltin=echo\n"},
        {"service echo\n{\nsocket_type = stream\nwait = no\ntype = INTERNAL\n}\n"
         "service echo\n{\nsocket_type = dgram\nwait = yes\ntype = INTERNAL\n}\n",
         "echo-udp", "listen=udp://*:7\nbuiltin=echo\n"},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *canon = canon_of(cases[i].text, cases[i].name);
        if (strcmp(canon, cases[i].canon) != 0)
            T_FAIL("case %zu:\n%s\nwanted:\n%s\ngot:\n%s", i, cases[i].text, cases[i].canon, canon);
        free(canon);
    }
}

static void test_disabled_services_are_checked_for_syntax_only(void)
{
    /* disable = yes (wherever in the entry), the defaults' disabled list and
     * its enabled list: those services are not served, and nonsense in them
     * (an unknown attribute, a built-in usherd lacks) is no error. */
    char *errors;
    struct conf *c = load("defaults\n{\ndisabled = off-by-list\nenabled = on echo-x\n}\n"
                          "service servers\n{\ntype = INTERNAL UNLISTED\nport = 9099\n"
                          "bogus = 1\ndisable = yes\n}\n"
                          "service echo\n{\nid = off-by-list\nsocket_type = stream\nwait = no\n"
                          "type = INTERNAL\n}\n"
                          "service chargen\n{\nid = not-enabled\nfoo = bar\n}\n"
                          "service echo\n{\nid = on\nsocket_type = stream\nwait = no\n"
                          "type = INTERNAL\ndisable = no\n}\n",
                          &errors);

    if (c == NULL)
        T_FAIL("not loaded:\n%s", errors);
    T_EQ_INT(c->nsvcs, 1);
    T_EQ_STR(c->svcs[0].name, "on");
    conf_unref(c);
}

static void test_duplicate_id_and_address_is_skipped_with_a_warning(void)
{
    /* Debian's echo and echo-udp both define id echo-dgram on udp port 7:
     * xinetd serves the first and skips the second; so does usherd, and
     * says so. */
    char *errors;
    struct conf *c = load("service echo\n{\nid = echo-dgram\nsocket_type = dgram\nwait = yes\n"
                          "type = INTERNAL\n}\n"
                          "service echo\n{\nid = echo-dgram\nsocket_type = dgram\nwait = yes\n"
                          "type = INTERNAL UNLISTED\nport = 7\n}\n",
                          &errors);

    if (c == NULL)
        T_FAIL("not loaded:\n%s", errors);
    T_EQ_INT(c->nsvcs, 1);
    T_CONTAINS(c->warnings, "xinetd.conf:8: warning: service echo: id echo-dgram on udp://*:7 "
                            "again (first at ");
    conf_unref(c);
}

static void test_ignored_attributes_warned_once_each(void)
{
    /* log_on_success in two services, log_type in defaults: one warning
     * each, at the first place, saying what usherd does instead. */
    char *errors;
    struct conf *c = load("defaults\n{\nlog_type = SYSLOG daemon info\n}\n"
                          "service echo\n{\nsocket_type = stream\nwait = no\ntype = INTERNAL\n"
                          "log_on_success = HOST PID\n}\n"
                          "service discard\n{\nsocket_type = stream\nwait = no\ntype = INTERNAL\n"
                          "log_on_success += DURATION\nlog_on_failure = HOST\ngroups = yes\n}\n",
                          &errors);

    if (c == NULL)
        T_FAIL("not loaded:\n%s", errors);
    T_CONTAINS(c->warnings, "xinetd.conf:10: warning: log_on_success: ignored; usherd logs one "
                            "line per connection");
    T_CONTAINS(c->warnings, "xinetd.conf:3: warning: log_type: ignored; usherd logs to its own");
    T_CONTAINS(c->warnings, "xinetd.conf:18: warning: log_on_failure: ignored");
    T_CONTAINS(c->warnings, "xinetd.conf:19: warning: groups: ignored");
    T_EQ_INT(strstr(strstr(c->warnings, "log_on_success") + 1, "log_on_success") == NULL, 1);
    conf_unref(c);
}

static void test_includedir_order_and_skipped_names(void)
{
    /* includedir reads b, then c (strcmp order), never a.conf, d~ or
     * .hidden (xinetd's rule), and skips a directory inside with a warning. */
    char *dir = h_fmt("%s/d", h_tmpdir()), *errors;
    struct conf *c;

    T_ASSERT(mkdir(dir, 0755) == 0);
    T_ASSERT(mkdir(h_fmt("%s/sub", dir), 0755) == 0);
    put("d/c", "service daytime\n{\nsocket_type = stream\nwait = no\ntype = INTERNAL\n}\n");
    put("d/b", "service echo\n{\nsocket_type = stream\nwait = no\ntype = INTERNAL\n}\n");
    put("d/a.conf", "garbage that would not parse\n");
    put("d/d~", "garbage that would not parse\n");
    put("d/.hidden", "garbage that would not parse\n");
    c = load(h_fmt("includedir %s\n", dir), &errors);
    if (c == NULL)
        T_FAIL("not loaded:\n%s", errors);
    T_EQ_INT(c->nsvcs, 2);
    T_EQ_STR(c->svcs[0].name, "echo");
    T_EQ_STR(c->svcs[1].name, "daytime");
    T_CONTAINS(c->warnings, "sub is not a regular file: skipped");
    conf_unref(c);
}

static void test_include_loops_are_errors(void)
{
    /* A file that includes itself; a directory holding a symbolic link to
     * the file that includes the directory. */
    char *errors, *self = h_fmt("%s/self", h_tmpdir()), *dir = h_fmt("%s/loop", h_tmpdir());
    struct conf *c;

    put("self", h_fmt("include %s\n", self));
    c = load(h_fmt("include %s\n", self), &errors);
    T_ASSERT(c == NULL);
    T_CONTAINS(errors, h_fmt("%s:1: include loop: %s is already being read", self, self));
    free(errors);
    T_ASSERT(mkdir(dir, 0755) == 0);
    T_ASSERT(symlink(h_fmt("%s/xinetd.conf", h_tmpdir()), h_fmt("%s/back", dir)) == 0);
    c = load(h_fmt("includedir %s\n", dir), &errors);
    T_ASSERT(c == NULL);
    T_CONTAINS(errors, "include loop: ");
    T_CONTAINS(errors, "/loop/back is already being read");
}

static void test_two_defaults_entries(void)
{
    char *errors;
    struct conf *c = load("defaults\n{\n}\ndefaults\n{\n}\n", &errors);

    T_ASSERT(c == NULL);
    T_CONTAINS(errors, "xinetd.conf:4: a second defaults entry (the first is at ");
}

static const struct t_case cases[] = {
    T_CASE(test_split_entries_and_directives),
    T_CASE(test_split_errors),
    T_CASE(test_merge_operators_and_defaults),
    T_CASE(test_merge_errors),
    T_CASE(test_load_errors_name_file_line_and_attribute),
    T_CASE(test_attributes_become_usherd_keys),
    T_CASE(test_disabled_services_are_checked_for_syntax_only),
    T_CASE(test_duplicate_id_and_address_is_skipped_with_a_warning),
    T_CASE(test_ignored_attributes_warned_once_each),
    T_CASE(test_includedir_order_and_skipped_names),
    T_CASE(test_include_loops_are_errors),
    T_CASE(test_two_defaults_entries),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
