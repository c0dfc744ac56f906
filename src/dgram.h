/*
 * dgram: the built-in services over UDP and Unix datagram sockets.
 *
 * Datagrams are taken in batches (recvmmsg) and answered in batches
 * (sendmmsg), each reply leaving from the address its request came to.
 * No reply goes to a privileged source port (below 1024), to the port of
 * any UDP builtin we serve, or to or from a broadcast, multicast or
 * unspecified address: no loops between servers and no reflection.  Such
 * requests are counted, not logged.
 *
 * An engine on svc: it knows the listener it is given and the service it
 * serves, never the server.  The loop rule's tables (the UDP builtins'
 * ports, the host's broadcast addresses) are a struct dgram_guard that the
 * server fills and passes; the rule itself, dgram_may_answer, is pure.
 */
#ifndef USHER_DGRAM_H
#define USHER_DGRAM_H

#include "listener.h"
#include "svc.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* What is never answered: to these ports, to or from these addresses. */
struct dgram_guard {
    uint16_t *ports; /* of the UDP services we serve (loops between servers) */
    size_t nports, cap;
    struct in_addr *broadcasts; /* the host's IPv4 broadcast addresses */
    size_t nbroadcasts;
};

/*
 * Make room for `n` ports, dropping the ones known.  Returns 0, or -1
 * (ENOMEM: the ports known stay).
 */
int dgram_guard_reset_ports(struct dgram_guard *g, size_t n);

/* Add `port` (once; within the room made by dgram_guard_reset_ports). */
void dgram_guard_add_port(struct dgram_guard *g, uint16_t port);

/* Is `port` one of the guarded ports? */
bool dgram_guard_has_port(const struct dgram_guard *g, uint16_t port);

/* Learn the host's broadcast addresses again (a failure is logged: 255.255.255.255 only). */
void dgram_guard_learn(struct dgram_guard *g);

void dgram_guard_free(struct dgram_guard *g);

/* The datagram listener `l` of `svc` is readable: take a batch and answer it. */
void dgram_serve(const struct listener *l, struct svc *svc, const struct dgram_guard *g);

/*
 * May a request from `src` to `dst` (NULL if unknown) be answered?  Both
 * already unmapped (IPv4-mapped IPv6 as IPv4).  Unix peers always may.
 */
bool dgram_may_answer(const struct dgram_guard *g, const struct sockaddr *src,
                      const struct sockaddr *dst);

#endif
