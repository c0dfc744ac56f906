/*
 * spawn_child: making one exec child (see spawn.h for what it gets).
 * Used by spawn.c only.
 */
#ifndef USHER_SPAWN_CHILD_H
#define USHER_SPAWN_CHILD_H

#include "conf.h"

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

struct spawn_req {
    const struct svc_conf *sc;
    int sock;       /* becomes fds 0 and 1 */
    int err_fd;     /* becomes fd 2; -1: the socket */
    int kind;       /* enum addr_kind, for PROTO */
    bool connected; /* a connection (not a listener handed over): peer variables */
    const struct sockaddr_storage *peer;
    socklen_t peer_len;
};

/*
 * Start the child.  Returns its pid; or -1 with errno and a message in err
 * if it could not be started, or if it failed before its exec (then it has
 * exited: the caller still reaps it, *pid_out holds its pid).
 */
pid_t spawn_child(const struct spawn_req *req, pid_t *pid_out, char *err, size_t errlen);

#endif
