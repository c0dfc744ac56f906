/*
 * proxy: the PROXY protocol header, parsed incrementally and encoded.
 *
 * The parser takes the header byte by byte into its buffer and judges each
 * byte as it comes (the v1 prefix, CR and LF, the v2 signature, version,
 * family, length), so that a result can only depend on the bytes, not on
 * their split; once a v2 length is known, the rest up to it is copied
 * whole, as no byte in it is judged before the end.  The whole header is
 * then parsed from the buffer.
 */
#include "proxy.h"

#include "addr.h"
#include "proto.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#define V1_PREFIX     "PROXY "
#define V1_PREFIX_LEN 6
#define V1_FIELDS     4 /* source, destination, source port, destination port */

#define V2_SIG_LEN      12
#define V2_VERSION      0x2
#define V2_CMD_LOCAL    0x0
#define V2_CMD_PROXY    0x1
#define V2_AT_VER_CMD   12
#define V2_AT_FAMILY    13
#define V2_AT_LENGTH    14
#define V2_UNIX_PATH    108
#define V2_ADDR_UNSPEC  0
#define V2_ADDR_INET    (4 + 4 + 2 + 2)
#define V2_ADDR_INET6   (16 + 16 + 2 + 2)
#define V2_ADDR_UNIX    (V2_UNIX_PATH + V2_UNIX_PATH)
#define V2_FAMILY_LOCAL 0x00
#define V2_TCP4         0x11
#define V2_TCP6         0x21

#define TLV_HEAD        3 /* type, 2-byte length */
#define TLV_ALPN        0x01
#define TLV_AUTHORITY   0x02
#define TLV_CRC32C      0x03
#define TLV_UNIQUE_ID   0x05
#define TLV_SSL         0x20
#define TLV_SSL_VERSION 0x21
#define TLV_SSL_CN      0x22
#define TLV_CRC32C_LEN  4
#define SSL_HEAD        5 /* client bits, 4-byte verify */

static const unsigned char v2_sig[V2_SIG_LEN] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                                 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

_Static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) == V2_UNIX_PATH,
               "v2 AF_UNIX addresses are 108 bytes, as sun_path here");
_Static_assert(PROXY_V1_MAX < PROXY_V2_MAX, "the buffer holds a v1 line too");

/* The family and transport bytes that proxy-protocol.txt lists, all others refused. */
struct v2_family {
    unsigned char byte;
    int family;      /* of the addresses served, AF_UNSPEC if none is */
    size_t addr_len; /* the address block, before the TLVs */
};

static const struct v2_family v2_families[] = {
    {0x00, AF_UNSPEC, V2_ADDR_UNSPEC}, /* UNSPEC */
    {0x11, AF_INET, V2_ADDR_INET},     /* TCP over IPv4 */
    {0x12, AF_UNSPEC, V2_ADDR_INET},   /* UDP over IPv4: not for a stream, served as UNSPEC */
    {0x21, AF_INET6, V2_ADDR_INET6},   /* TCP over IPv6 */
    {0x22, AF_UNSPEC, V2_ADDR_INET6},  /* UDP over IPv6 */
    {0x31, AF_UNIX, V2_ADDR_UNIX},     /* Unix stream */
    {0x32, AF_UNSPEC, V2_ADDR_UNIX},   /* Unix datagram */
};

static const struct v2_family *v2_family_of(unsigned char byte)
{
    for (size_t i = 0; i < ARRAY_LEN(v2_families); i++)
        if (v2_families[i].byte == byte)
            return &v2_families[i];
    return NULL;
}

/* CRC32c, reflected polynomial 0x82f63b78, four bits at a time. */
static const uint32_t crc32c_nibble[16] = {
    0x00000000, 0x105ec76f, 0x20bd8ede, 0x30e349b1, 0x417b1dbc, 0x5125dad3, 0x61c69362, 0x7198540d,
    0x82f63b78, 0x92a8fc17, 0xa24bb5a6, 0xb21572c9, 0xc38d26c4, 0xd3d3e1ab, 0xe330a81a, 0xf36e6f75,
};

uint32_t proxy_crc32c(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t c = ~crc;

    for (size_t i = 0; i < len; i++) {
        c ^= p[i];
        c = (c >> 4) ^ crc32c_nibble[c & 0xf];
        c = (c >> 4) ^ crc32c_nibble[c & 0xf];
    }
    return ~c;
}

