/*
 * conf_xinetd_keys: an xinetd service, merged (conf_xinetd.c), as a usherd
 * service: each attribute checked with the attribute's name in the error,
 * then handed to the parser as the usherd key it becomes, at the line
 * that set it, so that the section reads as if written in usherd.conf
 * (and -P prints it so).
 *
 *   socket_type protocol port bind/interface flags(IPv4 IPv6) v6only -> listen
 *   type = INTERNAL -> builtin        redirect = HOST PORT -> forward
 *   server server_args flags(NAMEINARGS) -> exec (and argv0)
 *   only_from no_access -> allow deny   instances per_source cps -> max_conns max_per_ip rate
 *   wait user group nice umask env passenv rlimit_* banner* -> the same keys
 *
 * The section is named by id, else by the service's name (with "-udp" if
 * that name is taken and the service is a datagram one).  A service with
 * the id and the address of one before it is xinetd's duplicate: skipped,
 * with a warning, as xinetd skips it.
 */
#include "conf_xinetd.h"

#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define VALUE_MAX 4096

struct conv {
    struct parser *p;
    const struct xi_service *s;
    bool stream, wait, internal, redirect;
    char proto[4]; /* tcp, udp */
};

/* Point the parser at the service's own header line. */
static void at_service(struct conv *c)
{
    c->p->file = c->s->file;
    c->p->line = c->s->line;
}

/* Point the parser at where attribute `id` was set (XA_COUNT, or not set: at the service). */
static void at(struct conv *c, enum xi_attr_id id)
{
    if (id >= XA_COUNT || c->s->val[id].line == 0) {
        at_service(c);
        return;
    }
    c->p->file = c->s->val[id].file;
    c->p->line = c->s->val[id].line;
}

static const char *value(struct conv *c, enum xi_attr_id id)
{
    return xinetd_value(c->s, id);
}

/* Set the usherd key `key` at the line of attribute `id`. */
static void set_key(struct conv *c, enum xi_attr_id id, const char *key, const char *val)
{
    char copy[VALUE_MAX];

    at(c, id);
    if (str_copy(copy, sizeof(copy), val) < 0) {
        CONF_ERR(c->p, "%s: the value is longer than %d bytes", xinetd_attr_name(id),
                 VALUE_MAX - 1);
        return;
    }
    conf_set_key(c->p, key, copy);
}

/* Quote a word for exec's shell-like splitting: '...', a quote inside as '\''. */
static size_t append_quoted(char *buf, size_t off, size_t size, const char *word)
{
    if (off < size)
        off += (size_t)snprintf(buf + off, size - off, "%s'", off ? " " : "");
    for (const char *ch = word; *ch && off < size; ch++)
        off += (size_t)snprintf(buf + off, size - off, *ch == '\'' ? "'\\''" : "%c", *ch);
    if (off < size)
        off += (size_t)snprintf(buf + off, size - off, "'");
    return off;
}

/* A whole number from min to max, or "UNLIMITED" (0) where `unlimited`; -1 with the error. */
static long long number(struct conv *c, enum xi_attr_id id, long long min, long long max,
                        bool unlimited)
{
    const char *v = value(c, id);
    int64_t n;

    at(c, id);
    if (unlimited && strcmp(v, "UNLIMITED") == 0)
        return 0;
    if (parse_i64(v, min, max, &n) == 0)
        return n;
    CONF_ERR(c->p, "%s: '%s' is not a whole number from %lld to %lld%s", xinetd_attr_name(id), v,
             min, max, unlimited ? " or UNLIMITED" : "");
    return -1;
}

