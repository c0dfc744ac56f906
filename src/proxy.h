/*
 * proxy: the PROXY protocol header (HAProxy's proxy-protocol.txt, versions
 * 1 and 2) that a load balancer puts before a connection's bytes to name
 * the real client, as a pure module: a parser fed whatever the reads give,
 * and the encoders of the forwarding side (and of `usher bench --proxy`,
 * which is why it is a leaf module, shared with the client).  No I/O, no
 * allocation, no logging, no global state (the CRC32c table is a constant).
 *
 * Invariants of the parser:
 *   - Fixed-size state (struct proxy_parser), whatever the input.  No input
 *     makes it read or write outside its buffer or the caller's.
 *   - The outcome (state, result, error detail, bytes used) depends only on
 *     the bytes, never on how they were split between calls.
 *   - It never takes a byte past the header: what follows is the service's.
 *   - It decides as soon as the bytes allow: a byte that no valid header
 *     can have there is an error at once, without waiting for more.  In
 *     PROXY_ANY the first byte tells the versions apart ('P' or CR).
 *   - A parser is about 5.6 KiB (the v2 buffer), needed only while a
 *     header is read: a connection can hold it for that time and keep
 *     just the result (about 1.6 KiB, plain data, copyable) afterwards.
 *
 * Choices where proxy-protocol.txt leaves room (each refused case is
 * PROXY_ERROR, reason "bad_header"):
 *   v1  "PROXY TCP4 SRC DST SPORT DPORT\r\n", TCP6 likewise, or "PROXY
 *       UNKNOWN" followed by CRLF or by a space and anything up to CRLF.
 *       At most PROXY_V1_MAX (107) bytes, CRLF included.  Exactly one space
 *       between fields; a CR not followed by LF, or an LF not after a CR, is
 *       an error at that byte.  Addresses as inet_pton reads them for the
 *       named family (IPv6 with an embedded dotted quad is accepted, scopes
 *       are not), IPv4 parts without leading zeros; ports decimal 0-65535,
 *       digits only, no leading zero ("0" itself is fine), as the text says
 *       ("heading zeroes are not permitted", against octal confusion).
 *   v2  the 12-byte signature; version 2; command LOCAL or PROXY; the
 *       family and transport byte one of the seven the text lists (0x00,
 *       0x11, 0x12, 0x21, 0x22, 0x31, 0x32), any other refused.  The whole
 *       header, 16 + its length field, is at most PROXY_V2_MAX (4096) bytes:
 *       a longer one is refused as soon as the length is read (HAProxy too
 *       bounds what it takes by its buffer; real headers are a few hundred
 *       bytes).  With PROXY the length must cover the family's addresses
 *       (12, 36 or 216 bytes); what follows them is TLVs, each wholly
 *       inside the header.  LOCAL must be accepted with its family ignored
 *       (though it must still be one of the seven): a body too short for
 *       that family's addresses is taken as neither addresses nor TLVs.
 *       LOCAL, the UNSPEC family, and PROXY with a DGRAM transport (a
 *       datagram header on a stream: "fall back to UNSPEC", as the text
 *       asks of what a receiver does not implement) are `local`: served
 *       with the balancer as the peer, addresses ignored.
 *   TLVs  CRC32C (exactly 4 bytes, big-endian) is verified over the whole
 *       header with its value zeroed; ALPN, AUTHORITY (at most 255 bytes, as
 *       HAProxy), UNIQUE_ID (at most 128, as the text says), and in SSL
 *       (at least its 5-byte client/verify head) the sub-TLVs VERSION and
 *       CN, each wholly inside the SSL TLV, are kept as text escaped as
 *       str_escape (util.h) does, cut to 255 bytes ("..." last if cut).  A
 *       second TLV of a type kept (or a second CRC32C) is an error: which
 *       one would count is not for the sender to leave open.  NOOP and
 *       unknown types are skipped.
 */
#ifndef USHER_PROXY_H
#define USHER_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_V1_MAX        107  /* a v1 line, CRLF included */
#define PROXY_V2_FIXED      16   /* signature, version/command, family, length */
#define PROXY_V2_MAX        4096 /* a whole v2 header, fixed part included */
#define PROXY_TEXT_SIZE     256  /* a TLV as text: 255 bytes and the NUL */
#define PROXY_AUTHORITY_MAX 255  /* raw bytes of an AUTHORITY TLV */
#define PROXY_UNIQUE_ID_MAX 128  /* raw bytes of a UNIQUE_ID TLV */
#define PROXY_ENCODE_MAX    108  /* room for what either encoder writes */

