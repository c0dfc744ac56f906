/*
 * conf_inetd: reading a classic inetd.conf, so that a user of inetd can switch
 * with the file they have.  One service per line:
 *
 *   service  socktype  proto  wait|nowait[.max]  user[:group]  program  [argv0 args...]
 *
 *   echo     stream    tcp    nowait             root          internal
 *   daytime  dgram     udp    wait               root          internal
 *   127.0.0.1:finger stream tcp6 nowait nobody   /usr/sbin/in.fingerd in.fingerd -w
 *
 * service is a name from /etc/services or a port, with an optional
 * "host:" in front, or an absolute path with proto "unix".  proto is tcp,
 * udp (IPv4), tcp6, udp6 (IPv6), tcp46, udp46 (both) or unix.  "internal"
 * serves the builtin of the service's name.  Each line becomes a service
 * called NAME-PROTO (echo-tcp), as if written in usherd.conf; its program
 * gets the socket as stderr too, as every inetd gives it.  RPC services
 * (proto rpc/..., service name/version) and tcpmux services are skipped
 * with a warning naming their line, as inetd skips what it cannot serve:
 * the rest of the file is served.
 */
#include "conf_parse.h"

#include "util.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INETD_FIELDS_MAX 64

struct inetd_line {
    char *service, *socktype, *proto, *wait, *user, *program;
    char **args; /* argv from argv0 on, may be empty */
    int nargs;
};

static int split_fields(char *line, char **fields, int max)
{
    int n = 0;
    char *save = NULL;

    for (char *f = strtok_r(line, " \t", &save); f && n < max; f = strtok_r(NULL, " \t", &save))
        fields[n++] = f;
    return n;
}

/*
 * The port of `name` for protocol `base` ("tcp"/"udp"): a number from 0 to
 * 65535, or a name through /etc/services.  Returns 0, or -1 with the error noted.
 */
static int service_port(struct parser *p, const char *name, const char *base, char *out,
                        size_t size)
{
    struct servent *se;
    char err[128];
    int64_t port;

    if (addr_check_port(name, err, sizeof(err)) < 0) {
        CONF_ERR(p, "service: %s", err);
        return -1;
    }
    if (parse_i64(name, 0, 65535, &port) == 0) {
        snprintf(out, size, "%lld", (long long)port);
        return 0;
    }
    se = getservbyname(name, base);
    if (se == NULL) {
        CONF_ERR(p, "service '%s': not in /etc/services for %s", name, base);
        return -1;
    }
    snprintf(out, size, "%u", (unsigned)ntohs((uint16_t)se->s_port));
    return 0;
}

/* "tcp6" -> base "tcp", host "[::]"; "udp" -> "udp", "0.0.0.0"; "tcp46" -> "tcp", "*". */
static int proto_family(const char *proto, char *base, const char **any)
{
    static const struct {
        const char *proto, *base, *any;
    } protos[] = {
        {"tcp", "tcp", "0.0.0.0"}, {"tcp4", "tcp", "0.0.0.0"}, {"tcp6", "tcp", "[::]"},
        {"tcp46", "tcp", "*"},     {"udp", "udp", "0.0.0.0"},  {"udp4", "udp", "0.0.0.0"},
        {"udp6", "udp", "[::]"},   {"udp46", "udp", "*"},      {"unix", "unix", NULL},
    };

    for (size_t i = 0; i < ARRAY_LEN(protos); i++) {
        if (strcmp(proto, protos[i].proto) == 0) {
            snprintf(base, 8, "%s", protos[i].base);
            *any = protos[i].any;
            return 0;
        }
    }
    return -1;
}

