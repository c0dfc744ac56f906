/*
 * addr: the text form of addresses and its socket form.
 *
 *   tcp://HOST:PORT  udp://HOST:PORT  unix:PATH  unixgram:PATH
 *   tls://HOST:PORT  (TCP, with the tls flag set: the socket is TCP's)
 *
 * HOST is "*" (every address, IPv4 and IPv6), an IPv4 literal, an IPv6
 * literal in brackets, or a name for getaddrinfo.  PORT is a number or a
 * service name.  A PATH starting with "@" names a Linux abstract socket.
 *
 * Also: formatting socket addresses back into that text, and address
 * prefixes ("10.0.0.0/8", "::1") for access rules.  Nothing here opens a
 * socket except getaddrinfo's own lookups.
 */
#ifndef USHER_ADDR_H
#define USHER_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

enum addr_kind {
    ADDR_TCP,
    ADDR_UDP,
    ADDR_UNIX,
    ADDR_UNIXGRAM,
};

/* An address as written, before resolution. */
struct addr_spec {
    enum addr_kind kind;
    bool tls;       /* written tls://: kind is ADDR_TCP */
    char host[256]; /* TCP/UDP: "*", a literal or a name */
    char port[32];  /* TCP/UDP: a number or a service name */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* UNIX* */
};

/* A resolved address, ready for bind or connect. */
struct addr {
    enum addr_kind kind;
    bool tls;      /* tls://: a TCP socket whose connections speak TLS */
    bool wildcard; /* from "*": bind [::] for IPv4 and IPv6 both */
    socklen_t len;
    struct sockaddr_storage ss;
};

/* Same kind and the same socket address?  (tls is not the socket's: it is ignored.) */
bool addr_equal(const struct addr *a, const struct addr *b);

/* Largest text an address formats to, with its scheme. */
#define ADDR_TEXT_MAX 160

/* "tcp", "udp", "unix", "unixgram". */
const char *addr_kind_name(enum addr_kind kind);

/* SOCK_STREAM or SOCK_DGRAM. */
int addr_kind_socktype(enum addr_kind kind);

/* True for the Internet kinds (TCP, UDP). */
bool addr_kind_is_inet(enum addr_kind kind);

/*
 * Check the PORT of an address as written: a decimal number from 0 to
 * 65535 (never wrapped modulo 2^16), or a service name for /etc/services
 * (starting with a letter).  Returns 0, or -1 with a message in err.
 */
int addr_check_port(const char *port, char *err, size_t errlen);

/*
 * Parse `text` into `out`, its port checked as addr_check_port says.
 * Returns 0, or -1 with a message in err (e.g. "IPv6 address must be in
 * brackets").
 */
int addr_parse(const char *text, struct addr_spec *out, char *err, size_t errlen);

/*
 * Resolve `spec` into at most `max` addresses, for listening (`passive`)
 * or connecting.  Duplicates are dropped.  Returns the count (at least 1),
 * or -1 with a message in err.
 */
int addr_resolve(const struct addr_spec *spec, bool passive, struct addr *out, size_t max,
                 char *err, size_t errlen);

/* The scheme an address is written with: "tls" for a tls one, else addr_kind_name. */
const char *addr_scheme(const struct addr *a);

/*
 * Format a socket address of `kind` as "tcp://127.0.0.1:7",
 * "udp://[::1]:7", "unix:/run/x.sock" or "unix:@name".  A Unix path or
 * abstract name is escaped for the log (str_escape: its bytes are
 * anyone's), and cut with "..." if it is too long for `buf`.
 * Returns 0, or -1 if it did not fit.
 */
int addr_format(enum addr_kind kind, const struct sockaddr *sa, socklen_t len, char *buf,
                size_t size);

/*
 * Format a peer as "127.0.0.1:54321" or "[::1]:54321" (a Unix peer as its
 * escaped name, as addr_format).  IPv4-mapped IPv6 addresses are shown as
 * IPv4.  Returns 0, or -1 if it did not fit.
 */
int addr_format_peer(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);

/* Rewrite an IPv4-mapped IPv6 address (::ffff:a.b.c.d) as AF_INET in place. */
void addr_unmap(struct sockaddr_storage *ss, socklen_t *len);

/* The port of an AF_INET/AF_INET6 address in host order, else 0. */
uint16_t addr_port(const struct sockaddr *sa);

/* An address prefix for allow/deny rules: "10.0.0.0/8", "::1", "2001:db8::/32". */
struct addr_prefix {
    int family; /* AF_INET or AF_INET6 */
    uint8_t bytes[16];
    unsigned bits;
};

/* Returns 0, or -1 with a message in err. */
int addr_prefix_parse(const char *text, struct addr_prefix *out, char *err, size_t errlen);

/* Does `sa` (already unmapped) fall inside `prefix`? */
bool addr_prefix_match(const struct addr_prefix *prefix, const struct sockaddr *sa);

#endif