void proxy_parser_init(struct proxy_parser *p, enum proxy_mode mode)
{
    memset(p, 0, sizeof(*p));
    p->mode = mode;
    p->state = PROXY_MORE;
}

/*
 * Refuse the header.  The result is left zero: only a DONE one means
 * anything.  Returns false, so that a check reads `return fail(p, "...")`.
 */
static bool fail(struct proxy_parser *p, const char *detail)
{
    p->state = PROXY_ERROR;
    p->reason = PROXY_REASON_BAD_HEADER;
    p->detail = detail;
    memset(&p->result, 0, sizeof(p->result));
    return false;
}

/* --- v1 ------------------------------------------------------------------ */

struct field {
    const char *p;
    size_t len;
};

/* Does `line` start with the word `w`, followed by a space or its end? */
static bool starts_word(const char *line, size_t len, const char *w)
{
    size_t n = strlen(w);

    return len >= n && memcmp(line, w, n) == 0 && (len == n || line[n] == ' ');
}

/* Split `s` into exactly V1_FIELDS non-empty fields at single spaces. */
static bool v1_split(const char *s, size_t len, struct field f[V1_FIELDS])
{
    size_t n = 0, start = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != ' ')
            continue;
        if (n == V1_FIELDS || i == start)
            return false;
        f[n].p = s + start;
        f[n].len = i - start;
        n++;
        start = i + 1;
    }
    return n == V1_FIELDS;
}

/* Copy a field made only of `allowed` characters into `text` (of `size`) as a string. */
static bool field_text(const struct field *f, const char *allowed, char *text, size_t size)
{
    if (f->len >= size)
        return false;
    for (size_t i = 0; i < f->len; i++)
        if (f->p[i] == '\0' || strchr(allowed, f->p[i]) == NULL)
            return false;
    memcpy(text, f->p, f->len);
    text[f->len] = '\0';
    return true;
}

/* A dotted quad part written "01" could be read as octal: the text forbids it. */
static bool v4_leading_zero(const char *s)
{
    for (const char *part = s; part != NULL; part = strchr(part, '.')) {
        if (*part == '.')
            part++;
        if (part[0] == '0' && part[1] >= '0' && part[1] <= '9')
            return true;
    }
    return false;
}

static bool v1_port(const struct field *f, uint16_t *port)
{
    char text[8];
    int64_t v;

    if (!field_text(f, "0123456789", text, 6) || (text[0] == '0' && text[1] != '\0'))
        return false;
    if (parse_i64(text, 0, UINT16_MAX, &v) < 0)
        return false;
    *port = (uint16_t)v;
    return true;
}

/* The address and port fields as a socket address of `family`. */
static bool v1_addr(const struct field *host, const struct field *port, int family,
                    struct sockaddr_storage *ss, socklen_t *len)
{
    char text[INET6_ADDRSTRLEN];
    uint16_t n;

    memset(ss, 0, sizeof(*ss));
    if (!v1_port(port, &n))
        return false;
    if (family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        if (!field_text(host, "0123456789.", text, sizeof(text)) || v4_leading_zero(text) ||
            inet_pton(AF_INET, text, &s4->sin_addr) != 1)
            return false;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(n);
        *len = sizeof(*s4);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        if (!field_text(host, "0123456789abcdefABCDEF:.", text, sizeof(text)) ||
            inet_pton(AF_INET6, text, &s6->sin6_addr) != 1)
            return false;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(n);
        *len = sizeof(*s6);
    }
    return true;
}

/* The whole line is in buf, CRLF last; the prefix was checked byte by byte. */
static bool finish_v1(struct proxy_parser *p)
{
    const char *line = (const char *)p->buf + V1_PREFIX_LEN;
    size_t len = p->have - V1_PREFIX_LEN - 2;
    struct proxy_result *r = &p->result;
    struct field f[V1_FIELDS];
    int family;

    r->version = 1;
    if (starts_word(line, len, "UNKNOWN")) { /* whatever follows is ignored */
        r->local = true;
        r->family = AF_UNSPEC;
        p->state = PROXY_DONE;
        return true;
    }
    if (starts_word(line, len, "TCP4"))
        family = AF_INET;
    else if (starts_word(line, len, "TCP6"))
        family = AF_INET6;
    else
        return fail(p, "v1: protocol not TCP4, TCP6 or UNKNOWN");
    line += 5;
    len = len >= 5 ? len - 5 : 0;
    if (!v1_split(line, len, f))
        return fail(p, "v1: not 4 fields with single spaces between");
    if (!v1_addr(&f[0], &f[2], family, &r->src, &r->src_len))
        return fail(p, "v1: bad source address or port");
    if (!v1_addr(&f[1], &f[3], family, &r->dst, &r->dst_len))
        return fail(p, "v1: bad destination address or port");
    r->family = family;
    p->state = PROXY_DONE;
    return true;
}

