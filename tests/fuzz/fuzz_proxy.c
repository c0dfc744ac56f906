/*
 * fuzz_proxy: the PROXY protocol header parser (proxy.c), fed as a
 * connection's reads would feed it, and its encoders read back.
 *
 * Input: byte 0 picks the mode (bits 0-1: 1 v1, 2 v2, 0 and 3 any) and
 * where the rest is cut in two (bits 2-7: that many 63rds of it); the rest
 * is what the balancer sends.
 *
 * Properties: whole, cut in two, and byte by byte, the parse ends the same
 * (state, bytes taken, detail, result); no feed takes more than it is
 * given; MORE has taken everything and less than a header's limit; ERROR
 * names its reason and detail.  DONE has taken a whole header and no byte
 * more: a v1 line ("PROXY ", CRLF last, at most 107 bytes) or a v2 header
 * (the signature, 16 + its length field, at most 4096 bytes); its texts
 * are printable ASCII, NUL-terminated, at most 255 bytes; its addresses
 * have the family and length of a socket address of their family, and an
 * inet pair encoded again with proxy_encode_v1 and proxy_encode_v2 parses
 * back to the same addresses (IPv4-mapped ones compared as IPv4).
 */
#include "addr.h"
#include "fuzz.h"
#include "proxy.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#define CUT_STEPS 63

struct outcome {
    enum proxy_state state;
    size_t used;
    const char *detail;
    struct proxy_result result;
};

static struct proxy_parser parser;

static void parse(enum proxy_mode mode, const uint8_t *p, size_t n, size_t piece, struct outcome *o)
{
    size_t off = 0;

    proxy_parser_init(&parser, mode);
    o->used = 0;
    while (off < n && parser.state == PROXY_MORE) {
        size_t len = piece < n - off ? piece : n - off;
        size_t took = proxy_feed(&parser, p + off, len);
        fuzz_check(took <= len);
        fuzz_check(parser.state != PROXY_MORE || took == len);
        o->used += took;
        off += len;
    }
    if (off < n)
        fuzz_check(proxy_feed(&parser, p + off, n - off) == 0);
    o->state = parser.state;
    o->detail = parser.detail;
    o->result = parser.result;
    fuzz_check((parser.state == PROXY_ERROR) == (parser.reason != NULL));
    fuzz_check((parser.state == PROXY_ERROR) == (parser.detail != NULL));
}

/* Cut at `cut`: two feeds, the second with what the first left. */
static void parse_cut(enum proxy_mode mode, const uint8_t *p, size_t n, size_t cut,
                      struct outcome *o)
{
    size_t took;

    proxy_parser_init(&parser, mode);
    took = proxy_feed(&parser, p, cut);
    fuzz_check(took <= cut);
    o->used = took;
    if (parser.state == PROXY_MORE) {
        fuzz_check(took == cut);
        took = proxy_feed(&parser, p + cut, n - cut);
        fuzz_check(took <= n - cut);
        o->used += took;
    } else {
        fuzz_check(proxy_feed(&parser, p + took, n - took) == 0);
    }
    o->state = parser.state;
    o->detail = parser.detail;
    o->result = parser.result;
}

static bool same_text(const struct proxy_text *a, const struct proxy_text *b)
{
    return a->present == b->present && strcmp(a->text, b->text) == 0;
}

static bool same_outcome(const struct outcome *a, const struct outcome *b)
{
    const struct proxy_result *x = &a->result, *y = &b->result;

    return a->state == b->state && a->used == b->used && a->detail == b->detail &&
           x->version == y->version && x->local == y->local && x->family == y->family &&
           x->src_len == y->src_len && x->dst_len == y->dst_len &&
           memcmp(&x->src, &y->src, sizeof(x->src)) == 0 &&
           memcmp(&x->dst, &y->dst, sizeof(x->dst)) == 0 && x->crc_checked == y->crc_checked &&
           same_text(&x->alpn, &y->alpn) && same_text(&x->authority, &y->authority) &&
           same_text(&x->unique_id, &y->unique_id) && x->ssl == y->ssl &&
           x->ssl_client == y->ssl_client && x->ssl_verify == y->ssl_verify &&
           same_text(&x->ssl_version, &y->ssl_version) && same_text(&x->ssl_cn, &y->ssl_cn);
}

static void check_text(const struct proxy_text *t)
{
    size_t len = strnlen(t->text, sizeof(t->text));

    fuzz_check(len < sizeof(t->text));
    fuzz_check(t->present || len == 0);
    for (size_t i = 0; i < len; i++)
        fuzz_check(t->text[i] >= 0x20 && t->text[i] <= 0x7e);
}