/* The kind of service: socket_type, protocol, wait, type; false if it cannot be served. */
static bool service_kind(struct conv *c)
{
    const char *st = value(c, XA_SOCKET_TYPE), *proto = value(c, XA_PROTOCOL), *w;
    static const char *const types[] = {"INTERNAL", "UNLISTED"};

    at(c, XA_SOCKET_TYPE);
    if (st != NULL && strcmp(st, "stream") != 0 && strcmp(st, "dgram") != 0) {
        CONF_ERR(c->p, "socket_type: '%s' is not served by usherd (stream, dgram)", st);
        return false;
    }
    at(c, XA_PROTOCOL);
    if (proto != NULL && strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0) {
        CONF_ERR(c->p, "protocol: '%s' is not served by usherd (tcp, udp)", proto);
        return false;
    }
    if (st == NULL && proto == NULL) {
        at_service(c);
        CONF_ERR(c->p, "service %s: socket_type (or protocol) is required", c->s->name);
        return false;
    }
    c->stream = st ? strcmp(st, "stream") == 0 : strcmp(proto, "tcp") == 0;
    if (proto != NULL && (strcmp(proto, "tcp") == 0) != c->stream) {
        CONF_ERR(c->p, "protocol: %s does not go with socket_type %s", proto, st);
        return false;
    }
    snprintf(c->proto, sizeof(c->proto), "%s", c->stream ? "tcp" : "udp");
    at(c, XA_WAIT);
    if ((w = value(c, XA_WAIT)) == NULL || (strcmp(w, "yes") != 0 && strcmp(w, "no") != 0)) {
        CONF_ERR(c->p,
                 w ? "wait: '%s' is not yes or no" : "service %s: wait (yes or no) is required",
                 w ? w : c->s->name);
        return false;
    }
    c->wait = w[0] == 'y';
    at(c, XA_TYPE);
    for (size_t i = 0; i < c->s->val[XA_TYPE].n; i++) {
        const char *t = c->s->val[XA_TYPE].v[i];
        if (strcmp(t, types[0]) != 0 && strcmp(t, types[1]) != 0) {
            CONF_ERR(c->p,
                     strncmp(t, "RPC", 3) == 0 || strncmp(t, "TCPMUX", 6) == 0
                         ? "type: %s services are not supported by usherd"
                         : "type: '%s' is not a type (INTERNAL, UNLISTED)",
                     t);
            return false;
        }
    }
    c->internal = xinetd_has(c->s, XA_TYPE, "INTERNAL");
    c->redirect = c->s->val[XA_REDIRECT].line != 0;
    return true;
}

static bool check_flags(struct conv *c)
{
    static const char *const fine[] = {"IPv4",      "IPv6",    "NAMEINARGS", "REUSE",
                                       "KEEPALIVE", "NODELAY", "NOLIBWRAP",  "NORETRY"};
    bool ok = true;

    at(c, XA_FLAGS);
    for (size_t i = 0; i < c->s->val[XA_FLAGS].n; i++) {
        const char *f = c->s->val[XA_FLAGS].v[i];
        bool known = false;
        for (size_t j = 0; j < ARRAY_LEN(fine); j++)
            known |= strcmp(f, fine[j]) == 0;
        if (!known) {
            CONF_ERR(c->p,
                     "flags: %s is not supported by usherd (it takes IPv4, IPv6, "
                     "NAMEINARGS, REUSE, KEEPALIVE, NODELAY, NOLIBWRAP, NORETRY)",
                     f);
            ok = false;
        }
    }
    return ok;
}

/* The port: `port`, checked against /etc/services unless UNLISTED, as xinetd checks it. */
static long long service_port(struct conv *c)
{
    bool unlisted = xinetd_has(c->s, XA_TYPE, "UNLISTED");
    long long port = value(c, XA_PORT) ? number(c, XA_PORT, 0, 65535, false) : -2;
    struct servent *se = unlisted ? NULL : getservbyname(c->s->name, c->proto);

    if (port == -1)
        return -1;
    if (unlisted && port == -2) {
        at_service(c);
        CONF_ERR(c->p, "service %s: type = UNLISTED needs a port", c->s->name);
        return -1;
    }
    if (unlisted)
        return port;
    if (se == NULL) {
        at_service(c);
        CONF_ERR(c->p,
                 "service %s: not in /etc/services for %s (for a port of its own: port = N "
                 "and type = UNLISTED)",
                 c->s->name, c->proto);
        return -1;
    }
    if (port >= 0 && port != ntohs((uint16_t)se->s_port)) {
        at(c, XA_PORT);
        CONF_ERR(c->p,
                 "port: %lld, but /etc/services has %u for %s/%s (another port needs "
                 "type = UNLISTED)",
                 port, (unsigned)ntohs((uint16_t)se->s_port), c->s->name, c->proto);
        return -1;
    }
    return ntohs((uint16_t)se->s_port);
}

