/*
 * fuzz_addr: listen addresses and access prefixes, from any text.
 *
 * addr_parse, then, for literals only (an IPv4 or bracketed IPv6 address,
 * with a numeric scope or not, "*", or a socket path), addr_resolve for listening; every address it
 * gives is formatted, and the text parsed and resolved again must give the
 * same address (addr_format's text is what the logs and `usher` show, and
 * it must name the socket that was bound).  Two documented exceptions: "*"
 * comes back as "[::]" (the same socket address, not marked wildcard), and
 * an IPv4-mapped IPv6 address is formatted as IPv4.
 *
 * addr_prefix_parse: a prefix holds its own address, and its text form
 * (inet_ntop, then "/bits") parses back to the same prefix.
 */
#include "addr.h"
#include "fuzz.h"
#include "util.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESOLVE_MAX 8

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_no_sockets();
    return 0;
}

/* A path, "*", or an address getaddrinfo takes as a number (a scope "%N" too). */
static bool is_literal(const struct addr_spec *spec)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST}, *res;

    if (!addr_kind_is_inet(spec->kind) || strcmp(spec->host, "*") == 0)
        return true;
    if (getaddrinfo(spec->host, NULL, &hints, &res) != 0)
        return false;
    freeaddrinfo(res);
    return true;
}

/* What a resolved address must come back as: "*" is [::], a mapped address is IPv4. */
static struct addr expected_back(const struct addr *a)
{
    struct addr e = *a;

    e.wildcard = false;
    if (addr_kind_is_inet(e.kind))
        addr_unmap(&e.ss, &e.len);
    return e;
}

/*
 * A socket path as the log shows it: escaped (str_escape_word: a space too,
 * so that it stays one word of a log field) when it holds a byte outside
 * printable ASCII, a space or a backslash.  Such a text is for people,
 * not for parsing back: check that it is the escaped path instead.
 */
static bool check_escaped_path(const struct addr *a, const char *text)
{
    const struct sockaddr_un *sun = (const struct sockaddr_un *)&a->ss;
    size_t off = offsetof(struct sockaddr_un, sun_path), len = a->len - off;
    const char *path = sun->sun_path;
    char want[ADDR_TEXT_MAX], *p = want;
    bool plain = true;

    if (addr_kind_is_inet(a->kind))
        return false;
    if (path[0] == '\0') { /* abstract: "@" and the name after the NUL */
        path++;
        len--;
    } else {
        len = strnlen(path, len);
    }
    for (size_t i = 0; i < len; i++)
        plain = plain && path[i] > 0x20 && path[i] < 0x7f && path[i] != '\\';
    if (plain)
        return false;
    p +=
        snprintf(want, sizeof(want), "%s:%s", addr_kind_name(a->kind), sun->sun_path[0] ? "" : "@");
    /* The same room addr_format leaves for it, so a long path is cut alike. */
    str_escape_word(p, ADDR_TEXT_MAX - (size_t)(p - want), path, len);
    if (strcmp(text, want) != 0) {
        fprintf(stderr, "fuzz_addr: %s is not the escaped path %s\n", text, want);
        abort();
    }
    return true;
}

static void check_round_trip(const struct addr *a)
{
    char text[ADDR_TEXT_MAX], err[256];
    struct addr_spec spec;
    struct addr back[RESOLVE_MAX], want = expected_back(a);
    int n;

    if (addr_format(a->kind, (const struct sockaddr *)&a->ss, a->len, text, sizeof(text)) < 0) {
        /* Only an escaped path can outgrow the text; an address must always fit. */
        fuzz_check(!addr_kind_is_inet(a->kind));
        return;
    }
    if (check_escaped_path(a, text))
        return;
    fuzz_check(addr_parse(text, &spec, err, sizeof(err)) == 0);
    fuzz_check(spec.kind == a->kind);
    n = addr_resolve(&spec, true, back, RESOLVE_MAX, err, sizeof(err));
    if (n != 1 || !addr_equal(&back[0], &want)) {
        fprintf(stderr, "fuzz_addr: %s does not come back (%d: %s)\n", text, n, n < 0 ? err : "");
        abort();
    }
}

static void fuzz_listen(const char *text)
{
    struct addr_spec spec;
    struct addr addrs[RESOLVE_MAX];
    char err[256];
    int n;

    if (addr_parse(text, &spec, err, sizeof(err)) < 0) {
        fuzz_check(err[0] != '\0');
        return;
    }
    if (!is_literal(&spec))
        return;
    n = addr_resolve(&spec, true, addrs, RESOLVE_MAX, err, sizeof(err));
    if (n < 0)
        return; /* a bad port */
    fuzz_check(n >= 1 && n <= RESOLVE_MAX);
    for (int i = 0; i < n; i++) {
        fuzz_check(addrs[i].kind == spec.kind);
        check_round_trip(&addrs[i]);
    }
}

static void fuzz_prefix(const char *text)
{
    struct addr_prefix p, back;
    struct sockaddr_storage ss = {0};
    char err[256], host[INET6_ADDRSTRLEN], again[INET6_ADDRSTRLEN + 8];

    if (addr_prefix_parse(text, &p, err, sizeof(err)) < 0) {
        fuzz_check(err[0] != '\0');
        return;
    }
    fuzz_check(p.family == AF_INET || p.family == AF_INET6);
    fuzz_check(p.bits <= (p.family == AF_INET ? 32u : 128u));
    ss.ss_family = (sa_family_t)p.family;
    if (p.family == AF_INET)
        memcpy(&((struct sockaddr_in *)&ss)->sin_addr, p.bytes, 4);
    else
        memcpy(&((struct sockaddr_in6 *)&ss)->sin6_addr, p.bytes, 16);
    fuzz_check(addr_prefix_match(&p, (struct sockaddr *)&ss));
    fuzz_check(inet_ntop(p.family, p.bytes, host, sizeof(host)) != NULL);
    snprintf(again, sizeof(again), "%s/%u", host, p.bits);
    fuzz_check(addr_prefix_parse(again, &back, err, sizeof(err)) == 0);
    fuzz_check(back.family == p.family && back.bits == p.bits &&
               memcmp(back.bytes, p.bytes, sizeof(p.bytes)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    fuzz_listen(text);
    fuzz_prefix(text);
    free(text);
    return 0;
}
