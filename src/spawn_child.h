/*
 * spawn_child: making one exec child (see spawn.h for what it gets).
 * Used by spawn.c only.
 */
#ifndef USHER_SPAWN_CHILD_H
#define USHER_SPAWN_CHILD_H

#include "conf.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

struct spawn_req {
    const struct svc_conf *sc;
    int sock;      /* becomes fds 0 and 1 */
    int addr_sock; /* the connection whose ends the environment names (TLS: not sock); -1: sock */
    char *const *extra_env; /* "NAME=VALUE" added after the connection's (TLS), or NULL */
    const struct sockaddr_storage *local; /* our end as a PROXY header named it; NULL: asked */
    int err_fd;                           /* becomes fd 2; -1: the socket */
    bool err_nonblock; /* err_fd is a pipe's end made non-blocking: the child's must block */
    int kind;          /* enum addr_kind, for PROTO */
    bool connected;    /* a connection (not a listener handed over): peer variables */
    const struct sockaddr_storage *peer;
    socklen_t peer_len;
};

/* What a child's environment is made of: all given, so making it asks the kernel nothing. */
struct spawn_env {
    const struct svc_conf *sc;
    int kind;                             /* enum addr_kind */
    bool connected;                       /* a connection (not a listener handed over) */
    const struct sockaddr_storage *peer;  /* connected TCP: the peer, unmapped */
    const struct sockaddr_storage *local; /* connected TCP: our end, unmapped; NULL: unknown */
    const struct ucred *cred;             /* connected Unix: the peer's; NULL: unknown */
    char *const *extra;                   /* NULL-ended "NAME=VALUE" of the transport, or NULL */
};

/*
 * The environment of a child: PATH, PROTO, for a TCP connection the
 * UCSPI TCP* (and TCP6*) variables and REMOTE_ADDR/REMOTE_PORT, for a
 * Unix one IPCREMOTEEUID/EGID/PID, the transport's (TLS: SSL_*),
 * USHER_SERVICE, then the service's env
 * (a later setting of a name wins).  A pure function of `e`; the vector
 * lives in a buffer that the next call reuses.  NULL with errno (ENOMEM).
 */
char **spawn_child_env(const struct spawn_env *e);

/*
 * Start the child.  Returns its pid; or -1 with errno and a message in err
 * if it could not be started, or if it failed before its exec (then it has
 * exited: the caller still reaps it, *pid_out holds its pid).  A child that
 * runs on while we do (see spawn_child.c) may fail before its exec after
 * this has returned its pid: spawn_child_failure says so when it is reaped.
 */
pid_t spawn_child(const struct spawn_req *req, pid_t *pid_out, char *err, size_t errlen);

/*
 * For every reaped child of spawn_child: true, and why in err, if it
 * failed before its exec and spawn_child has not said so already.
 */
bool spawn_child_failure(pid_t pid, char *err, size_t errlen);

/* In a new process (fork): the children of spawn_child are its parent's. */
void spawn_child_forget(void);

#endif
