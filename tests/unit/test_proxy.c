/*
 * Unit tests: the PROXY protocol header parser and encoders (proxy.c).
 *
 * A table of good and bad headers, each fed whole, byte by byte and in
 * random pieces, which must all end the same way; every proper prefix of
 * a good header must ask for more.  Then the results of the good ones,
 * the bytes after a header, the size limits, CRC32c, and the encoders
 * read back by the parser.
 */
#include "proxy.h"
#include "t.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* The v2 signature, as hex. */
#define SIG "0d0a0d0a000d0a515549540a "

/* Twelve bytes of IPv4 addresses and ports: 127.0.0.1:12345 -> 127.0.0.2:80. */
#define IP4 "7f000001 7f000002 3039 0050 "
/* 36 bytes of IPv6: [2001:db8::1]:12345 -> [2001:db8::2]:80. */
#define IP6 "20010db8000000000000000000000001 20010db8000000000000000000000002 3039 0050 "

struct pcase {
    const char *name;
    enum proxy_mode mode;
    bool hex;         /* data is hex text (spaces ignored, "XX*N": N times the byte) */
    const char *data; /* else the bytes themselves */
    size_t len;       /* of data when not hex */
    enum proxy_state want;
    const char *detail; /* ERROR: a part of the detail */
};

#define V1(name, mode, lit, want, detail)                                                          \
    {                                                                                              \
        name, mode, false, lit, sizeof(lit) - 1, want, detail                                      \
    }
#define V2(name, mode, hex, want, detail)                                                          \
    {                                                                                              \
        name, mode, true, hex, 0, want, detail                                                     \
    }
#define OK  PROXY_DONE
#define ERR PROXY_ERROR