/* Judge the byte just added to a v1 line. */
static void step_v1(struct proxy_parser *p)
{
    size_t i = p->have - 1;
    unsigned char c = p->buf[i], prev;

    if (i < V1_PREFIX_LEN) {
        if (c != (unsigned char)V1_PREFIX[i])
            fail(p, "v1: does not start \"PROXY \"");
        return;
    }
    prev = p->buf[i - 1];
    if (prev == '\r' && c != '\n')
        fail(p, "v1: CR not followed by LF");
    else if (c == '\n' && prev != '\r')
        fail(p, "v1: LF without CR");
    else if (c == '\n')
        finish_v1(p);
    else if (p->have == PROXY_V1_MAX)
        fail(p, "v1: no CRLF within 107 bytes");
}

/* --- v2 ------------------------------------------------------------------ */

struct tlv {
    unsigned char type;
    const unsigned char *value;
    size_t len;
};

/*
 * The TLV at buf[*off] of those in buf[*off, end): 1 and *off past it, 0
 * at the end, -1 if it does not fit before `end`.
 */
static int tlv_next(const unsigned char *buf, size_t *off, size_t end, struct tlv *t)
{
    if (*off == end)
        return 0;
    if (end - *off < TLV_HEAD)
        return -1;
    t->type = buf[*off];
    t->len = (size_t)buf[*off + 1] << 8 | buf[*off + 2];
    if (t->len > end - *off - TLV_HEAD)
        return -1;
    t->value = buf + *off + TLV_HEAD;
    *off += TLV_HEAD + t->len;
    return 1;
}

static bool keep_text(struct proxy_parser *p, struct proxy_text *dst, const struct tlv *t,
                      size_t max, const char *too_long)
{
    if (dst->present)
        return fail(p, "v2: a TLV repeated");
    if (t->len > max)
        return fail(p, too_long);
    dst->present = true;
    str_escape(dst->text, sizeof(dst->text), t->value, t->len);
    return true;
}

static bool v2_ssl(struct proxy_parser *p, const struct tlv *ssl)
{
    struct proxy_result *r = &p->result;
    size_t off = SSL_HEAD;
    struct tlv t;
    int rc;

    if (r->ssl)
        return fail(p, "v2: a TLV repeated");
    if (ssl->len < SSL_HEAD)
        return fail(p, "v2: SSL TLV shorter than 5 bytes");
    r->ssl = true;
    r->ssl_client = ssl->value[0];
    r->ssl_verify = get_be32(ssl->value + 1);
    while ((rc = tlv_next(ssl->value, &off, ssl->len, &t)) > 0) {
        if (t.type == TLV_SSL_VERSION && !keep_text(p, &r->ssl_version, &t, SIZE_MAX, NULL))
            return false;
        if (t.type == TLV_SSL_CN && !keep_text(p, &r->ssl_cn, &t, SIZE_MAX, NULL))
            return false;
    }
    if (rc < 0)
        return fail(p, "v2: a sub-TLV overruns the SSL TLV");
    return true;
}

/* Is the CRC32c at h[at] that of the header `h` of `len` bytes with it zeroed? */
static bool crc_matches(const unsigned char *h, size_t len, size_t at)
{
    static const unsigned char zero[TLV_CRC32C_LEN];
    uint32_t c = proxy_crc32c(0, h, at);

    c = proxy_crc32c(c, zero, sizeof(zero));
    c = proxy_crc32c(c, h + at + TLV_CRC32C_LEN, len - at - TLV_CRC32C_LEN);
    return c == get_be32(h + at);
}