/* listen = PROTO://HOST:PORT: bind, else the families of flags and v6only ("*" for both). */
static bool listen_text(struct conv *c, char *out, size_t size)
{
    const char *bind = value(c, XA_BIND), *v6only = value(c, XA_V6ONLY), *host = "*";
    bool v4 = xinetd_has(c->s, XA_FLAGS, "IPv4"), v6 = xinetd_has(c->s, XA_FLAGS, "IPv6");
    long long port = service_port(c);
    char buf[300];

    if (port < 0)
        return false;
    at(c, XA_V6ONLY);
    if (v6only != NULL && strcmp(v6only, "yes") != 0 && strcmp(v6only, "no") != 0) {
        CONF_ERR(c->p, "v6only: '%s' is not yes or no", v6only);
        return false;
    }
    if (bind != NULL && strchr(bind, ':') != NULL && bind[0] != '[')
        snprintf(buf, sizeof(buf), "[%s]", bind);
    else if (bind != NULL)
        snprintf(buf, sizeof(buf), "%s", bind);
    else if (v4 && !v6)
        snprintf(buf, sizeof(buf), "0.0.0.0");
    else if (v6 && !v4 && v6only != NULL && v6only[0] == 'y')
        snprintf(buf, sizeof(buf), "[::]");
    else
        snprintf(buf, sizeof(buf), "%s", host);
    snprintf(out, size, "%s://%s:%lld", c->proto, buf, port);
    return true;
}

/* Serving: builtin, forward or exec */

/* type = INTERNAL names a builtin by the service's name: one usherd has?  (Before the section.) */
static bool have_builtin(struct conv *c)
{
    if (!c->internal || conf_builtin_lookup(c->s->name) != BUILTIN_NONE)
        return true;
    at(c, XA_TYPE);
    CONF_ERR(c->p,
             "type = INTERNAL: usherd has no built-in service '%s' (echo, discard, daytime, "
             "chargen, time, sum, sumbin)",
             c->s->name);
    return false;
}

static void set_forward(struct conv *c)
{
    const struct xi_value *v = &c->s->val[XA_REDIRECT];
    char text[400], port[16];
    struct servent *se;
    int64_t n;

    at(c, XA_REDIRECT);
    if (c->internal || !c->stream || c->wait) {
        CONF_ERR(c->p, "redirect: %s",
                 c->internal  ? "not with type = INTERNAL"
                 : !c->stream ? "for stream (tcp) services only"
                              : "not with wait = yes");
        return;
    }
    if (parse_i64(v->v[1], 1, 65535, &n) == 0)
        snprintf(port, sizeof(port), "%lld", (long long)n);
    else if ((se = getservbyname(v->v[1], "tcp")) != NULL)
        snprintf(port, sizeof(port), "%u", (unsigned)ntohs((uint16_t)se->s_port));
    else {
        CONF_ERR(c->p, "redirect: '%s' is not a port from 1 to 65535 or a tcp service name",
                 v->v[1]);
        return;
    }
    snprintf(text, sizeof(text), strchr(v->v[0], ':') ? "tcp://[%s]:%s" : "tcp://%s:%s", v->v[0],
             port);
    set_key(c, XA_REDIRECT, "forward", text);
}