static const struct pcase cases[] = {
    /* v1, good */
    V1("v1 tcp4", PROXY_V1, "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", OK, NULL),
    V1("v1 tcp4 widest", PROXY_V1, "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", OK,
       NULL),
    V1("v1 tcp4 zeros", PROXY_V1, "PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n", OK, NULL),
    V1("v1 tcp6", PROXY_V1, "PROXY TCP6 2001:db8::1 2001:DB8::2 1234 80\r\n", OK, NULL),
    V1("v1 tcp6 widest", PROXY_V1,
       "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
       "65535 65535\r\n",
       OK, NULL),
    V1("v1 tcp6 mapped", PROXY_V1, "PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n", OK, NULL),
    V1("v1 unknown", PROXY_V1, "PROXY UNKNOWN\r\n", OK, NULL),
    V1("v1 unknown with junk", PROXY_V1, "PROXY UNKNOWN whatever \x01\x7f\0 it says\r\n", OK, NULL),
    V1("v1 unknown worst case", PROXY_V1,
       "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
       "65535 65535\r\n",
       OK, NULL),
    V1("v1 in any", PROXY_ANY, "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", OK, NULL),

    /* v1, bad */
    V1("v1 lf alone", PROXY_V1, "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", ERR, "LF without CR"),
    V1("v1 cr alone", PROXY_V1, "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", ERR, "CR not followed"),
    V1("v1 cr cr lf", PROXY_V1, "PROXY UNKNOWN\r\r\n", ERR, "CR not followed"),
    V1("v1 two spaces", PROXY_V1, "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", ERR, "4 fields"),
    V1("v1 trailing space", PROXY_V1, "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", ERR, "4 fields"),
    V1("v1 three fields", PROXY_V1, "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", ERR, "4 fields"),
    V1("v1 five fields", PROXY_V1, "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", ERR, "4 fields"),
    V1("v1 tab", PROXY_V1, "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", ERR, "4 fields"),
    V1("v1 no fields", PROXY_V1, "PROXY TCP4\r\n", ERR, "4 fields"),
    V1("v1 octet 256", PROXY_V1, "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", ERR, "source"),
    V1("v1 three octets", PROXY_V1, "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", ERR, "source"),
    V1("v1 octet leading zero", PROXY_V1, "PROXY TCP4 1.2.3.4 5.6.07.8 1 2\r\n", ERR,
       "destination"),
    V1("v1 ipv6 in tcp4", PROXY_V1, "PROXY TCP4 ::1 ::1 1 2\r\n", ERR, "source"),
    V1("v1 ipv4 in tcp6", PROXY_V1, "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", ERR, "source"),
    V1("v1 ipv6 scope", PROXY_V1, "PROXY TCP6 fe80::1%1 ::1 1 2\r\n", ERR, "source"),
    V1("v1 ipv6 bad", PROXY_V1, "PROXY TCP6 ::1 1:2:3:4:5:6:7:8:9 1 2\r\n", ERR, "destination"),
    V1("v1 nul in address", PROXY_V1, "PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", ERR, "source"),
    V1("v1 port 65536", PROXY_V1, "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", ERR, "source"),
    V1("v1 port plus", PROXY_V1, "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", ERR, "source"),
    V1("v1 port minus", PROXY_V1, "PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n", ERR, "destination"),
    V1("v1 port leading zero", PROXY_V1, "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", ERR, "source"),
    V1("v1 port 00", PROXY_V1, "PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n", ERR, "destination"),
    V1("v1 port hex", PROXY_V1, "PROXY TCP4 1.2.3.4 5.6.7.8 1 0x10\r\n", ERR, "destination"),
    V1("v1 port long", PROXY_V1, "PROXY TCP4 1.2.3.4 5.6.7.8 1 0000080\r\n", ERR, "destination"),
    V1("v1 tcp5", PROXY_V1, "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", ERR, "protocol"),
    V1("v1 lowercase", PROXY_V1, "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", ERR, "protocol"),
    V1("v1 unknownx", PROXY_V1, "PROXY UNKNOWNX\r\n", ERR, "protocol"),
    V1("v1 empty", PROXY_V1, "PROXY \r\n", ERR, "protocol"),
    V1("v1 no space", PROXY_V1, "PROXY\r\n", ERR, "\"PROXY \""),
    V1("v1 lowercase proxy", PROXY_V1, "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", ERR, "\"PROXY \""),
    V1("v1 108 bytes", PROXY_V1,
       "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
       "65535 655350\r\n",
       ERR, "107"),
    V1("v1 header in v2 mode", PROXY_V2, "PROXY UNKNOWN\r\n", ERR, "signature"),
    V1("http in any", PROXY_ANY, "GET / HTTP/1.0\r\n\r\n", ERR, "neither"),
    V1("tls in any", PROXY_ANY, "\x16\x03\x01\x02\x00\x01", ERR, "neither"),

    /* v2, good */
    V2("v2 tcp4", PROXY_V2, SIG "21 11 000c" IP4, OK, NULL),
    V2("v2 tcp6", PROXY_V2, SIG "21 21 0024" IP6, OK, NULL),
    V2("v2 unix", PROXY_V2, SIG "21 31 00d8 2f746d702f61 00*102 00*108", OK, NULL),
    V2("v2 local", PROXY_V2, SIG "20 00 0000", OK, NULL),
    V2("v2 local with addresses", PROXY_V2, SIG "20 11 000f" IP4 "04 0000", OK, NULL),
    V2("v2 local, family ignored", PROXY_V2, SIG "20 21 0005 0102030405", OK, NULL),
    V2("v2 proxy unspec", PROXY_V2, SIG "21 00 0000", OK, NULL),
    V2("v2 udp4 served as unspec", PROXY_V2, SIG "21 12 000c" IP4, OK, NULL),
    V2("v2 udp6 served as unspec", PROXY_V2, SIG "21 22 0024" IP6, OK, NULL),
    V2("v2 unix dgram served as unspec", PROXY_V2, SIG "21 32 00d8 00*216", OK, NULL),
    V2("v2 tlvs", PROXY_V2,
       SIG "21 11 0031" IP4 "01 0002 6832  02 000b 6578616d706c652e636f6d  04 0002 0000"
           "  e0 0003 010203  05 0004 00ff5c41",
       OK, NULL),
    V2("v2 ssl", PROXY_V2,
       SIG "21 11 0025" IP4 "20 0016 07 00000000  21 0007 544c5376312e33  22 0004 63 6e 0a 20", OK,
       NULL),
    V2("v2 crc", PROXY_V2, SIG "21 11 0013" IP4 "03 0004 85d309ff", OK, NULL),
    V2("v2 crc among tlvs", PROXY_V2,
       SIG "21 21 0036" IP6 "01 0002 6832  03 0004 f386385a  04 0003 000000", OK, NULL),
    V2("v2 in any", PROXY_ANY, SIG "21 11 000c" IP4, OK, NULL),
    V2("v2 largest", PROXY_V2, SIG "20 00 0ff0 04 0fed 00*4077", OK, NULL),

    /* v2, bad */
    V2("v2 bad signature", PROXY_V2, "0d0a0d2a000d0a515549540a 21 11 000c" IP4, ERR, "signature"),
    V2("v2 signature end", PROXY_V2, "0d0a0d0a000d0a515549540b 21 11 000c" IP4, ERR, "signature"),
    V2("v2 version 1", PROXY_V2, SIG "11 11 000c" IP4, ERR, "version"),
    V2("v2 version 3", PROXY_V2, SIG "31 11 000c" IP4, ERR, "version"),
    V2("v2 command 2", PROXY_V2, SIG "22 11 000c" IP4, ERR, "command"),
    V2("v2 command f", PROXY_V2, SIG "2f 11 000c" IP4, ERR, "command"),
    V2("v2 family 4", PROXY_V2, SIG "21 41 000c" IP4, ERR, "family"),
    V2("v2 transport 3", PROXY_V2, SIG "21 13 000c" IP4, ERR, "family"),
    V2("v2 unspec stream", PROXY_V2, SIG "21 01 0000", ERR, "family"),
    V2("v2 inet unspec", PROXY_V2, SIG "21 10 000c" IP4, ERR, "family"),
    V2("v2 tcp4 short", PROXY_V2, SIG "21 11 000b 7f000001 7f000002 3039 00", ERR, "too short"),
    V2("v2 tcp6 with ipv4 length", PROXY_V2, SIG "21 21 000c" IP4, ERR, "too short"),
    V2("v2 unix short", PROXY_V2, SIG "21 31 0024" IP6, ERR, "too short"),
    V2("v2 over 4096", PROXY_V2, SIG "20 00 0ff1 04 0fee 00*4078", ERR, "4096"),
    V2("v2 length ffff", PROXY_V2, SIG "20 00 ffff", ERR, "4096"),
    V2("v2 tlv overruns", PROXY_V2, SIG "21 11 0010" IP4 "01 0002 68", ERR, "overruns the header"),
    V2("v2 tlv head cut", PROXY_V2, SIG "21 11 000e" IP4 "01 00", ERR, "overruns the header"),
    V2("v2 tlv byte left", PROXY_V2, SIG "21 11 0010" IP4 "04 0000 00", ERR, "overruns the header"),
    V2("v2 bad crc", PROXY_V2, SIG "21 11 0013" IP4 "03 0004 85d309fe", ERR, "mismatch"),
    V2("v2 crc of other bytes", PROXY_V2,
       SIG "21 11 0013 7f000001 7f000002 3039 0051 03 0004 85d309ff", ERR, "mismatch"),
    V2("v2 crc 3 bytes", PROXY_V2, SIG "21 11 0012" IP4 "03 0003 85d309", ERR, "not 4 bytes"),
    V2("v2 crc twice", PROXY_V2, SIG "21 11 001a" IP4 "03 0004 85d309ff 03 0004 85d309ff", ERR,
       "repeated"),
    V2("v2 alpn twice", PROXY_V2, SIG "21 11 0016" IP4 "01 0002 6832 01 0002 6832", ERR,
       "repeated"),
    V2("v2 ssl short", PROXY_V2, SIG "21 11 0013" IP4 "20 0004 01000000", ERR, "shorter than 5"),
    V2("v2 ssl sub-tlv overruns", PROXY_V2, SIG "21 11 0018" IP4 "20 0009 01 00000000 21 0003 41",
       ERR, "SSL TLV"),
    V2("v2 ssl cn twice", PROXY_V2,
       SIG "21 11 001c" IP4 "20 000d 01 00000000 22 0001 41 22 0001 41", ERR, "repeated"),
    V2("v2 unique id 129", PROXY_V2, SIG "21 11 0090" IP4 "05 0081 41*129", ERR, "UNIQUE_ID"),
    V2("v2 authority 256", PROXY_V2, SIG "21 11 010f" IP4 "02 0100 61*256", ERR, "AUTHORITY"),
    V2("v2 header in v1 mode", PROXY_V1, SIG "21 11 000c" IP4, ERR, "\"PROXY \""),
    V2("nul in any", PROXY_ANY, "00 00 00", ERR, "neither"),
};