/* The listen address of the line, or -1 with the error noted. */
static int listen_address(struct parser *p, const struct inetd_line *l, char *out, size_t size)
{
    char base[8], port[16], host[300];
    const char *any, *name = l->service, *colon = strrchr(l->service, ':');
    bool stream = strcmp(l->socktype, "stream") == 0;

    if (proto_family(l->proto, base, &any) < 0) {
        CONF_ERR(p, "proto '%s': expected tcp, udp, tcp6, udp6, tcp46, udp46 or unix", l->proto);
        return -1;
    }
    if (strcmp(base, "unix") == 0) {
        if (l->service[0] != '/') {
            CONF_ERR(p, "a unix service must be an absolute path, not '%s'", l->service);
            return -1;
        }
        snprintf(out, size, "%s:%s", stream ? "unix" : "unixgram", l->service);
        return 0;
    }
    if (strcmp(base, stream ? "tcp" : "udp") != 0) {
        CONF_ERR(p, "socket type %s does not go with proto %s", l->socktype, l->proto);
        return -1;
    }
    snprintf(host, sizeof(host), "%s", any);
    if (colon != NULL) {
        snprintf(host, sizeof(host), "%.*s", (int)(colon - l->service), l->service);
        if (strchr(host, ':') != NULL && host[0] != '[') /* a bare IPv6 literal */
            snprintf(host, sizeof(host), "[%.*s]", (int)(colon - l->service), l->service);
        name = colon + 1;
    }
    if (strcmp(host, "*") == 0)
        snprintf(host, sizeof(host), "%s", any);
    if (service_port(p, name, base, port, sizeof(port)) < 0)
        return -1;
    snprintf(out, size, "%s://%s:%s", base, host, port);
    return 0;
}

/* A name usherd.conf would accept: echo-tcp, echo-udp6, usr.sbin.x-unix. */
static void service_name(struct parser *p, const struct inetd_line *l, char *out, size_t size)
{
    const char *colon = strrchr(l->service, ':');
    const char *name = colon ? colon + 1 : l->service;
    char base[64];
    size_t j = 0;

    for (const char *c = name; *c && j + 1 < sizeof(base); c++)
        if (*c != '/' || j > 0)
            base[j++] = (*c == '/' || *c == ':') ? '.' : *c;
    base[j] = '\0';
    snprintf(out, size, "%.40s-%s", base, l->proto);
    for (int n = 2; conf_find(p->conf, out) != NULL; n++)
        snprintf(out, size, "%.40s-%s-%d", base, l->proto, n);
}

static void set_user(struct parser *p, const char *spec)
{
    char user[128];
    const char *sep = strpbrk(spec, ":.");

    snprintf(user, sizeof(user), "%.*s", sep ? (int)(sep - spec) : (int)strlen(spec), spec);
    conf_set_key(p, "user", user);
    if (sep != NULL && sep[1] != '\0') {
        char group[128];
        snprintf(group, sizeof(group), "%s", sep + 1);
        conf_set_key(p, "group", group);
    }
}

/* Quote a word for the exec key's shell-like splitting. */
static size_t append_quoted(char *buf, size_t off, size_t size, const char *word)
{
    if (off < size)
        off += (size_t)snprintf(buf + off, size - off, "%s'", off ? " " : "");
    for (const char *c = word; *c && off < size; c++)
        off += (size_t)snprintf(buf + off, size - off, *c == '\'' ? "'\\''" : "%c", *c);
    if (off < size)
        off += (size_t)snprintf(buf + off, size - off, "'");
    return off;
}

/*
 * exec = PROGRAM ARGS..., and argv0 = ARGV0 when it differs from the
 * program (tcpd relies on it), as inetd gives them apart.
 */
static void set_program(struct parser *p, const struct inetd_line *l)
{
    char cmd[4096], argv0[4096];
    size_t off = append_quoted(cmd, 0, sizeof(cmd), l->program);

    for (int i = 1; i < l->nargs; i++)
        off = append_quoted(cmd, off, sizeof(cmd), l->args[i]);
    if (off >= sizeof(cmd) ||
        (l->nargs > 0 && append_quoted(argv0, 0, sizeof(argv0), l->args[0]) >= sizeof(argv0))) {
        CONF_ERR(p, "the command line is too long");
        return;
    }
    conf_set_key(p, "exec", cmd);
    if (l->nargs > 0 && strcmp(l->args[0], l->program) != 0)
        conf_set_key(p, "argv0", l->args[0]);
}

/* An RPC line: proto rpc/tcp or rpc/udp, or a service "name/version" (a
 * slash, but not the absolute path of a Unix socket). */
static bool is_rpc(const struct inetd_line *l)
{
    return strncmp(l->proto, "rpc/", 4) == 0 ||
           (l->service[0] != '/' && strchr(l->service, '/') != NULL &&
            strncmp(l->service, "tcpmux", 6) != 0);
}