/* exec = SERVER ARGS... (server_args split at blanks, as xinetd does); NAMEINARGS: argv0 first. */
static void set_exec(struct conv *c)
{
    const struct xi_value *args = &c->s->val[XA_SERVER_ARGS];
    const char *server = value(c, XA_SERVER);
    bool nameinargs = xinetd_has(c->s, XA_FLAGS, "NAMEINARGS");
    char cmd[VALUE_MAX];
    size_t off;

    if (server == NULL) {
        at_service(c);
        CONF_ERR(c->p, "service %s: server is required (or type = INTERNAL, or redirect)",
                 c->s->name);
        return;
    }
    at(c, XA_SERVER);
    if (server[0] != '/') {
        CONF_ERR(c->p, "server: '%s' must be an absolute path", server);
        return;
    }
    if (nameinargs && args->n == 0) {
        at(c, XA_FLAGS);
        CONF_ERR(c->p, "flags: NAMEINARGS needs server_args (the program's name, then its "
                       "arguments)");
        return;
    }
    off = append_quoted(cmd, 0, sizeof(cmd), server);
    for (size_t i = nameinargs ? 1 : 0; i < args->n; i++)
        off = append_quoted(cmd, off, sizeof(cmd), args->v[i]);
    if (off >= sizeof(cmd)) {
        at(c, XA_SERVER_ARGS);
        CONF_ERR(c->p, "server_args: the command line is longer than %d bytes", VALUE_MAX - 1);
        return;
    }
    set_key(c, XA_SERVER, "exec", cmd);
    if (nameinargs)
        set_key(c, XA_SERVER_ARGS, "argv0", args->v[0]);
    set_key(c, XA_WAIT, "wait", c->wait ? "yes" : "no");
}

/* The program's process: user, group, nice, umask, env, passenv, rlimits */

static void set_user(struct conv *c)
{
    const char *user = value(c, XA_USER);
    struct passwd *pw;
    int64_t uid;

    if (user == NULL)
        return;
    /* xinetd takes a uid too; usherd's user key a name. */
    if (parse_i64(user, 0, UINT32_MAX - 1, &uid) == 0) {
        if ((pw = getpwuid((uid_t)uid)) == NULL) {
            at(c, XA_USER);
            CONF_ERR(c->p, "user: no user has uid %s", user);
            return;
        }
        user = pw->pw_name;
    }
    set_key(c, XA_USER, "user", user);
}

/* rlimit_*: xinetd's NUMBER[K|M] or UNLIMITED; rlimit_cpu in seconds. */
static void set_rlimit(struct conv *c, enum xi_attr_id id, const char *key)
{
    const char *v = value(c, id);
    uint64_t n, mult = 1;
    char num[32], out[32];
    size_t len;

    if (v == NULL)
        return;
    if (strcmp(v, "UNLIMITED") == 0) {
        set_key(c, id, key, "unlimited");
        return;
    }
    len = strlen(v);
    if (id != XA_RLIMIT_CPU && len > 1 && strchr("kKmM", v[len - 1]) != NULL) {
        mult = tolower((unsigned char)v[len - 1]) == 'k' ? 1024 : 1024 * 1024;
        len--;
    }
    snprintf(num, sizeof(num), "%.*s", (int)(len < sizeof(num) ? len : sizeof(num) - 1), v);
    if (len >= sizeof(num) || parse_size(num, &n) < 0 || num[strspn(num, "0123456789")] != '\0' ||
        n > (uint64_t)INT64_MAX / mult) {
        at(c, id);
        CONF_ERR(c->p, "%s: '%s' is not %s or UNLIMITED", xinetd_attr_name(id), v,
                 id == XA_RLIMIT_CPU ? "a number of seconds"
                                     : "a number of bytes (K or M after it, or none)");
        return;
    }
    snprintf(out, sizeof(out), "%llu", (unsigned long long)(n * mult));
    set_key(c, id, key, out);
}