/* A decoded case: the bytes, at most a v2 header and some. */
struct bytes {
    unsigned char b[PROXY_V2_MAX + 64];
    size_t n;
};

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static void hex_decode(const char *s, struct bytes *out)
{
    out->n = 0;
    while (*s != '\0') {
        int hi, lo;
        unsigned long times = 1;
        if (*s == ' ') {
            s++;
            continue;
        }
        hi = hex_digit(s[0]);
        lo = hex_digit(s[1]);
        if (hi < 0 || lo < 0)
            T_FAIL("bad hex in the test: \"%s\"", s);
        s += 2;
        if (*s == '*')
            times = strtoul(s + 1, (char **)&s, 10);
        for (unsigned long i = 0; i < times; i++) {
            T_ASSERT(out->n < sizeof(out->b));
            out->b[out->n++] = (unsigned char)(hi << 4 | lo);
        }
    }
}

static void case_bytes(const struct pcase *c, struct bytes *out)
{
    if (c->hex) {
        hex_decode(c->data, out);
    } else {
        T_ASSERT(c->len <= sizeof(out->b));
        memcpy(out->b, c->data, c->len);
        out->n = c->len;
    }
}

/* What a parse came to, fed in some pieces. */
struct outcome {
    enum proxy_state state;
    size_t used;
    const char *detail;
    struct proxy_result result;
};

static uint32_t rng_state;

