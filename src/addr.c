/*
 * addr: parsing, resolving and formatting addresses; address prefixes.
 */
#include "addr.h"

#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *scheme; /* with its separator */
    enum addr_kind kind;
    const char *name;
} schemes[] = {
    {"tcp://", ADDR_TCP, "tcp"},  {"tls://", ADDR_TCP, "tls"},
    {"udp://", ADDR_UDP, "udp"},  {"unixgram:", ADDR_UNIXGRAM, "unixgram"},
    {"unix:", ADDR_UNIX, "unix"},
};

const char *addr_kind_name(enum addr_kind kind)
{
    for (size_t i = 0; i < ARRAY_LEN(schemes); i++)
        if (schemes[i].kind == kind)
            return schemes[i].name;
    return "?";
}

int addr_kind_socktype(enum addr_kind kind)
{
    return kind == ADDR_TCP || kind == ADDR_UNIX ? SOCK_STREAM : SOCK_DGRAM;
}

bool addr_kind_is_inet(enum addr_kind kind)
{
    return kind == ADDR_TCP || kind == ADDR_UDP;
}

static int parse_path(const char *path, struct addr_spec *out, char *err, size_t errlen)
{
    if (*path == '\0' || (path[0] == '@' && path[1] == '\0')) {
        snprintf(err, errlen, "empty socket path");
        return -1;
    }
    if (str_copy(out->path, sizeof(out->path), path) < 0) {
        snprintf(err, errlen, "socket path longer than %zu bytes", sizeof(out->path) - 1);
        return -1;
    }
    return 0;
}

int addr_check_port(const char *port, char *err, size_t errlen)
{
    int64_t n;

    /*
     * getaddrinfo reads a leading number with strtoul and keeps it modulo
     * 2^16 ("99999" binds 34463, "-1" binds 65535): a port that starts
     * like a number must be one, in range.  Names in /etc/services start
     * with a letter.
     */
    if (isalpha((unsigned char)port[0]))
        return 0;
    for (const char *c = port; *c; c++) {
        if (!isdigit((unsigned char)*c)) {
            snprintf(err, errlen, "port '%s' is not a number from 0 to 65535 or a service name",
                     port);
            return -1;
        }
    }
    if (parse_i64(port, 0, 65535, &n) < 0) {
        snprintf(err, errlen, "port '%s' is outside the range 0 to 65535", port);
        return -1;
    }
    return 0;
}

/* Split "HOST:PORT" or "[V6]:PORT" into its parts. */
static int parse_host_port(const char *hp, struct addr_spec *out, char *err, size_t errlen)
{
    const char *colon, *host = hp;
    size_t hostlen;

    if (*hp == '[') {
        const char *close = strchr(hp, ']');
        if (close == NULL || close[1] != ':') {
            snprintf(err, errlen, "expected [IPV6]:PORT");
            return -1;
        }
        host = hp + 1;
        hostlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(hp, ':');
        if (colon == NULL) {
            snprintf(err, errlen, "missing :PORT");
            return -1;
        }
        hostlen = (size_t)(colon - hp);
        if (memchr(hp, ':', hostlen) != NULL) {
            snprintf(err, errlen, "IPv6 address must be in brackets, as [%.*s]", (int)hostlen, hp);
            return -1;
        }
    }
    if (hostlen == 0) {
        snprintf(err, errlen, "missing host (use * for every address)");
        return -1;
    }
    if (hostlen >= sizeof(out->host)) {
        snprintf(err, errlen, "host name too long");
        return -1;
    }
    memcpy(out->host, host, hostlen);
    out->host[hostlen] = '\0';
    if (colon[1] == '\0') {
        snprintf(err, errlen, "missing port");
        return -1;
    }
    if (str_copy(out->port, sizeof(out->port), colon + 1) < 0) {
        snprintf(err, errlen, "port too long");
        return -1;
    }
    return addr_check_port(out->port, err, errlen);
}

int addr_parse(const char *text, struct addr_spec *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < ARRAY_LEN(schemes); i++) {
        size_t n = strlen(schemes[i].scheme);
        if (strncmp(text, schemes[i].scheme, n) != 0)
            continue;
        out->kind = schemes[i].kind;
        out->tls = strcmp(schemes[i].name, "tls") == 0;
        if (addr_kind_is_inet(out->kind))
            return parse_host_port(text + n, out, err, errlen);
        return parse_path(text + n, out, err, errlen);
    }
    snprintf(err, errlen,
             "'%s': expected tcp://HOST:PORT, tls://HOST:PORT, udp://HOST:PORT, unix:PATH or "
             "unixgram:PATH",
             text);
    return -1;
}