static void set_list(struct conv *c, enum xi_attr_id id, const char *key)
{
    const struct xi_value *v = &c->s->val[id];
    char text[VALUE_MAX];
    size_t off = 0;

    for (size_t i = 0; i < v->n && off < sizeof(text); i++)
        off += (size_t)snprintf(text + off, sizeof(text) - off, "%s%s", i ? " " : "", v->v[i]);
    if (v->n == 0)
        return;
    if (off >= sizeof(text)) {
        at(c, id);
        CONF_ERR(c->p, "%s: the values are longer than %d bytes", xinetd_attr_name(id),
                 VALUE_MAX - 1);
        return;
    }
    set_key(c, id, key, text);
}

static void set_process(struct conv *c)
{
    static const struct {
        enum xi_attr_id id;
        const char *key;
    } rlimits[] = {{XA_RLIMIT_AS, "rlimit_as"},       {XA_RLIMIT_CPU, "rlimit_cpu"},
                   {XA_RLIMIT_DATA, "rlimit_data"},   {XA_RLIMIT_RSS, "rlimit_rss"},
                   {XA_RLIMIT_STACK, "rlimit_stack"}, {XA_RLIMIT_FILES, "rlimit_nofile"}};
    const struct xi_value *env = &c->s->val[XA_ENV];

    set_user(c);
    if (value(c, XA_GROUP) != NULL)
        set_key(c, XA_GROUP, "group", value(c, XA_GROUP));
    if (value(c, XA_NICE) != NULL)
        set_key(c, XA_NICE, "nice", value(c, XA_NICE));
    if (value(c, XA_UMASK) != NULL)
        set_key(c, XA_UMASK, "umask", value(c, XA_UMASK));
    for (size_t i = 0; i < env->n; i++) {
        if (strchr(env->v[i], '=') == NULL) {
            at(c, XA_ENV);
            CONF_ERR(c->p, "env: '%s' is not NAME=VALUE", env->v[i]);
            continue;
        }
        set_key(c, XA_ENV, "env", env->v[i]);
    }
    set_list(c, XA_PASSENV, "passenv");
    for (size_t i = 0; i < ARRAY_LEN(rlimits); i++)
        set_rlimit(c, rlimits[i].id, rlimits[i].key);
}

/* Access: only_from and no_access */

struct prefixes {
    char text[VALUE_MAX];
    size_t off, count;
    struct addr_prefix list[CONF_LISTEN_MAX];
};

static bool add_prefix(struct conv *c, enum xi_attr_id id, struct prefixes *out, const char *text)
{
    char err[160];

    if (out->count == CONF_LISTEN_MAX) {
        CONF_ERR(c->p, "%s: more than %d addresses and networks", xinetd_attr_name(id),
                 CONF_LISTEN_MAX);
        return false;
    }
    if (addr_prefix_parse(text, &out->list[out->count], err, sizeof(err)) < 0) {
        CONF_ERR(c->p, "%s: %s", xinetd_attr_name(id), err);
        return false;
    }
    out->count++;
    out->off += (size_t)snprintf(out->text + out->off, sizeof(out->text) - out->off, "%s%s",
                                 out->off ? " " : "", text);
    return out->off < sizeof(out->text);
}

/*
 * xinetd's numeric network: trailing zero octets are wildcards, so
 * 10.1.0.0 is 10.1.0.0/16 and 0.0.0.0 everything; "a.b" is a.b.0.0/16.
 * Returns false if `w` is not dotted decimal at all.
 */
static bool ipv4_network(const char *w, char *out, size_t size)
{
    unsigned octet[4] = {0};
    int parts = 0, bits;
    const char *ch = w;

    while (parts < 4) {
        char *end;
        unsigned long v;
        if (!isdigit((unsigned char)*ch))
            return false;
        v = strtoul(ch, &end, 10);
        if (v > 255 || end - ch > 3)
            return false;
        octet[parts++] = (unsigned)v;
        if (*end == '\0')
            break;
        if (*end != '.')
            return false;
        ch = end + 1;
    }
    if (*ch != '\0' && strchr(ch, '.') != NULL)
        return false;
    bits = parts * 8;
    while (bits > 0 && octet[bits / 8 - 1] == 0)
        bits -= 8;
    snprintf(out, size, "%u.%u.%u.%u/%d", octet[0], octet[1], octet[2], octet[3], bits);
    return true;
}