static bool v2_tlv(struct proxy_parser *p, const struct tlv *t, size_t *crc_at)
{
    struct proxy_result *r = &p->result;

    switch (t->type) {
    case TLV_CRC32C:
        if (*crc_at != 0)
            return fail(p, "v2: a TLV repeated");
        if (t->len != TLV_CRC32C_LEN)
            return fail(p, "v2: CRC32C TLV not 4 bytes");
        *crc_at = (size_t)(t->value - p->buf);
        return true;
    case TLV_ALPN:
        return keep_text(p, &r->alpn, t, SIZE_MAX, NULL);
    case TLV_AUTHORITY:
        return keep_text(p, &r->authority, t, PROXY_AUTHORITY_MAX, "v2: AUTHORITY over 255 bytes");
    case TLV_UNIQUE_ID:
        return keep_text(p, &r->unique_id, t, PROXY_UNIQUE_ID_MAX, "v2: UNIQUE_ID over 128 bytes");
    case TLV_SSL:
        return v2_ssl(p, t);
    default: /* NOOP, and the types we do not read */
        return true;
    }
}

/* The TLVs from buf[off] to the header's end, then the CRC32c if one came. */
static bool v2_tlvs(struct proxy_parser *p, size_t off)
{
    size_t crc_at = 0; /* 0: none (a TLV's value is never at 0) */
    struct tlv t;
    int rc;

    while ((rc = tlv_next(p->buf, &off, p->need, &t)) > 0)
        if (!v2_tlv(p, &t, &crc_at))
            return false;
    if (rc < 0)
        return fail(p, "v2: a TLV overruns the header");
    if (crc_at != 0 && !crc_matches(p->buf, p->need, crc_at))
        return fail(p, "v2: CRC32C mismatch");
    p->result.crc_checked = crc_at != 0;
    return true;
}

static void set_in(struct sockaddr_storage *ss, socklen_t *len, const unsigned char *addr,
                   const unsigned char *port)
{
    struct sockaddr_in s = {.sin_family = AF_INET};

    memcpy(&s.sin_addr, addr, 4);
    memcpy(&s.sin_port, port, 2);
    memcpy(ss, &s, sizeof(s));
    *len = sizeof(s);
}

static void set_in6(struct sockaddr_storage *ss, socklen_t *len, const unsigned char *addr,
                    const unsigned char *port)
{
    struct sockaddr_in6 s = {.sin6_family = AF_INET6};

    memcpy(&s.sin6_addr, addr, 16);
    memcpy(&s.sin6_port, port, 2);
    memcpy(ss, &s, sizeof(s));
    *len = sizeof(s);
}

/*
 * A Unix address of 108 bytes, its length as getsockname gives it: a path
 * with its NUL, an abstract name ("\0" first) without its trailing NULs,
 * no path at all for an unnamed socket (all zero).
 */
static void set_un(struct sockaddr_storage *ss, socklen_t *len, const unsigned char *path)
{
    struct sockaddr_un s = {.sun_family = AF_UNIX};
    size_t n = V2_UNIX_PATH;

    memcpy(s.sun_path, path, V2_UNIX_PATH);
    if (path[0] != '\0') {
        n = strnlen(s.sun_path, V2_UNIX_PATH);
        if (n < V2_UNIX_PATH)
            n++; /* its NUL */
    } else {
        while (n > 0 && path[n - 1] == '\0')
            n--;
    }
    memcpy(ss, &s, sizeof(s));
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
}

static void v2_addresses(struct proxy_result *r, int family, const unsigned char *a)
{
    r->family = family;
    if (family == AF_INET) {
        set_in(&r->src, &r->src_len, a, a + 8);
        set_in(&r->dst, &r->dst_len, a + 4, a + 10);
    } else if (family == AF_INET6) {
        set_in6(&r->src, &r->src_len, a, a + 32);
        set_in6(&r->dst, &r->dst_len, a + 16, a + 34);
    } else {
        set_un(&r->src, &r->src_len, a);
        set_un(&r->dst, &r->dst_len, a + V2_UNIX_PATH);
    }
}

/* The entry of a family byte that step_v2 accepted. */
static const struct v2_family *v2_family(const struct proxy_parser *p)
{
    const struct v2_family *f = v2_family_of(p->buf[V2_AT_FAMILY]);

    return f != NULL ? f : &v2_families[0]; /* never: the byte was checked when it came */
}