static int resolve_unix(const struct addr_spec *spec, struct addr *out)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)&out->ss;
    size_t len = strlen(spec->path);

    memset(out, 0, sizeof(*out));
    out->kind = spec->kind;
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, spec->path, len);
    if (spec->path[0] == '@') {
        /* Abstract namespace: a leading NUL, and the length says where it ends. */
        sun->sun_path[0] = '\0';
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    } else {
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    }
    return 1;
}

static int resolve_wildcard(const struct addr_spec *spec, struct addr *out, char *err,
                            size_t errlen)
{
    struct addrinfo hints = {0}, *res;
    int rc;

    /* Resolve only the port here; the address is [::] with V6ONLY off. */
    hints.ai_family = AF_INET6;
    hints.ai_socktype = addr_kind_socktype(spec->kind);
    hints.ai_flags = AI_PASSIVE;
    rc = getaddrinfo(NULL, spec->port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "port '%s': %s", spec->port, gai_strerror(rc));
        return -1;
    }
    memset(out, 0, sizeof(*out));
    out->kind = spec->kind;
    out->tls = spec->tls;
    out->wildcard = true;
    out->len = res->ai_addrlen;
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 1;
}

bool addr_equal(const struct addr *a, const struct addr *b)
{
    return a->kind == b->kind && a->wildcard == b->wildcard && a->len == b->len &&
           memcmp(&a->ss, &b->ss, a->len) == 0;
}

int addr_resolve(const struct addr_spec *spec, bool passive, struct addr *out, size_t max,
                 char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *res, *ai;
    int rc, n = 0;

    if (max == 0) {
        snprintf(err, errlen, "no room for addresses");
        return -1;
    }
    if (!addr_kind_is_inet(spec->kind))
        return resolve_unix(spec, out);
    if (strcmp(spec->host, "*") == 0) {
        if (!passive) {
            snprintf(err, errlen, "'*' is for listening; name a host to connect to");
            return -1;
        }
        return resolve_wildcard(spec, out, err, errlen);
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = addr_kind_socktype(spec->kind);
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    rc = getaddrinfo(spec->host, spec->port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s:%s: %s", spec->host, spec->port,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL && (size_t)n < max; ai = ai->ai_next) {
        struct addr a = {.kind = spec->kind, .tls = spec->tls, .len = ai->ai_addrlen};
        bool dup = false;
        if (ai->ai_addrlen > sizeof(a.ss))
            continue;
        memcpy(&a.ss, ai->ai_addr, ai->ai_addrlen);
        for (int i = 0; i < n && !dup; i++)
            dup = addr_equal(&out[i], &a);
        if (!dup)
            out[n++] = a;
    }
    freeaddrinfo(res);
    if (n == 0) {
        snprintf(err, errlen, "%s:%s: no usable address", spec->host, spec->port);
        return -1;
    }
    return n;
}

static bool is_v4_mapped(const struct in6_addr *a)
{
    return IN6_IS_ADDR_V4MAPPED(a);
}

void addr_unmap(struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    struct sockaddr_in s4 = {0};

    if (ss->ss_family != AF_INET6 || !is_v4_mapped(&s6->sin6_addr))
        return;
    s4.sin_family = AF_INET;
    s4.sin_port = s6->sin6_port;
    memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
    memcpy(ss, &s4, sizeof(s4));
    *len = sizeof(s4);
}

uint16_t addr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return 0;
}