/* A host name: every address it resolves to now. */
static void add_host(struct conv *c, enum xi_attr_id id, struct prefixes *out, const char *name)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
    int rc = getaddrinfo(name, NULL, &hints, &res);

    if (rc != 0) {
        CONF_ERR(c->p, "%s: '%s': not an address or network, and unable to resolve it: %s",
                 xinetd_attr_name(id), name, gai_strerror(rc));
        return;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        char ip[INET6_ADDRSTRLEN];
        const void *a = ai->ai_family == AF_INET
                            ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                            : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
            inet_ntop(ai->ai_family, a, ip, sizeof(ip)) != NULL && strstr(out->text, ip) == NULL &&
            !add_prefix(c, id, out, ip))
            break;
    }
    freeaddrinfo(res);
}

/* One word of only_from / no_access: an address, a prefix, a network, a factorized one, a name. */
static void add_access_word(struct conv *c, enum xi_attr_id id, struct prefixes *out, const char *w)
{
    const char *brace = strchr(w, '{');
    char net[64];
    struct in6_addr a6;

    if (brace != NULL) {
        /* 10.0.{1,2,3}: each inside the braces after the common part. */
        const char *close = strchr(brace, '}');
        char item[64];
        if (close == NULL || close[1] != '\0' || brace - w > 12) {
            CONF_ERR(c->p, "%s: '%s' is not a factorized address (a.b.{c,d})", xinetd_attr_name(id),
                     w);
            return;
        }
        for (const char *i = brace + 1; i < close;) {
            size_t len = strcspn(i, ",}");
            snprintf(item, sizeof(item), "%.*s%.*s", (int)(brace - w), w, (int)len, i);
            add_access_word(c, id, out, item);
            i += len + (i[len] == ',');
        }
        return;
    }
    if (strchr(w, '/') != NULL || inet_pton(AF_INET6, w, &a6) == 1) {
        add_prefix(c, id, out, w); /* as written: a prefix, or an IPv6 address */
    } else if (ipv4_network(w, net, sizeof(net))) {
        add_prefix(c, id, out, net);
    } else if (w[0] == '.') {
        CONF_ERR(c->p,
                 "%s: '%s': a domain matches peers by their reverse lookup, which usherd does "
                 "not do: give addresses, networks or host names",
                 xinetd_attr_name(id), w);
    } else {
        add_host(c, id, out, w);
    }
}

static void access_list(struct conv *c, enum xi_attr_id id, struct prefixes *out)
{
    const struct xi_value *v = &c->s->val[id];

    at(c, id);
    for (size_t i = 0; i < v->n; i++)
        add_access_word(c, id, out, v->v[i]);
}

/* xinetd lets the more specific of only_from and no_access win; usherd's deny always does. */
static void warn_overlaps(struct conv *c, const struct prefixes *allow, const struct prefixes *deny)
{
    for (size_t i = 0; i < allow->count; i++) {
        const struct addr_prefix *a = &allow->list[i];
        struct sockaddr_storage ss = {0};
        if (a->family == AF_INET) {
            ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
            memcpy(&((struct sockaddr_in *)&ss)->sin_addr, a->bytes, 4);
        } else {
            ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
            memcpy(&((struct sockaddr_in6 *)&ss)->sin6_addr, a->bytes, 16);
        }
        for (size_t j = 0; j < deny->count; j++) {
            if (deny->list[j].family != a->family || deny->list[j].bits >= a->bits ||
                !addr_prefix_match(&deny->list[j], (struct sockaddr *)&ss))
                continue;
            at(c, XA_ONLY_FROM);
            conf_warning(c->p, c->p->line,
                         "only_from: a network inside one of no_access: xinetd lets the more "
                         "specific one admit, usherd's deny always wins (it is refused)");
            return;
        }
    }
}