static uint32_t rng(void)
{
    /* xorshift32: the same pieces at every run. */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

enum split { WHOLE, BYTES, RANDOM };

/* Feed `n` bytes in pieces as `how` says; every piece after the end must be refused. */
static void parse(enum proxy_mode mode, const unsigned char *b, size_t n, enum split how,
                  struct outcome *o)
{
    static struct proxy_parser p;
    size_t off = 0;

    proxy_parser_init(&p, mode);
    memset(o, 0, sizeof(*o));
    while (off < n) {
        size_t piece = how == WHOLE ? n - off : how == BYTES ? 1 : 1 + rng() % (n / 3 + 1);
        size_t took;
        if (piece > n - off)
            piece = n - off;
        took = proxy_feed(&p, b + off, piece);
        T_ASSERT(took <= piece);
        if (p.state == PROXY_MORE)
            T_EQ_INT(took, piece);
        o->used += took;
        off += piece;
        if (p.state != PROXY_MORE)
            break;
    }
    if (off < n)
        T_EQ_INT(proxy_feed(&p, b + off, n - off), 0);
    o->state = p.state;
    o->detail = p.detail;
    o->result = p.result;
    if (p.state == PROXY_ERROR)
        T_EQ_STR(p.reason, "bad_header");
    else
        T_ASSERT(p.reason == NULL && p.detail == NULL);
}

static bool same_text(const struct proxy_text *a, const struct proxy_text *b)
{
    return a->present == b->present && strcmp(a->text, b->text) == 0;
}

static bool same_result(const struct proxy_result *a, const struct proxy_result *b)
{
    return a->version == b->version && a->local == b->local && a->family == b->family &&
           a->src_len == b->src_len && a->dst_len == b->dst_len &&
           memcmp(&a->src, &b->src, a->src_len) == 0 && memcmp(&a->dst, &b->dst, a->dst_len) == 0 &&
           a->crc_checked == b->crc_checked && same_text(&a->alpn, &b->alpn) &&
           same_text(&a->authority, &b->authority) && same_text(&a->unique_id, &b->unique_id) &&
           a->ssl == b->ssl && a->ssl_client == b->ssl_client && a->ssl_verify == b->ssl_verify &&
           same_text(&a->ssl_version, &b->ssl_version) && same_text(&a->ssl_cn, &b->ssl_cn);
}

static void same_outcome(const char *name, const char *how, const struct outcome *a,
                         const struct outcome *b)
{
    if (a->state != b->state || a->used != b->used || a->detail != b->detail ||
        !same_result(&a->result, &b->result))
        T_FAIL("%s %s: state %d, %zu bytes, \"%s\"; whole: state %d, %zu bytes, \"%s\"%s", name,
               how, a->state, a->used, a->detail ? a->detail : "", b->state, b->used,
               b->detail ? b->detail : "",
               same_result(&a->result, &b->result) ? "" : ", results differ");
}

static const struct pcase *find_case(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        if (strcmp(cases[i].name, name) == 0)
            return &cases[i];
    T_FAIL("no case \"%s\"", name);
}

/* The case parsed whole, which must end as the table says. */
static void parse_case(const char *name, struct outcome *o)
{
    const struct pcase *c = find_case(name);
    static struct bytes b;

    case_bytes(c, &b);
    parse(c->mode, b.b, b.n, WHOLE, o);
    if (o->state != c->want)
        T_FAIL("%s: state %d (%s), want %d", name, o->state, o->detail ? o->detail : "", c->want);
}

static void test_table_whole_bytes_and_pieces(void)
{
    /* Every case ends as the table says, the same way however it is cut. */
    static struct bytes b;
    struct outcome whole, other;

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const struct pcase *c = &cases[i];
        case_bytes(c, &b);
        parse(c->mode, b.b, b.n, WHOLE, &whole);
        if (whole.state != c->want)
            T_FAIL("%s: state %d (%s), want %d", c->name, whole.state,
                   whole.detail ? whole.detail : "", c->want);
        if (c->want == PROXY_DONE && whole.used != b.n)
            T_FAIL("%s: %zu bytes taken of %zu", c->name, whole.used, b.n);
        if (c->want == PROXY_ERROR && strstr(whole.detail, c->detail) == NULL)
            T_FAIL("%s: \"%s\", want \"%s\"", c->name, whole.detail, c->detail);
        parse(c->mode, b.b, b.n, BYTES, &other);
        same_outcome(c->name, "byte by byte", &other, &whole);
        rng_state = 0x2545f491u + (uint32_t)i;
        for (int k = 0; k < 20; k++) {
            parse(c->mode, b.b, b.n, RANDOM, &other);
            same_outcome(c->name, "in pieces", &other, &whole);
        }
    }
}

static void test_prefixes_ask_for_more(void)
{
    /* A good header cut anywhere short of its end is MORE, never DONE, all taken. */
    static struct bytes b;
    struct outcome o;

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        if (cases[i].want != PROXY_DONE)
            continue;
        case_bytes(&cases[i], &b);
        for (size_t n = 0; n < b.n; n++) {
            parse(cases[i].mode, b.b, n, WHOLE, &o);
            if (o.state != PROXY_MORE)
                T_FAIL("%s cut at %zu: state %d", cases[i].name, n, o.state);
            T_EQ_INT(o.used, n);
        }
    }
}