static void check_address(int family, const struct sockaddr_storage *ss, socklen_t len)
{
    fuzz_check(ss->ss_family == family);
    if (family == AF_INET)
        fuzz_check(len == sizeof(struct sockaddr_in));
    else if (family == AF_INET6)
        fuzz_check(len == sizeof(struct sockaddr_in6));
    else
        fuzz_check(len >= offsetof(struct sockaddr_un, sun_path) &&
                   len <= sizeof(struct sockaddr_un));
}

static void check_header(const uint8_t *p, const struct outcome *o)
{
    const struct proxy_result *r = &o->result;

    if (r->version == 1) {
        fuzz_check(o->used >= 15 && o->used <= PROXY_V1_MAX);
        fuzz_check(memcmp(p, "PROXY ", 6) == 0);
        fuzz_check(p[o->used - 2] == '\r' && p[o->used - 1] == '\n');
        fuzz_check(memchr(p, '\n', o->used - 1) == NULL);
        fuzz_check(!r->crc_checked && !r->ssl && !r->alpn.present && r->family != AF_UNIX);
    } else {
        fuzz_check(r->version == 2);
        fuzz_check(o->used >= PROXY_V2_FIXED && o->used <= PROXY_V2_MAX);
        fuzz_check(memcmp(p, "\r\n\r\n\0\r\nQUIT\n", 12) == 0);
        fuzz_check(o->used == PROXY_V2_FIXED + ((size_t)p[14] << 8 | p[15]));
    }
}

static void check_done(const uint8_t *p, const struct outcome *o)
{
    const struct proxy_result *r = &o->result;

    check_header(p, o);
    if (r->local) {
        fuzz_check(r->family == AF_UNSPEC && r->src_len == 0 && r->dst_len == 0);
    } else {
        fuzz_check(r->family == AF_INET || r->family == AF_INET6 || r->family == AF_UNIX);
        check_address(r->family, &r->src, r->src_len);
        check_address(r->family, &r->dst, r->dst_len);
    }
    check_text(&r->alpn);
    check_text(&r->authority);
    check_text(&r->unique_id);
    check_text(&r->ssl_version);
    check_text(&r->ssl_cn);
}

/* The same address and port, an IPv4-mapped one taken as IPv4. */
static bool same_inet(const struct sockaddr_storage *a, socklen_t alen,
                      const struct sockaddr_storage *b, socklen_t blen)
{
    struct sockaddr_storage x = *a, y = *b;

    addr_unmap(&x, &alen);
    addr_unmap(&y, &blen);
    return alen == blen && memcmp(&x, &y, alen) == 0;
}

static void check_encoded(enum proxy_mode mode, const uint8_t *p, size_t n,
                          const struct proxy_result *want)
{
    struct outcome o;

    fuzz_check(n > 0);
    parse(mode, p, n, n, &o);
    fuzz_check(o.state == PROXY_DONE && o.used == n && !o.result.local);
    fuzz_check(same_inet(&o.result.src, o.result.src_len, &want->src, want->src_len));
    fuzz_check(same_inet(&o.result.dst, o.result.dst_len, &want->dst, want->dst_len));
}

static void check_round_trip(const struct proxy_result *r)
{
    char v1[PROXY_ENCODE_MAX];
    unsigned char v2[PROXY_ENCODE_MAX];
    const struct sockaddr *src = (const struct sockaddr *)&r->src;
    const struct sockaddr *dst = (const struct sockaddr *)&r->dst;

    if (r->local || r->family == AF_UNIX)
        return;
    check_encoded(PROXY_V1, (const uint8_t *)v1, proxy_encode_v1(v1, sizeof(v1), src, dst), r);
    check_encoded(PROXY_V2, v2, proxy_encode_v2(v2, sizeof(v2), src, dst), r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum proxy_mode modes[4] = {PROXY_ANY, PROXY_V1, PROXY_V2, PROXY_ANY};
    enum proxy_mode mode;
    struct outcome whole, cut, bytes;
    const uint8_t *p;
    size_t n;

    if (size < 1)
        return 0;
    mode = modes[data[0] & 3];
    p = data + 1;
    n = size - 1;
    parse(mode, p, n, n, &whole);
    parse_cut(mode, p, n, (size_t)(data[0] >> 2) * n / CUT_STEPS, &cut);
    parse(mode, p, n, 1, &bytes);
    fuzz_check(same_outcome(&cut, &whole));
    fuzz_check(same_outcome(&bytes, &whole));
    fuzz_check(whole.used <= n);
    if (whole.state == PROXY_MORE)
        fuzz_check(whole.used == n && n < PROXY_V2_MAX);
    if (whole.state == PROXY_DONE) {
        check_done(p, &whole);
        check_round_trip(&whole.result);
    }
    return 0;
}
