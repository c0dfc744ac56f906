/*
 * listener: listening sockets.  socket/bind/listen with every descriptor
 * non-blocking and close-on-exec, Unix socket files (stale ones replaced,
 * permissions set at bind time, removed on close), and accept4; an
 * accepted connection as the engines take it (struct accepted).
 */
#ifndef USHER_LISTENER_H
#define USHER_LISTENER_H

#include "addr.h"
#include "conf.h"
#include "limit.h"

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

struct listener {
    int fd;
    enum addr_kind kind;
    struct sockaddr_storage bound; /* after bind: port 0 resolved */
    socklen_t bound_len;
    char name[ADDR_TEXT_MAX]; /* the bound address, e.g. "tcp://127.0.0.1:43567" */
    bool pktinfo;             /* UDP bound to every address: datagrams carry their destination */
    bool tls;                 /* tls://: its connections speak TLS (name starts "tls://") */
    /* A Unix socket file we created, removed on close if still ours. */
    bool owns_path;
    dev_t path_dev;
    ino_t path_ino;
};

/* Unix socket file permissions; -1 / unset leave the defaults. */
struct listener_perms {
    int mode;
    bool owner_set, group_set;
    uid_t owner;
    gid_t group;
};

/*
 * Open, bind and (for streams) listen on `addr`.  A "*" address binds [::]
 * for IPv4 and IPv6 together, or 0.0.0.0 where the kernel has no IPv6.
 * Returns 0, or -1 with errno and a message naming the address in err.
 */
int listener_open(struct listener *l, const struct addr *addr, int backlog,
                  const struct listener_perms *perms, char *err, size_t errlen);

/*
 * Take over an inherited listening socket (socket activation): made
 * non-blocking and close-on-exec, its kind read from the socket itself.
 * Its file, if any, belongs to whoever made it.  Returns 0, or -1 with
 * errno (ENOTSOCK, EAFNOSUPPORT for a family we do not serve).
 */
int listener_adopt(struct listener *l, int fd);

/* Is `l` bound to what the configured address `a` asks for? */
bool listener_matches(const struct listener *l, const struct addr *a);

/*
 * Give the socket file we made (if any) `perms`' mode, owner and group,
 * never following a symbolic link and only while the file at the name is
 * still ours.  Returns 0, or -1 with errno (ESTALE: the name now holds
 * another file).
 */
int listener_set_perms(const struct listener *l, const struct listener_perms *perms);

/* Make `l` a tls:// listener or a tcp:// one (its name follows). */
void listener_set_tls(struct listener *l, bool tls);

/* Is the Unix socket file at l's name the one we made (and so ours to remove)? */
bool listener_owns_path(const struct listener *l);

/* An upgrade handed the socket to a successor: its file is never removed by us. */
void listener_disown(struct listener *l);

/*
 * In an upgrade's successor: the file at an inherited Unix listener's name,
 * made by the predecessor, is ours now (removed when we close it).
 */
void listener_own_path(struct listener *l);

/* Close, and remove the socket file if it is still the one we made. */
void listener_close(struct listener *l);

/*
 * The near end of every connection `l` accepts when the listener is bound
 * to one IP address (not a wildcard, not v4-mapped), or NULL: then each
 * connection's must be asked of its socket.  Valid while `l` is open.
 */
const struct sockaddr_storage *listener_local(const struct listener *l);

/*
 * accept4 a connection, close-on-exec, non-blocking unless `blocking` (a
 * socket handed to a program is what inetd would give it: blocking), with
 * the peer address unmapped (IPv4-mapped IPv6 as IPv4).  Returns the
 * descriptor, or -1 with errno (EAGAIN when there is none).
 */
int listener_accept(struct listener *l, bool blocking, struct sockaddr_storage *peer,
                    socklen_t *peer_len);

/* A Unix socket file's permissions as a service asks for them. */
struct listener_perms listener_perms_of(const struct svc_conf *sc);

/*
 * Options every accepted TCP connection of `sc` should have, set once on
 * the listener `l` (accepted sockets inherit them): keepalive, and no Nagle
 * delay for builtins and TLS.  A failure is logged.
 */
void listener_tune(const struct listener *l, const struct svc_conf *sc);

/* Sockets handed over at start (systemd socket activation). */
struct inherited {
    int *fds; /* -1 once adopted */
    char **names;
    int n;
    bool spare_ok; /* an upgrade's (see listener_adopt_inherited, listener_unmatched) */
};

/*
 * Adopt into `l` the inherited socket bound as `a` (a listen address of
 * `service`) asks (made -1 in inh).  From an upgrade (spare_ok), a port-0
 * address also takes the socket of the same address named `service`:
 * the port its predecessor got.  Returns 1 if there was one, 0 if not
 * (inh may be NULL).
 */
int listener_adopt_inherited(struct inherited *inh, const struct addr *a, const char *service,
                             struct listener *l);

/*
 * Every inherited socket must have been adopted: returns 0, or -1 with
 * the ones left over named in err.  With spare_ok, the ones left over are
 * closed (and logged): the configuration of an upgrade's successor may
 * have dropped an address.
 */
int listener_unmatched(struct inherited *inh, char *err, size_t errlen);

struct ssl_st;
struct tls_ctx;
struct proxy_info;

/* A connection just accepted, as the engines take it. */
struct accepted {
    int fd;
    int kind; /* enum addr_kind */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    struct limit_key key;     /* its admission: given back with svc_release at the end */
    bool opened;              /* already opened in its svc as SVC_USE_CONN: the engine takes that */
    char via[64];             /* behind a balancer (PROXY header): the balancer, for the line */
    struct tls_ctx *tls;      /* a tls:// listener's: the handshake to do first (else NULL) */
    struct ssl_st *ssl;       /* after the handshake: the engine takes it (else NULL) */
    struct proxy_info *proxy; /* PROXY header's extras (malloc'd, the engine frees it), or NULL */
    /* Our end as the listener knows it (listener_local), for a connection served as it is
     * accepted, or NULL: ask the socket.  (Fields in this order: the struct has no hole.) */
    const struct sockaddr_storage *local;
};

/* The peer as the connection line shows it: "REAL:PORT", with " via=BALANCER:PORT" behind one. */
void accepted_peer_text(const struct accepted *a, char *buf, size_t size);

/*
 * A peer for the log: "127.0.0.1:5432", "[::1]:5432" (or as log_ip shows
 * it: log_peer_text), or for Unix peers (asked of the socket `fd`)
 * "pid:N,uid:N".
 */
void listener_peer_text(int fd, const struct sockaddr_storage *peer, socklen_t peer_len, char *buf,
                        size_t size);

#endif