/* The whole header is in buf: its fixed part was checked byte by byte. */
static void finish_v2(struct proxy_parser *p)
{
    const struct v2_family *f = v2_family(p);
    bool proxy = (p->buf[V2_AT_VER_CMD] & 0xf) == V2_CMD_PROXY;
    struct proxy_result *r = &p->result;
    size_t tlvs = PROXY_V2_FIXED + f->addr_len;

    r->version = 2;
    if (proxy && f->family != AF_UNSPEC)
        v2_addresses(r, f->family, p->buf + PROXY_V2_FIXED);
    else
        r->local = true;
    /* LOCAL ignores the family: a body too short for its addresses holds no TLVs. */
    if (tlvs > p->need)
        tlvs = p->need;
    if (v2_tlvs(p, tlvs))
        p->state = PROXY_DONE;
}

/* The fixed part is in: the length says how much more the header holds. */
static void v2_length(struct proxy_parser *p)
{
    size_t len = (size_t)p->buf[V2_AT_LENGTH] << 8 | p->buf[V2_AT_LENGTH + 1];

    if (len > PROXY_V2_MAX - PROXY_V2_FIXED) {
        fail(p, "v2: header over 4096 bytes");
        return;
    }
    if (len < v2_family(p)->addr_len && (p->buf[V2_AT_VER_CMD] & 0xf) == V2_CMD_PROXY) {
        fail(p, "v2: length too short for the family's addresses");
        return;
    }
    p->need = PROXY_V2_FIXED + len;
    if (p->need == p->have)
        finish_v2(p);
}

/* Judge the byte just added to the v2 fixed part. */
static void step_v2(struct proxy_parser *p)
{
    size_t i = p->have - 1;
    unsigned char c = p->buf[i];

    if (i < V2_SIG_LEN) {
        if (c != v2_sig[i])
            fail(p, "v2: not the signature");
    } else if (i == V2_AT_VER_CMD) {
        if ((c >> 4) != V2_VERSION)
            fail(p, "v2: version not 2");
        else if ((c & 0xf) != V2_CMD_LOCAL && (c & 0xf) != V2_CMD_PROXY)
            fail(p, "v2: command not LOCAL or PROXY");
    } else if (i == V2_AT_FAMILY) {
        if (v2_family_of(c) == NULL)
            fail(p, "v2: unknown family or transport");
    } else if (p->have == PROXY_V2_FIXED) {
        v2_length(p);
    }
}

/* --- both ---------------------------------------------------------------- */

/* The first byte tells the versions apart: 'P' against the signature's CR. */
static void step_first(struct proxy_parser *p)
{
    unsigned char c = p->buf[0];

    if (c == (unsigned char)V1_PREFIX[0] && (p->mode & PROXY_V1) != 0)
        p->version = 1;
    else if (c == v2_sig[0] && (p->mode & PROXY_V2) != 0)
        p->version = 2;
    else if (p->mode == PROXY_V1)
        fail(p, "v1: does not start \"PROXY \"");
    else if (p->mode == PROXY_V2)
        fail(p, "v2: not the signature");
    else
        fail(p, "neither a v1 nor a v2 header");
}

size_t proxy_feed(struct proxy_parser *p, const void *data, size_t len)
{
    const unsigned char *in = data;
    size_t used = 0;

    while (used < len && p->state == PROXY_MORE) {
        if (p->version == 2 && p->have >= PROXY_V2_FIXED) {
            /* Addresses and TLVs: judged only once they are all in. */
            size_t take = p->need - p->have < len - used ? p->need - p->have : len - used;
            memcpy(p->buf + p->have, in + used, take);
            p->have += take;
            used += take;
            if (p->have == p->need)
                finish_v2(p);
            continue;
        }
        p->buf[p->have++] = in[used++];
        if (p->have == 1)
            step_first(p);
        else if (p->version == 1)
            step_v1(p);
        else
            step_v2(p);
    }
    return used;
}

/* --- encoders ------------------------------------------------------------ */

static void map_v4(struct sockaddr_storage *ss)
{
    struct sockaddr_in s4;
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};

    memcpy(&s4, ss, sizeof(s4));
    s6.sin6_port = s4.sin_port;
    s6.sin6_addr.s6_addr[10] = 0xff;
    s6.sin6_addr.s6_addr[11] = 0xff;
    memcpy(&s6.sin6_addr.s6_addr[12], &s4.sin_addr, 4);
    memcpy(ss, &s6, sizeof(s6));
}

