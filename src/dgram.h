/*
 * dgram: the built-in services over UDP and Unix datagram sockets.
 *
 * Datagrams are taken in batches (recvmmsg) and answered in batches
 * (sendmmsg), each reply leaving from the address its request came to.
 * No reply goes to a privileged source port (below 1024), to the port of
 * any UDP builtin we serve, or to or from a broadcast, multicast or
 * unspecified address: no loops between servers and no reflection.  Such
 * requests are counted, not logged.
 */
#ifndef USHER_DGRAM_H
#define USHER_DGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct ev_loop;
struct server;

/* Learn the host's broadcast addresses.  Returns 0 or -1 with err. */
int dgram_init(struct server *srv, char *err, size_t errlen);
void dgram_free(struct server *srv);

/* Loop callback for a datagram listener (arg: struct bound *). */
void dgram_on_readable(struct ev_loop *loop, int fd, unsigned events, void *arg);

/*
 * May a request from `src` to `dst` (NULL if unknown) be answered?  Both
 * already unmapped (IPv4-mapped IPv6 as IPv4).  (Exposed for the unit tests.)
 */
bool dgram_may_answer(const struct server *srv, const struct sockaddr *src,
                      const struct sockaddr *dst);

#endif
