/*
 * logip: a client's address as the log shows it, as `log_ip` in [global]
 * says (SPEC 15):
 *
 *   full      192.0.2.7:51234, [2001:db8::7]:51234 (as addr_format_peer)
 *   truncate  192.0.2.0/24, 2001:db8:1::/48: the network, not the host
 *   hash      h:0f1e2d3c4b5a6978: SipHash-2-4 of the address bytes under
 *             a key of the daemon run, so one address gives one value
 *             (ports aside) and the value says nothing of the address
 *   none      -
 *
 * Only IPv4 and IPv6 addresses are changed; a Unix peer (credentials, a
 * socket path) is shown as it is in every mode.  The port goes with the
 * host in every mode but full: it would single out a connection of a
 * hidden address.  Pure: the caller keeps the key.
 */
#ifndef USHER_LOGIP_H
#define USHER_LOGIP_H

#include "siphash.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum log_ip {
    LOG_IP_FULL,
    LOG_IP_TRUNCATE,
    LOG_IP_HASH,
    LOG_IP_NONE,
};

#define LOGIP_KEY_LEN SIPHASH_KEY_LEN

/* The mode called `name` ("full", "truncate", "hash", "none"), or -1. */
int logip_parse(const char *name);
/* The name of `mode`. */
const char *logip_name(enum log_ip mode);

/*
 * The address `sa` (`len` bytes) as `mode` shows it, into buf.  For hash,
 * `key` holds LOGIP_KEY_LEN bytes; a NULL key shows "-" (an address is
 * never shown in full for want of a key).  An IPv4-mapped IPv6 address is
 * taken as the IPv4 address it maps.  Returns 0, or -1 if it does not fit
 * or the address is not one (buf then says "?").
 */
int logip_format(enum log_ip mode, const uint8_t *key, const struct sockaddr *sa, socklen_t len,
                 char *buf, size_t size);

#endif