/* The error reason, for the connection line's end=proxy:REASON. */
#define PROXY_REASON_BAD_HEADER "bad_header"

enum proxy_mode {
    PROXY_V1 = 1,
    PROXY_V2 = 2,
    PROXY_ANY = 3, /* v1 or v2, told apart by the first byte */
};

enum proxy_state {
    PROXY_MORE,  /* a valid header so far: feed more */
    PROXY_DONE,  /* a whole, valid header: see result */
    PROXY_ERROR, /* not a valid header: see reason and detail */
};

/* A TLV's value as text: escaped, NUL-terminated, at most 255 bytes. */
struct proxy_text {
    bool present;
    char text[PROXY_TEXT_SIZE];
};

struct proxy_result {
    int version; /* 1 or 2 */
    /*
     * Serve with the balancer as the peer: v1 UNKNOWN, v2 LOCAL, or v2
     * PROXY with the UNSPEC family or a DGRAM transport.  Then family is
     * AF_UNSPEC and src, dst are unset (zero).
     */
    bool local;
    int family;                       /* AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC when local */
    struct sockaddr_storage src, dst; /* the client, and the address it reached */
    socklen_t src_len, dst_len;
    bool crc_checked; /* a CRC32C TLV was there, and matched */
    struct proxy_text alpn, authority, unique_id;
    bool ssl;                      /* an SSL TLV was there: */
    uint8_t ssl_client;            /*   its client bits (1 SSL, 2 cert on conn, 4 on session) */
    uint32_t ssl_verify;           /*   0: a client certificate was verified */
    struct proxy_text ssl_version; /*   its VERSION and CN sub-TLVs */
    struct proxy_text ssl_cn;
};

/*
 * A parser: fields are for reading (state, result when DONE, reason and
 * detail when ERROR); only proxy_parser_init and proxy_feed change them.
 */
struct proxy_parser {
    enum proxy_mode mode;
    enum proxy_state state;
    int version;        /* 0 until the first byte, then 1 or 2 */
    size_t have;        /* bytes of the header in buf */
    size_t need;        /* v2, once its length is read: the whole header's size */
    const char *reason; /* ERROR: PROXY_REASON_BAD_HEADER; NULL otherwise */
    const char *detail; /* ERROR: what was wrong, for a debug line (a constant) */
    struct proxy_result result;
    unsigned char buf[PROXY_V2_MAX];
};

/* Start a parser for a connection, accepting the versions `mode` names. */
void proxy_parser_init(struct proxy_parser *p, enum proxy_mode mode);

/*
 * Feed `len` bytes that the connection brought (after those fed before).
 * Returns how many of them were taken: all of them while the state stays
 * PROXY_MORE; on PROXY_DONE those up to the header's last byte exactly, so
 * that `data + returned` is the first byte of the service's; on
 * PROXY_ERROR those up to the byte that decided.  Once DONE or ERROR,
 * feeding takes nothing and changes nothing.
 */
size_t proxy_feed(struct proxy_parser *p, const void *data, size_t len);

/*
 * CRC32c (Castagnoli, as in RFC 4960 appendix B): the CRC of `len` bytes
 * continued from `crc`, the CRC of what came before them (0 to start), so
 * that proxy_crc32c(proxy_crc32c(0, a), b) is the CRC of a then b.
 */
uint32_t proxy_crc32c(uint32_t crc, const void *data, size_t len);

/*
 * The header naming `src` (the client) and `dst` (the address it reached)
 * for a backend, in `buf` of `size` bytes (PROXY_ENCODE_MAX is enough for
 * either).  Each address is a whole sockaddr_in or sockaddr_in6 as its
 * family says, or NULL.  IPv4-mapped IPv6 addresses are sent as IPv4; an
 * IPv4 address beside an IPv6 one is sent mapped, as TCP6.  Anything else
 * (NULL, AF_UNIX) cannot name a client: v1 sends "PROXY UNKNOWN\r\n", v2 a
 * LOCAL header, which every receiver must accept (HAProxy does the same).
 * v1 writes no NUL; v2 writes the PROXY command, STREAM, no TLVs.
 * Return the header's length, or 0 if it does not fit in `size`.
 */
size_t proxy_encode_v1(char *buf, size_t size, const struct sockaddr *src,
                       const struct sockaddr *dst);
size_t proxy_encode_v2(unsigned char *buf, size_t size, const struct sockaddr *src,
                       const struct sockaddr *dst);

#endif