static void set_access(struct conv *c)
{
    struct prefixes *allow = calloc(1, sizeof(*allow)), *deny = calloc(1, sizeof(*deny));

    if (allow == NULL || deny == NULL) {
        CONF_ERR(c->p, "out of memory");
        goto out;
    }
    access_list(c, XA_ONLY_FROM, allow);
    access_list(c, XA_NO_ACCESS, deny);
    if (allow->count > 0)
        set_key(c, XA_ONLY_FROM, "allow", allow->text);
    else if (c->s->val[XA_ONLY_FROM].line != 0)
        set_key(c, XA_ONLY_FROM, "deny", "0.0.0.0/0 ::/0"); /* "only_from =": no one */
    if (deny->count > 0)
        set_key(c, XA_NO_ACCESS, "deny", deny->text);
    warn_overlaps(c, allow, deny);
out:
    free(allow);
    free(deny);
}

/* Limits: instances, per_source, cps */

static void set_limits(struct conv *c)
{
    char text[32];
    long long n;

    /* With wait = yes the program accepts, one at a time: xinetd's counts mean nothing there. */
    if (!c->wait && value(c, XA_INSTANCES) &&
        (n = number(c, XA_INSTANCES, 1, 10000000, true)) > 0) {
        snprintf(text, sizeof(text), "%lld", n);
        set_key(c, XA_INSTANCES, "max_conns", text);
    }
    if (!c->wait && value(c, XA_PER_SOURCE) &&
        (n = number(c, XA_PER_SOURCE, 1, 10000000, true)) > 0) {
        snprintf(text, sizeof(text), "%lld", n);
        set_key(c, XA_PER_SOURCE, "max_per_ip", text);
    }
    if (value(c, XA_CPS)) {
        const struct xi_value *v = &c->s->val[XA_CPS];
        int64_t rate, pause;
        at(c, XA_CPS);
        if (parse_i64(v->v[0], 0, 10000000, &rate) < 0 ||
            parse_i64(v->v[1], 0, 365LL * 24 * 3600, &pause) < 0) {
            CONF_ERR(c->p,
                     "cps: '%s %s' is not N S (connections a second from 0 to 10000000, "
                     "seconds from 0 to 31536000)",
                     v->v[0], v->v[1]);
            return;
        }
        /* The pause is xinetd's disabling of the service, which usherd never does. */
        snprintf(text, sizeof(text), "%lld/s", (long long)rate);
        if (rate > 0)
            set_key(c, XA_CPS, "rate", text);
    }
}

static void set_banners(struct conv *c)
{
    static const struct {
        enum xi_attr_id id;
        const char *key;
    } banners[] = {{XA_BANNER, "banner"},
                   {XA_BANNER_SUCCESS, "banner_success"},
                   {XA_BANNER_FAIL, "banner_fail"}};

    /* As in xinetd: for the clients of stream services it accepts itself. */
    if (!c->stream || c->wait)
        return;
    for (size_t i = 0; i < ARRAY_LEN(banners); i++)
        if (value(c, banners[i].id) != NULL)
            set_key(c, banners[i].id, banners[i].key, value(c, banners[i].id));
}

/* Naming */

static bool valid_name(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > 63)
        return false;
    for (const char *ch = name; *ch; ch++)
        if (!isalnum((unsigned char)*ch) && *ch != '-' && *ch != '_' && *ch != '.')
            return false;
    return true;
}