static bool copy_inet(const struct sockaddr *sa, struct sockaddr_storage *ss)
{
    socklen_t len;

    if (sa == NULL || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
        return false;
    len = sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, sa, len);
    addr_unmap(ss, &len);
    return true;
}

/* The pair in one family: AF_INET, AF_INET6 (a lone IPv4 mapped), or AF_UNSPEC. */
static int encode_pair(const struct sockaddr *src, const struct sockaddr *dst,
                       struct sockaddr_storage *s, struct sockaddr_storage *d)
{
    if (!copy_inet(src, s) || !copy_inet(dst, d))
        return AF_UNSPEC;
    if (s->ss_family == d->ss_family)
        return s->ss_family;
    map_v4(s->ss_family == AF_INET ? s : d);
    return AF_INET6;
}

static const void *inet_bytes(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return &((const struct sockaddr_in *)ss)->sin_addr;
    return &((const struct sockaddr_in6 *)ss)->sin6_addr;
}

size_t proxy_encode_v1(char *buf, size_t size, const struct sockaddr *src,
                       const struct sockaddr *dst)
{
    struct sockaddr_storage s, d;
    char text[PROXY_ENCODE_MAX], sh[INET6_ADDRSTRLEN], dh[INET6_ADDRSTRLEN];
    int family = encode_pair(src, dst, &s, &d), n;

    if (family == AF_UNSPEC) {
        n = snprintf(text, sizeof(text), "PROXY UNKNOWN\r\n");
    } else {
        if (inet_ntop(family, inet_bytes(&s), sh, sizeof(sh)) == NULL ||
            inet_ntop(family, inet_bytes(&d), dh, sizeof(dh)) == NULL)
            return 0;
        n = snprintf(
            text, sizeof(text), "PROXY %s %s %s %u %u\r\n", family == AF_INET ? "TCP4" : "TCP6", sh,
            dh, addr_port((const struct sockaddr *)&s), addr_port((const struct sockaddr *)&d));
    }
    if (n < 0 || (size_t)n >= sizeof(text) || (size_t)n > size)
        return 0;
    memcpy(buf, text, (size_t)n);
    return (size_t)n;
}

/* Address bytes then port, for each of src and dst, as proxy-protocol.txt orders them. */
static size_t put_v2_addresses(unsigned char *a, const struct sockaddr_storage *s,
                               const struct sockaddr_storage *d)
{
    size_t n = s->ss_family == AF_INET ? 4 : 16;
    uint16_t sport = htons(addr_port((const struct sockaddr *)s));
    uint16_t dport = htons(addr_port((const struct sockaddr *)d));

    memcpy(a, inet_bytes(s), n);
    memcpy(a + n, inet_bytes(d), n);
    memcpy(a + 2 * n, &sport, 2);
    memcpy(a + 2 * n + 2, &dport, 2);
    return 2 * n + 4;
}

size_t proxy_encode_v2(unsigned char *buf, size_t size, const struct sockaddr *src,
                       const struct sockaddr *dst)
{
    struct sockaddr_storage s, d;
    int family = encode_pair(src, dst, &s, &d);
    size_t addr_len = family == AF_INET    ? V2_ADDR_INET
                      : family == AF_INET6 ? V2_ADDR_INET6
                                           : V2_ADDR_UNSPEC;

    if (size < PROXY_V2_FIXED + addr_len)
        return 0;
    memcpy(buf, v2_sig, V2_SIG_LEN);
    buf[V2_AT_VER_CMD] =
        (unsigned char)(V2_VERSION << 4 | (family == AF_UNSPEC ? V2_CMD_LOCAL : V2_CMD_PROXY));
    buf[V2_AT_FAMILY] = family == AF_INET    ? V2_TCP4
                        : family == AF_INET6 ? V2_TCP6
                                             : V2_FAMILY_LOCAL;
    buf[V2_AT_LENGTH] = (unsigned char)(addr_len >> 8);
    buf[V2_AT_LENGTH + 1] = (unsigned char)(addr_len & 0xff);
    if (family != AF_UNSPEC)
        put_v2_addresses(buf + PROXY_V2_FIXED, &s, &d);
    return PROXY_V2_FIXED + addr_len;
}