static void test_errors_at_the_deciding_byte(void)
{
    /* A byte that rules the header out is refused at once, whatever follows. */
    static const struct {
        const char *name;
        size_t used;
    } at[] = {
        {"http in any", 1},    {"v1 header in v2 mode", 1}, {"v2 header in v1 mode", 1},
        {"v1 no space", 6},    {"v1 lf alone", 31},         {"v1 cr alone", 32},
        {"v1 108 bytes", 107}, {"v2 bad signature", 4},     {"v2 signature end", 12},
        {"v2 version 1", 13},  {"v2 command 2", 13},        {"v2 family 4", 14},
        {"v2 over 4096", 16},  {"v2 length ffff", 16},      {"v2 tcp4 short", 16},
        {"v2 unix short", 16}, {"nul in any", 1},           {"v1 lowercase proxy", 1},
        {"tls in any", 1},
    };
    struct outcome o;

    for (size_t i = 0; i < ARRAY_LEN(at); i++) {
        parse_case(at[i].name, &o);
        if (o.used != at[i].used)
            T_FAIL("%s: decided at byte %zu, want %zu", at[i].name, o.used, at[i].used);
    }
}

static const char *ntop(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    const void *a = ss->ss_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
    T_ASSERT(inet_ntop(ss->ss_family, a, buf, (socklen_t)size) != NULL);
    return buf;
}

static unsigned port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/*
 * The addresses of a result as text: "v1 local", "v2 1.2.3.4:5 > 6.7.8.9:10",
 * "v1 [2001:db8::1]:5 > [::1]:6", so that a failure shows what came.
 */
static const char *result_text(const struct proxy_result *r, char *buf, size_t size)
{
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
    socklen_t len = r->family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    const char *fmt = r->family == AF_INET ? "v%d %s:%u > %s:%u" : "v%d [%s]:%u > [%s]:%u";

    if (r->local) {
        T_EQ_INT(r->family, AF_UNSPEC);
        T_EQ_INT(r->src_len + r->dst_len, 0);
        snprintf(buf, size, "v%d local", r->version);
        return buf;
    }
    T_ASSERT(r->family == AF_INET || r->family == AF_INET6);
    T_EQ_INT(r->src.ss_family, r->family);
    T_EQ_INT(r->dst.ss_family, r->family);
    T_EQ_INT(r->src_len, len);
    T_EQ_INT(r->dst_len, len);
    snprintf(buf, size, fmt, r->version, ntop(&r->src, src, sizeof(src)), port_of(&r->src),
             ntop(&r->dst, dst, sizeof(dst)), port_of(&r->dst));
    return buf;
}

#define T_RESULT(r, want)                                                                          \
    do {                                                                                           \
        char t_text_[128];                                                                         \
        T_EQ_STR(result_text((r), t_text_, sizeof(t_text_)), (want));                              \
    } while (0)

static void test_v1_results(void)
{
    struct outcome o;

    parse_case("v1 tcp4", &o);
    T_EQ_INT(o.result.version, 1);
    T_RESULT(&o.result, "v1 192.168.0.1:56324 > 192.168.0.11:443");
    T_ASSERT(!o.result.crc_checked && !o.result.alpn.present && !o.result.ssl);
    parse_case("v1 tcp4 widest", &o);
    T_RESULT(&o.result, "v1 255.255.255.255:65535 > 255.255.255.255:65535");
    parse_case("v1 tcp4 zeros", &o);
    T_RESULT(&o.result, "v1 0.0.0.0:0 > 0.0.0.0:0");
    parse_case("v1 tcp6", &o);
    T_RESULT(&o.result, "v1 [2001:db8::1]:1234 > [2001:db8::2]:80");
    parse_case("v1 tcp6 mapped", &o);
    T_RESULT(&o.result, "v1 [::ffff:1.2.3.4]:1 > [::1]:2");
}

static void test_v1_unknown_is_local(void)
{
    /* UNKNOWN, short or with anything after it: the balancer is the peer. */
    struct outcome o;

    parse_case("v1 unknown", &o);
    T_RESULT(&o.result, "v1 local");
    T_EQ_INT(o.used, 15);
    parse_case("v1 unknown with junk", &o);
    T_RESULT(&o.result, "v1 local");
    parse_case("v1 unknown worst case", &o);
    T_RESULT(&o.result, "v1 local");
    T_EQ_INT(o.used, PROXY_V1_MAX);
}

static void test_v2_addresses(void)
{
    struct outcome o;

    parse_case("v2 tcp4", &o);
    T_EQ_INT(o.result.version, 2);
    T_RESULT(&o.result, "v2 127.0.0.1:12345 > 127.0.0.2:80");
    T_ASSERT(!o.result.crc_checked);
    parse_case("v2 tcp6", &o);
    T_RESULT(&o.result, "v2 [2001:db8::1]:12345 > [2001:db8::2]:80");
    parse_case("v2 in any", &o);
    T_RESULT(&o.result, "v2 127.0.0.1:12345 > 127.0.0.2:80");
}

static void test_v2_unix_addresses(void)
{
    /* A path keeps its NUL in the length, an unnamed socket has no path. */
    struct outcome o;
    const struct sockaddr_un *s;

    parse_case("v2 unix", &o);
    T_ASSERT(!o.result.local);
    T_EQ_INT(o.result.family, AF_UNIX);
    s = (const struct sockaddr_un *)&o.result.src;
    T_EQ_INT(s->sun_family, AF_UNIX);
    T_EQ_STR(s->sun_path, "/tmp/a");
    T_EQ_INT(o.result.src_len, offsetof(struct sockaddr_un, sun_path) + 7);
    T_EQ_INT(o.result.dst.ss_family, AF_UNIX);
    T_EQ_INT(o.result.dst_len, offsetof(struct sockaddr_un, sun_path));
}