static int format_inet(const struct sockaddr *sa, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN + 16];
    const void *src;
    struct sockaddr_storage ss;
    socklen_t len =
        sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    uint32_t scope = 0;
    int n;

    memcpy(&ss, sa, len);
    addr_unmap(&ss, &len);
    if (ss.ss_family == AF_INET) {
        src = &((struct sockaddr_in *)&ss)->sin_addr;
    } else {
        src = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        scope = ((struct sockaddr_in6 *)&ss)->sin6_scope_id;
    }
    if (inet_ntop(ss.ss_family, src, host, sizeof(host)) == NULL)
        return -1;
    /* A link-local address means nothing without its interface: "%N" names it by number. */
    if (scope != 0)
        snprintf(host + strlen(host), sizeof(host) - strlen(host), "%%%lu", (unsigned long)scope);
    n = snprintf(buf, size, ss.ss_family == AF_INET ? "%s:%u" : "[%s]:%u", host,
                 (unsigned)addr_port((struct sockaddr *)&ss));
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int format_unix(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
    const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    size_t pathlen = len > off ? len - off : 0;
    int n;

    if (pathlen > sizeof(sun->sun_path))
        pathlen = sizeof(sun->sun_path);
    if (pathlen == 0) {
        n = snprintf(buf, size, "(unnamed)");
        return n < 0 || (size_t)n >= size ? -1 : 0;
    }
    /* A peer chooses its name, bytes and all: escaped (cut with "..." if long),
     * spaces too, so that it stays the one word of a log field. */
    if (sun->sun_path[0] == '\0') {
        if (size < 2)
            return -1;
        buf[0] = '@';
        str_escape_word(buf + 1, size - 1, sun->sun_path + 1, pathlen - 1);
    } else {
        str_escape_word(buf, size, sun->sun_path, strnlen(sun->sun_path, pathlen));
    }
    return 0;
}

const char *addr_scheme(const struct addr *a)
{
    return a->tls ? "tls" : addr_kind_name(a->kind);
}

int addr_format(enum addr_kind kind, const struct sockaddr *sa, socklen_t len, char *buf,
                size_t size)
{
    const char *name = addr_kind_name(kind);
    size_t n = strlen(name);
    const char *sep = addr_kind_is_inet(kind) ? "://" : ":";
    size_t seplen = strlen(sep);

    if (size < n + seplen + 1)
        return -1;
    memcpy(buf, name, n);
    memcpy(buf + n, sep, seplen + 1);
    n += seplen;
    if (sa->sa_family == AF_UNIX)
        return format_unix(sa, len, buf + n, size - n);
    if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
        return format_inet(sa, buf + n, size - n);
    return -1;
}

int addr_format_peer(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
    if (sa->sa_family == AF_UNIX)
        return format_unix(sa, len, buf, size);
    if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
        return format_inet(sa, buf, size);
    return snprintf(buf, size, "?") < 0 ? -1 : 0;
}

int addr_prefix_parse(const char *text, struct addr_prefix *out, char *err, size_t errlen)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(text, '/');
    size_t hostlen = slash ? (size_t)(slash - text) : strlen(text);
    unsigned maxbits;
    int64_t bits;

    memset(out, 0, sizeof(*out));
    if (hostlen == 0 || hostlen >= sizeof(host)) {
        snprintf(err, errlen, "'%s': not an address or prefix", text);
        return -1;
    }
    memcpy(host, text, hostlen);
    host[hostlen] = '\0';
    if (inet_pton(AF_INET, host, out->bytes) == 1) {
        out->family = AF_INET;
        maxbits = 32;
    } else if (inet_pton(AF_INET6, host, out->bytes) == 1) {
        out->family = AF_INET6;
        maxbits = 128;
    } else {
        snprintf(err, errlen, "'%s': not an IPv4 or IPv6 address", host);
        return -1;
    }
    out->bits = maxbits;
    if (slash != NULL) {
        if (parse_i64(slash + 1, 0, maxbits, &bits) < 0) {
            snprintf(err, errlen, "'%s': prefix length must be 0 to %u", text, maxbits);
            return -1;
        }
        out->bits = (unsigned)bits;
    }
    /* An IPv4-mapped rule is an IPv4 rule: peers are unmapped before matching. */
    if (out->family == AF_INET6 && is_v4_mapped((struct in6_addr *)out->bytes) && out->bits >= 96) {
        memmove(out->bytes, out->bytes + 12, 4);
        memset(out->bytes + 4, 0, 12);
        out->family = AF_INET;
        out->bits -= 96;
    }
    return 0;
}

bool addr_prefix_match(const struct addr_prefix *prefix, const struct sockaddr *sa)
{
    const uint8_t *bytes;
    unsigned full, rest;

    if (sa->sa_family != prefix->family)
        return false;
    if (sa->sa_family == AF_INET)
        bytes = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    else
        bytes = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    full = prefix->bits / 8;
    rest = prefix->bits % 8;
    if (memcmp(bytes, prefix->bytes, full) != 0)
        return false;
    if (rest == 0)
        return true;
    return ((bytes[full] ^ prefix->bytes[full]) & (0xffu << (8 - rest)) & 0xffu) == 0;
}