static bool unsupported(struct parser *p, const struct inetd_line *l)
{
    char shown[128];

    str_escape(shown, sizeof(shown), l->service, strlen(l->service));
    if (is_rpc(l)) {
        conf_warning(p, p->line, "%s: RPC services are not supported; line skipped", shown);
        return true;
    }
    if (strncmp(l->service, "tcpmux", 6) == 0) {
        conf_warning(p, p->line, "%s: tcpmux services are not supported; line skipped", shown);
        return true;
    }
    if (strcmp(l->socktype, "stream") != 0 && strcmp(l->socktype, "dgram") != 0) {
        CONF_ERR(p, "socket type '%s' is not supported (stream, dgram)", l->socktype);
        return true;
    }
    return false;
}

/* wait|nowait[.max]: .max is inetd's spawns per minute, our rate = max/m. */
static void set_wait(struct parser *p, const struct inetd_line *l, bool internal)
{
    const char *dot = strchr(l->wait, '.');
    size_t len = dot ? (size_t)(dot - l->wait) : strlen(l->wait);
    bool wait = len == 4 && strncmp(l->wait, "wait", 4) == 0;
    char value[32];
    int64_t max;

    if (!wait && (len != 6 || strncmp(l->wait, "nowait", 6) != 0)) {
        CONF_ERR(p, "'%s': expected wait or nowait[.max]", l->wait);
        return;
    }
    if (dot != NULL && parse_i64(dot + 1, 1, 1000000, &max) < 0) {
        CONF_ERR(p, "'%s': .max must be a count of spawns per minute from 1 to 1000000", l->wait);
        return;
    }
    if (dot != NULL) {
        snprintf(value, sizeof(value), "%lld/m", (long long)max);
        conf_set_key(p, "rate", value);
    }
    /* The builtins answer datagrams themselves: wait means nothing to them. */
    if (!internal)
        conf_set_key(p, "wait", wait ? "yes" : "no");
}

static void add_line(struct parser *p, struct inetd_line *l)
{
    char name[64], addr[400], where[600], file[512];
    bool internal = strcmp(l->program, "internal") == 0;
    struct svc_conf *svc;

    if (unsupported(p, l) || listen_address(p, l, addr, sizeof(addr)) < 0)
        return;
    service_name(p, l, name, sizeof(name));
    if ((svc = conf_add_service(p, name)) == NULL)
        return;
    memset(p->seen, 0, sizeof(p->seen));
    p->svc = svc;
    str_escape(file, sizeof(file), p->file, strlen(p->file));
    snprintf(where, sizeof(where), "inetd.conf %s:%d", file, p->line);
    if ((svc->origin = strdup(where)) == NULL)
        CONF_ERR(p, "out of memory");
    conf_set_key(p, "listen", addr);
    set_wait(p, l, internal);
    if (internal) {
        const char *colon = strrchr(l->service, ':');
        char builtin[64];
        snprintf(builtin, sizeof(builtin), "%s", colon ? colon + 1 : l->service);
        conf_set_key(p, "builtin", builtin);
    } else {
        set_program(p, l);
        set_user(p, l->user);
        conf_set_key(p, "stderr", "socket"); /* fd 2 is the socket under every inetd */
    }
    conf_finish_service(p, svc);
    p->svc = NULL;
}

static void parse_inetd_line(struct parser *p, char *line)
{
    char *f[INETD_FIELDS_MAX];
    int n;
    struct inetd_line l;

    line[strcspn(line, "#")] = '\0';
    n = split_fields(line, f, INETD_FIELDS_MAX);
    if (n == 0)
        return;
    if (n < 6) {
        CONF_ERR(p, "expected: service socktype proto wait|nowait user program [args]");
        return;
    }
    l = (struct inetd_line){.service = f[0],
                            .socktype = f[1],
                            .proto = f[2],
                            .wait = f[3],
                            .user = f[4],
                            .program = f[5],
                            .args = f + 6,
                            .nargs = n - 6};
    add_line(p, &l);
}

void conf_read_inetd(struct parser *p, const char *path)
{
    const char *file = p->file;
    size_t len;
    char *text, *line, *next;

    /* The conf's own copy: its listeners name the file they came from. */
    free(p->conf->inetd_path);
    if ((p->conf->inetd_path = strdup(path)) == NULL) {
        conf_error(p, 0, "out of memory");
        return;
    }
    p->file = p->conf->inetd_path;
    p->line = 0;
    text = conf_read_file(p, path, &len);
    for (line = text; line != NULL; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        p->line++;
        parse_inetd_line(p, line);
    }
    free(text);
    p->file = file;
}