static void test_v2_abstract_unix_address(void)
{
    /* "\0name": an abstract address, its trailing NULs not counted. */
    static struct bytes b;
    struct outcome o;
    const struct sockaddr_un *s;

    hex_decode(SIG "21 31 00d8 00 61620063 00*103 2f*108", &b);
    parse(PROXY_V2, b.b, b.n, WHOLE, &o);
    T_EQ_INT(o.state, PROXY_DONE);
    s = (const struct sockaddr_un *)&o.result.src;
    T_EQ_INT(o.result.src_len, offsetof(struct sockaddr_un, sun_path) + 5);
    T_EQ_MEM(s->sun_path, "\0ab\0c", 5);
    /* 108 bytes without a NUL: all of them, as the kernel would take them. */
    T_EQ_INT(o.result.dst_len, sizeof(struct sockaddr_un));
}

static void test_v2_local_and_unspec(void)
{
    /* LOCAL, UNSPEC and datagram headers: the balancer is the peer. */
    static const char *const names[] = {
        "v2 local",
        "v2 local with addresses",
        "v2 local, family ignored",
        "v2 proxy unspec",
        "v2 udp4 served as unspec",
        "v2 udp6 served as unspec",
        "v2 unix dgram served as unspec",
        "v2 largest",
    };
    struct outcome o;

    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        parse_case(names[i], &o);
        T_RESULT(&o.result, "v2 local");
    }
}

static void test_v2_tlvs(void)
{
    /* ALPN, AUTHORITY, UNIQUE_ID as escaped text; NOOP and a custom type skipped. */
    struct outcome o;

    parse_case("v2 tlvs", &o);
    T_RESULT(&o.result, "v2 127.0.0.1:12345 > 127.0.0.2:80");
    T_ASSERT(o.result.alpn.present);
    T_EQ_STR(o.result.alpn.text, "h2");
    T_ASSERT(o.result.authority.present);
    T_EQ_STR(o.result.authority.text, "example.com");
    T_ASSERT(o.result.unique_id.present);
    T_EQ_STR(o.result.unique_id.text, "\\x00\\xff\\\\A");
    T_ASSERT(!o.result.ssl && !o.result.crc_checked);
}

static void test_v2_ssl(void)
{
    /* The SSL TLV's client bits and verify, its VERSION and CN (escaped). */
    struct outcome o;

    parse_case("v2 ssl", &o);
    T_ASSERT(o.result.ssl);
    T_EQ_INT(o.result.ssl_client, 7);
    T_EQ_INT(o.result.ssl_verify, 0);
    T_ASSERT(o.result.ssl_version.present);
    T_EQ_STR(o.result.ssl_version.text, "TLSv1.3");
    T_ASSERT(o.result.ssl_cn.present);
    T_EQ_STR(o.result.ssl_cn.text, "cn\\x0a ");
    T_ASSERT(!o.result.alpn.present);
}

static void test_v2_crc(void)
{
    /* CRCs computed apart from proxy.c: checked, where the TLV comes. */
    struct outcome o;

    parse_case("v2 crc", &o);
    T_ASSERT(o.result.crc_checked);
    parse_case("v2 crc among tlvs", &o);
    T_ASSERT(o.result.crc_checked);
    T_EQ_STR(o.result.alpn.text, "h2");
}