/* The section's name, or false with the error noted. */
static bool section_name(struct conv *c, char *out, size_t size)
{
    const char *id = value(c, XA_ID) ? value(c, XA_ID) : c->s->name;
    const struct svc_conf *other;

    at(c, value(c, XA_ID) ? XA_ID : XA_COUNT);
    if (!valid_name(id)) {
        CONF_ERR(c->p,
                 "%s '%s': usherd names a service with 1-63 letters, digits, '-', '_' or "
                 "'.' (give it an id)",
                 value(c, XA_ID) ? "id" : "service", id);
        return false;
    }
    snprintf(out, size, "%s", id);
    if (conf_find(c->p->conf, out) != NULL && !c->stream)
        snprintf(out, size, "%.59s-udp", id);
    if ((other = conf_find(c->p->conf, out)) != NULL) {
        CONF_ERR(c->p,
                 "service %s: the name '%s' is taken (by the service from %s): give it an "
                 "id of its own",
                 c->s->name, out, other->origin ? other->origin : "?");
        return false;
    }
    return true;
}

/* xinetd's duplicate: the id and the address of a service before.  Skipped, with a warning. */
static bool duplicate(struct conv *c, const char *id, const char *listen, struct xi_done *done,
                      size_t ndone)
{
    for (size_t i = 0; i < ndone; i++) {
        if (strcmp(done[i].id, id) != 0 || strcmp(done[i].listen, listen) != 0)
            continue;
        at_service(c);
        conf_warning(c->p, c->p->line,
                     "service %s: id %s on %s again (first at %s:%d): skipped, as xinetd skips it",
                     c->s->name, id, listen, done[i].file, done[i].line);
        return true;
    }
    return false;
}

static void note_done(struct conv *c, const char *id, const char *listen, struct xi_done **done,
                      size_t *ndone)
{
    struct xi_done *grown = realloc(*done, (*ndone + 1) * sizeof(*grown));

    if (grown == NULL) {
        CONF_ERR(c->p, "out of memory");
        return;
    }
    *done = grown;
    grown[*ndone] = (struct xi_done){.file = c->s->file, .line = c->s->line};
    snprintf(grown[*ndone].id, sizeof(grown[*ndone].id), "%s", id);
    snprintf(grown[*ndone].listen, sizeof(grown[*ndone].listen), "%s", listen);
    (*ndone)++;
}

static void set_origin(struct conv *c, struct svc_conf *svc)
{
    char file[512], where[700];

    str_escape(file, sizeof(file), c->s->file, strlen(c->s->file));
    snprintf(where, sizeof(where), "xinetd %s:%d, service %s", file, c->s->line, c->s->name);
    if ((svc->origin = strdup(where)) == NULL)
        CONF_ERR(c->p, "out of memory");
}

void xinetd_add_service(struct parser *p, const struct xi_service *s, struct xi_done **done,
                        size_t *ndone)
{
    struct conv c = {.p = p, .s = s};
    const char *id = xinetd_value(s, XA_ID) ? xinetd_value(s, XA_ID) : s->name;
    char listen[400], name[64];
    struct svc_conf *svc;

    if (!service_kind(&c) || !check_flags(&c) || !have_builtin(&c) ||
        !listen_text(&c, listen, sizeof(listen)) || duplicate(&c, id, listen, *done, *ndone) ||
        !section_name(&c, name, sizeof(name)))
        return;
    at_service(&c);
    if ((svc = conf_add_service(p, name)) == NULL)
        return;
    memset(p->seen, 0, sizeof(p->seen));
    p->svc = svc;
    set_origin(&c, svc);
    set_key(&c, value(&c, XA_PORT) ? XA_PORT : XA_COUNT, "listen", listen);
    if (c.internal)
        set_key(&c, XA_TYPE, "builtin", s->name);
    else if (c.redirect)
        set_forward(&c);
    else
        set_exec(&c);
    if (!c.internal && !c.redirect)
        set_process(&c); /* a builtin or a relay has no process of its own */
    set_access(&c);
    set_limits(&c);
    set_banners(&c);
    at_service(&c);
    conf_finish_service(p, svc);
    p->svc = NULL;
    note_done(&c, id, listen, done, ndone);
}