static void test_v2_crc_of_built_header(void)
{
    /*
     * A header with its CRC computed here, then each bit of it flipped in
     * turn: never accepted (an error, or a wait for a longer header), but
     * for the CRC TLV's own type byte, which makes it another TLV.
     */
    static struct bytes b;
    struct outcome o;
    uint32_t crc;

    hex_decode(SIG "21 11 0019" IP4 "01 0003 616263 03 0004 00000000", &b);
    crc = proxy_crc32c(0, b.b, b.n);
    for (int i = 0; i < 4; i++)
        b.b[b.n - 4 + (size_t)i] = (unsigned char)(crc >> (24 - 8 * i));
    parse(PROXY_V2, b.b, b.n, WHOLE, &o);
    T_EQ_INT(o.state, PROXY_DONE);
    T_ASSERT(o.result.crc_checked);
    for (size_t bit = 0; bit < 8 * b.n; bit++) {
        if (bit / 8 == b.n - 7)
            continue;
        b.b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        parse(PROXY_V2, b.b, b.n, WHOLE, &o);
        if (o.state == PROXY_DONE)
            T_FAIL("bit %zu of byte %zu flipped: accepted", bit % 8, bit / 8);
        b.b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
}

static void test_tlv_size_limits(void)
{
    /* AUTHORITY up to 255 bytes, UNIQUE_ID up to 128; an ALPN of 300 cut at 255, "..." last. */
    static struct bytes b;
    struct outcome o;

    hex_decode(SIG "21 11 010e" IP4 "02 00ff 61*255", &b);
    parse(PROXY_V2, b.b, b.n, WHOLE, &o);
    T_EQ_INT(o.state, PROXY_DONE);
    T_EQ_INT(strlen(o.result.authority.text), 255);
    hex_decode(SIG "21 11 008f" IP4 "05 0080 00*128", &b);
    parse(PROXY_V2, b.b, b.n, WHOLE, &o);
    T_EQ_INT(o.state, PROXY_DONE);
    T_EQ_INT(strlen(o.result.unique_id.text), 252 + 3);
    T_EQ_STR(o.result.unique_id.text + 252, "...");
    hex_decode(SIG "21 11 013b" IP4 "01 012c 68*300", &b);
    parse(PROXY_V2, b.b, b.n, WHOLE, &o);
    T_EQ_INT(o.state, PROXY_DONE);
    T_EQ_INT(strlen(o.result.alpn.text), 255);
    T_EQ_STR(o.result.alpn.text + 252, "...");
}

static void test_service_bytes_are_kept(void)
{
    /* What follows a header is the service's, even another "PROXY" line. */
    static const char v1[] = "PROXY UNKNOWN\r\nPROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nhello";
    static struct bytes b;
    struct outcome o;

    for (enum split how = WHOLE; how <= RANDOM; how++) {
        parse(PROXY_V1, (const unsigned char *)v1, sizeof(v1) - 1, how, &o);
        T_EQ_INT(o.state, PROXY_DONE);
        T_EQ_INT(o.used, 15);
        T_ASSERT(o.result.local);
    }
    hex_decode(SIG "21 11 000c" IP4 "50524f585920554e4b4e4f574e0d0a" SIG "20 00 0000", &b);
    for (enum split how = WHOLE; how <= RANDOM; how++) {
        parse(PROXY_ANY, b.b, b.n, how, &o);
        T_EQ_INT(o.state, PROXY_DONE);
        T_EQ_INT(o.used, 28);
        T_EQ_INT(o.result.family, AF_INET);
    }
}

static void test_fed_after_the_end(void)
{
    /* Once DONE or ERROR, nothing more is taken and nothing changes. */
    struct proxy_parser *p = malloc(sizeof(*p));

    T_ASSERT(p != NULL);
    proxy_parser_init(p, PROXY_ANY);
    T_EQ_INT(proxy_feed(p, "", 0), 0);
    T_EQ_INT(p->state, PROXY_MORE);
    T_EQ_INT(proxy_feed(p, "PROXY UNKNOWN\r\n", 15), 15);
    T_EQ_INT(p->state, PROXY_DONE);
    T_EQ_INT(proxy_feed(p, "x", 1), 0);
    T_EQ_INT(p->state, PROXY_DONE);
    proxy_parser_init(p, PROXY_ANY);
    T_EQ_INT(proxy_feed(p, "XY", 2), 1);
    T_EQ_INT(p->state, PROXY_ERROR);
    T_EQ_INT(proxy_feed(p, "PROXY UNKNOWN\r\n", 15), 0);
    T_EQ_INT(p->state, PROXY_ERROR);
    T_EQ_STR(p->reason, PROXY_REASON_BAD_HEADER);
    free(p);
}

static void test_crc32c_vectors(void)
{
    /* The check value, RFC 3720's B.4 vectors, and CRCs continued over pieces. */
    unsigned char buf[32];

    T_EQ_INT(proxy_crc32c(0, "123456789", 9), 0xe3069283u);
    T_EQ_INT(proxy_crc32c(0, "", 0), 0);
    memset(buf, 0, sizeof(buf));
    T_EQ_INT(proxy_crc32c(0, buf, sizeof(buf)), 0x8a9136aau);
    memset(buf, 0xff, sizeof(buf));
    T_EQ_INT(proxy_crc32c(0, buf, sizeof(buf)), 0x62a8ab43u);
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)i;
    T_EQ_INT(proxy_crc32c(0, buf, sizeof(buf)), 0x46dd794eu);
    for (size_t cut = 0; cut <= sizeof(buf); cut++)
        T_EQ_INT(proxy_crc32c(proxy_crc32c(0, buf, cut), buf + cut, sizeof(buf) - cut),
                 0x46dd794eu);
}

/* --- encoders ---------------------------------------------------------------- */

static struct sockaddr_storage inet(const char *host, unsigned port)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
    } else {
        T_ASSERT(inet_pton(AF_INET6, host, &s6->sin6_addr) == 1);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
    }
    return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

/*
 * Encode with v1 and v2 (the client on port 40000, the address it reached
 * on 443), parse each back: the addresses `want` names, as result_text
 * shows them after its "vN ".
 */
static void round_trip(const char *src, const char *dst, const char *want)
{
    struct sockaddr_storage s = inet(src, 40000), d = inet(dst, 443);
    char v1[PROXY_ENCODE_MAX], text[128];
    unsigned char v2[PROXY_ENCODE_MAX];
    size_t n;
    struct outcome o;

    n = proxy_encode_v1(v1, sizeof(v1), SA(s), SA(d));
    T_ASSERT(n > 0);
    parse(PROXY_V1, (const unsigned char *)v1, n, WHOLE, &o);
    T_EQ_INT(o.state, PROXY_DONE);
    T_EQ_INT(o.used, n);
    T_EQ_STR(result_text(&o.result, text, sizeof(text)) + 3, want);
    n = proxy_encode_v2(v2, sizeof(v2), SA(s), SA(d));
    T_EQ_INT(n, o.result.family == AF_INET ? 28 : 52);
    parse(PROXY_V2, v2, n, WHOLE, &o);
    T_EQ_INT(o.state, PROXY_DONE);
    T_EQ_INT(o.used, n);
    T_EQ_STR(result_text(&o.result, text, sizeof(text)) + 3, want);
}

static void test_encode_round_trips(void)
{
    round_trip("192.0.2.1", "198.51.100.7", "192.0.2.1:40000 > 198.51.100.7:443");
    round_trip("2001:db8::1", "2001:db8::2", "[2001:db8::1]:40000 > [2001:db8::2]:443");
    round_trip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
               "::", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:40000 > [::]:443");
    /* A dual-stack listener's IPv4 client: sent as IPv4. */
    round_trip("::ffff:192.0.2.1", "::ffff:127.0.0.1", "192.0.2.1:40000 > 127.0.0.1:443");
    /* One of each: the IPv4 one mapped. */
    round_trip("192.0.2.1", "2001:db8::2", "[::ffff:192.0.2.1]:40000 > [2001:db8::2]:443");
    round_trip("2001:db8::1", "::ffff:127.0.0.1", "[2001:db8::1]:40000 > [::ffff:127.0.0.1]:443");
}

static void test_encode_v1_text(void)
{
    struct sockaddr_storage s = inet("192.168.0.1", 56324), d = inet("192.168.0.11", 443);
    char buf[PROXY_ENCODE_MAX];
    size_t n = proxy_encode_v1(buf, sizeof(buf), SA(s), SA(d));
    static const char want[] = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";

    T_EQ_INT(n, sizeof(want) - 1);
    T_EQ_MEM(buf, want, n);
    /* Too small a buffer: nothing. */
    T_EQ_INT(proxy_encode_v1(buf, n - 1, SA(s), SA(d)), 0);
    T_EQ_INT(proxy_encode_v1(buf, n, SA(s), SA(d)), n);
}

static void test_encode_without_a_client(void)
{
    /* No inet client (NULL, a Unix peer): v1 UNKNOWN, v2 LOCAL, both parse as local. */
    struct sockaddr_storage d = inet("127.0.0.1", 80);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    char v1[PROXY_ENCODE_MAX];
    unsigned char v2[PROXY_ENCODE_MAX];
    struct outcome o;
    size_t n;

    n = proxy_encode_v1(v1, sizeof(v1), (const struct sockaddr *)&un, SA(d));
    T_EQ_INT(n, 15);
    T_EQ_MEM(v1, "PROXY UNKNOWN\r\n", 15);
    T_EQ_INT(proxy_encode_v1(v1, sizeof(v1), NULL, NULL), 15);
    n = proxy_encode_v2(v2, sizeof(v2), SA(d), NULL);
    T_EQ_INT(n, 16);
    T_EQ_INT(v2[12], 0x20);
    T_EQ_INT(v2[13], 0x00);
    parse(PROXY_V2, v2, n, WHOLE, &o);
    T_EQ_INT(o.state, PROXY_DONE);
    T_RESULT(&o.result, "v2 local");
    T_EQ_INT(proxy_encode_v2(v2, 15, NULL, NULL), 0);
    T_EQ_INT(proxy_encode_v2(v2, 16, NULL, NULL), 16);
}

static const struct t_case tests[] = {
    T_CASE(test_table_whole_bytes_and_pieces),
    T_CASE(test_prefixes_ask_for_more),
    T_CASE(test_errors_at_the_deciding_byte),
    T_CASE(test_v1_results),
    T_CASE(test_v1_unknown_is_local),
    T_CASE(test_v2_addresses),
    T_CASE(test_v2_unix_addresses),
    T_CASE(test_v2_abstract_unix_address),
    T_CASE(test_v2_local_and_unspec),
    T_CASE(test_v2_tlvs),
    T_CASE(test_v2_ssl),
    T_CASE(test_v2_crc),
    T_CASE(test_v2_crc_of_built_header),
    T_CASE(test_tlv_size_limits),
    T_CASE(test_service_bytes_are_kept),
    T_CASE(test_fed_after_the_end),
    T_CASE(test_crc32c_vectors),
    T_CASE(test_encode_round_trips),
    T_CASE(test_encode_v1_text),
    T_CASE(test_encode_without_a_client),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, tests, ARRAY_LEN(tests));
}
