/*
 * listener: listening sockets (see listener.h).
 */
#include "listener.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int set_int_opt(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof(value));
}

static bool is_abstract(const struct sockaddr_un *sun)
{
    return sun->sun_path[0] == '\0';
}

/*
 * A socket file already at `path`: replace it if nobody answers on it (a
 * stale file from a process that died), refuse if someone does, and never
 * remove anything that is not a socket.
 */
static int clear_stale_socket(const struct addr *addr, const char **reason)
{
    const struct sockaddr_un *sun = (const struct sockaddr_un *)&addr->ss;
    struct stat st;
    int fd, rc;

    if (lstat(sun->sun_path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISSOCK(st.st_mode)) {
        *reason = "the file exists and is not a socket";
        errno = EEXIST;
        return -1;
    }
    fd = socket(AF_UNIX, addr_kind_socktype(addr->kind) | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    do
        rc = connect(fd, (const struct sockaddr *)&addr->ss, addr->len);
    while (rc < 0 && errno == EINTR);
    close(fd);
    if (rc == 0) {
        *reason = "in use by another process";
        errno = EADDRINUSE;
        return -1;
    }
    if (errno != ECONNREFUSED)
        return -1;
    return unlink(sun->sun_path) < 0 && errno != ENOENT ? -1 : 0;
}

static bool unspecified(const struct addr *addr)
{
    if (addr->wildcard)
        return true;
    if (addr->ss.ss_family == AF_INET)
        return ((const struct sockaddr_in *)&addr->ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&addr->ss)->sin6_addr);
}

static int prepare_inet(int fd, const struct addr *addr, int family)
{
    if (addr->kind == ADDR_TCP && set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0)
        return -1;
    if (family == AF_INET6 &&
        set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, addr->wildcard ? 0 : 1) < 0)
        return -1;
    /*
     * The destination of each datagram, to refuse broadcast and multicast
     * and to answer from the address asked.  Only a socket bound to every
     * address needs it: one bound to a unicast address gets nothing else,
     * and its replies leave from that address anyway.
     */
    if (addr->kind != ADDR_UDP || !unspecified(addr))
        return 0;
    if (family == AF_INET6)
        return set_int_opt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
    return set_int_opt(fd, IPPROTO_IP, IP_PKTINFO, 1);
}

/* The socket for `addr`, falling back to IPv4 for "*" on a kernel without IPv6. */
static int open_socket(const struct addr *addr, struct sockaddr_storage *ss, socklen_t *len)
{
    int type = addr_kind_socktype(addr->kind) | SOCK_NONBLOCK | SOCK_CLOEXEC;
    int fd;

    memcpy(ss, &addr->ss, addr->len);
    *len = addr->len;
    fd = socket(ss->ss_family, type, 0);
    if (fd < 0 && addr->wildcard && errno == EAFNOSUPPORT) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        uint16_t port = ((const struct sockaddr_in6 *)&addr->ss)->sin6_port;
        memset(ss, 0, sizeof(*ss));
        sin->sin_family = AF_INET;
        sin->sin_port = port;
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        *len = sizeof(*sin);
        fd = socket(AF_INET, type, 0);
    }
    return fd;
}

/* bind with the socket file's mode applied through the umask: no window
 * in which the file exists with looser permissions. */
static int bind_unix(int fd, const struct sockaddr_storage *ss, socklen_t len,
                     const struct listener_perms *perms)
{
    const struct sockaddr_un *sun = (const struct sockaddr_un *)ss;
    mode_t old = 0;
    int rc;

    if (perms->mode >= 0 && !is_abstract(sun))
        old = umask((mode_t)(~perms->mode & 0777));
    rc = bind(fd, (const struct sockaddr *)ss, len);
    if (perms->mode >= 0 && !is_abstract(sun))
        umask(old);
    return rc;
}

/* Is the file at our socket's name still the one we made? */
static bool path_is_ours(const struct listener *l)
{
    const struct sockaddr_un *sun = (const struct sockaddr_un *)&l->bound;
    struct stat st;

    return l->owns_path && lstat(sun->sun_path, &st) == 0 && st.st_dev == l->path_dev &&
           st.st_ino == l->path_ino;
}

int listener_set_perms(const struct listener *l, const struct listener_perms *perms)
{
    const char *path = ((const struct sockaddr_un *)&l->bound)->sun_path;

    if (!l->owns_path)
        return 0;
    if (!path_is_ours(l)) {
        errno = ESTALE;
        return -1;
    }
    /* AT_SYMLINK_NOFOLLOW: a name swapped for a link since the check changes nothing else. */
    if (perms->mode >= 0 && fchmodat(AT_FDCWD, path, (mode_t)perms->mode, AT_SYMLINK_NOFOLLOW) < 0)
        return -1;
    if ((perms->owner_set || perms->group_set) &&
        fchownat(AT_FDCWD, path, perms->owner_set ? perms->owner : (uid_t)-1,
                 perms->group_set ? perms->group : (gid_t)-1, AT_SYMLINK_NOFOLLOW) < 0)
        return -1;
    return 0;
}

static int fail(struct listener *l, char *err, size_t errlen, const char *what, const char *text,
                const char *reason)
{
    int saved = errno;

    snprintf(err, errlen, "unable to %s %s: %s", what, text, reason ? reason : strerror(saved));
    listener_close(l);
    errno = saved;
    return -1;
}

void listener_set_tls(struct listener *l, bool tls)
{
    /* The socket is TCP's either way; the name says what its connections speak. */
    l->tls = tls;
    if (tls && strncmp(l->name, "tcp://", 6) == 0)
        memcpy(l->name, "tls", 3);
    else if (!tls && strncmp(l->name, "tls://", 6) == 0)
        memcpy(l->name, "tcp", 3);
}

int listener_open(struct listener *l, const struct addr *addr, int backlog,
                  const struct listener_perms *perms, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char text[ADDR_TEXT_MAX];
    bool is_unix = !addr_kind_is_inet(addr->kind);
    const char *reason = NULL;
    struct listener_perms owner_only;
    struct stat st;

    memset(l, 0, sizeof(*l));
    l->fd = -1;
    l->kind = addr->kind;
    if (addr_format(addr->kind, (const struct sockaddr *)&addr->ss, addr->len, text, sizeof(text)) <
        0)
        snprintf(text, sizeof(text), "(address)");
    if (addr->tls && strncmp(text, "tcp://", 6) == 0)
        memcpy(text, "tls", 3); /* the address as the operator wrote it */
    l->fd = open_socket(addr, &ss, &len);
    if (l->fd < 0)
        return fail(l, err, errlen, "create a socket for", text, NULL);
    if (is_unix) {
        const struct sockaddr_un *sun = (const struct sockaddr_un *)&ss;
        if (!is_abstract(sun) && clear_stale_socket(addr, &reason) < 0)
            return fail(l, err, errlen, "bind", text, reason);
        if (bind_unix(l->fd, &ss, len, perms) < 0)
            return fail(l, err, errlen, "bind", text, NULL);
        if (!is_abstract(sun) && lstat(sun->sun_path, &st) == 0) {
            l->owns_path = true;
            l->path_dev = st.st_dev;
            l->path_ino = st.st_ino;
            memcpy(&l->bound, &ss, len); /* listener_set_perms reads the name there */
        }
        /* The mode came with the bind; an owner or group failing removes the file again. */
        owner_only = *perms;
        owner_only.mode = -1;
        if (listener_set_perms(l, &owner_only) < 0)
            return fail(l, err, errlen, "set the owner and group of", text, NULL);
    } else {
        if (prepare_inet(l->fd, addr, ss.ss_family) < 0)
            return fail(l, err, errlen, "set socket options on", text, NULL);
        l->pktinfo = addr->kind == ADDR_UDP && unspecified(addr);
        if (bind(l->fd, (struct sockaddr *)&ss, len) < 0)
            return fail(l, err, errlen, "bind", text, NULL);
    }
    if (addr_kind_socktype(addr->kind) == SOCK_STREAM && listen(l->fd, backlog) < 0)
        return fail(l, err, errlen, "listen on", text, NULL);
    l->bound_len = sizeof(l->bound);
    if (getsockname(l->fd, (struct sockaddr *)&l->bound, &l->bound_len) < 0)
        return fail(l, err, errlen, "read the bound address of", text, NULL);
    if (addr_format(l->kind, (struct sockaddr *)&l->bound, l->bound_len, l->name, sizeof(l->name)) <
        0)
        str_copy(l->name, sizeof(l->name), text);
    if (addr->wildcard && ss.ss_family == AF_INET6) {
        /* Say "*", as the operator wrote: [::] here also takes IPv4. */
        snprintf(l->name, sizeof(l->name), "%s://*:%u", addr_kind_name(l->kind),
                 (unsigned)addr_port((struct sockaddr *)&l->bound));
    }
    listener_set_tls(l, addr->tls);
    return 0;
}

static int kind_of(int domain, int type, enum addr_kind *kind)
{
    bool stream = type == SOCK_STREAM;

    if (domain == AF_INET || domain == AF_INET6)
        *kind = stream ? ADDR_TCP : ADDR_UDP;
    else if (domain == AF_UNIX)
        *kind = stream ? ADDR_UNIX : ADDR_UNIXGRAM;
    else
        return -1;
    return type == SOCK_STREAM || type == SOCK_DGRAM ? 0 : -1;
}

int listener_adopt(struct listener *l, int fd)
{
    int domain, type;
    socklen_t len = sizeof(int);

    memset(l, 0, sizeof(*l));
    l->fd = -1;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return -1;
    if (kind_of(domain, type, &l->kind) < 0) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    l->bound_len = sizeof(l->bound);
    if (getsockname(fd, (struct sockaddr *)&l->bound, &l->bound_len) < 0 ||
        fd_set_nonblock(fd) < 0 || fd_set_cloexec(fd) < 0)
        return -1;
    if (addr_format(l->kind, (struct sockaddr *)&l->bound, l->bound_len, l->name, sizeof(l->name)) <
        0)
        snprintf(l->name, sizeof(l->name), "fd %d", fd);
    l->fd = fd;
    if (l->kind == ADDR_UDP) {
        /* As for our own sockets: destinations only where every address is bound. */
        struct addr a = {.kind = ADDR_UDP, .len = l->bound_len};
        memcpy(&a.ss, &l->bound, l->bound_len);
        if (unspecified(&a) && prepare_inet(fd, &a, l->bound.ss_family) == 0)
            l->pktinfo = true;
    }
    return 0;
}

/* `any_port`: a's port is 0 and any port will do (but 0). */
static bool inet_matches(const struct sockaddr *bound, const struct addr *a, bool any_port)
{
    if (addr_port(bound) == 0)
        return false;
    if (!any_port && addr_port(bound) != addr_port((const struct sockaddr *)&a->ss))
        return false;
    if (a->wildcard) {
        if (bound->sa_family == AF_INET6)
            return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)bound)->sin6_addr);
        return ((const struct sockaddr_in *)bound)->sin_addr.s_addr == htonl(INADDR_ANY);
    }
    if (bound->sa_family != a->ss.ss_family)
        return false;
    if (bound->sa_family == AF_INET)
        return ((const struct sockaddr_in *)bound)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr;
    return IN6_ARE_ADDR_EQUAL(&((const struct sockaddr_in6 *)bound)->sin6_addr,
                              &((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
}

bool listener_matches(const struct listener *l, const struct addr *a)
{
    if (l->kind != a->kind)
        return false;
    if (addr_kind_is_inet(a->kind))
        return inet_matches((const struct sockaddr *)&l->bound, a, false);
    return l->bound_len == a->len && memcmp(&l->bound, &a->ss, a->len) == 0;
}

/* An upgrade's: a port-0 address of `service` is the socket the predecessor's got for it. */
static bool handed_over_matches(const struct inherited *inh, int i, const struct listener *l,
                                const struct addr *a, const char *service)
{
    return inh->spare_ok && inh->names != NULL && inh->names[i] != NULL &&
           strcmp(inh->names[i], service) == 0 && l->kind == a->kind &&
           addr_kind_is_inet(a->kind) && addr_port((const struct sockaddr *)&a->ss) == 0 &&
           inet_matches((const struct sockaddr *)&l->bound, a, true);
}

bool listener_owns_path(const struct listener *l)
{
    return path_is_ours(l);
}

void listener_disown(struct listener *l)
{
    l->owns_path = false;
}

void listener_own_path(struct listener *l)
{
    const struct sockaddr_un *sun = (const struct sockaddr_un *)&l->bound;
    struct stat st;

    if (l->kind != ADDR_UNIX && l->kind != ADDR_UNIXGRAM)
        return;
    if (is_abstract(sun) || lstat(sun->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return;
    l->owns_path = true;
    l->path_dev = st.st_dev;
    l->path_ino = st.st_ino;
}

void listener_close(struct listener *l)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)&l->bound;

    if (path_is_ours(l))
        unlink(sun->sun_path);
    l->owns_path = false;
    close_quietly(l->fd);
    l->fd = -1;
}

const struct sockaddr_storage *listener_local(const struct listener *l)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&l->bound;
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&l->bound;

    if (l->bound.ss_family == AF_INET && sin->sin_addr.s_addr != htonl(INADDR_ANY))
        return &l->bound;
    /* (A v4-mapped one is left to the socket, and to addr_unmap.) */
    if (l->bound.ss_family == AF_INET6 && !IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) &&
        !IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
        return &l->bound;
    return NULL;
}

int listener_accept(struct listener *l, bool blocking, struct sockaddr_storage *peer,
                    socklen_t *peer_len)
{
    int flags = SOCK_CLOEXEC | (blocking ? 0 : SOCK_NONBLOCK);
    int fd;

    *peer_len = sizeof(*peer);
    do
        fd = accept4(l->fd, (struct sockaddr *)peer, peer_len, flags);
    while (fd < 0 && errno == EINTR);
    if (fd >= 0)
        addr_unmap(peer, peer_len);
    return fd;
}

void listener_peer_text(int fd, const struct sockaddr_storage *peer, socklen_t peer_len, char *buf,
                        size_t size)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (peer->ss_family != AF_UNIX) {
        log_peer_text((const struct sockaddr *)peer, peer_len, buf, size); /* as log_ip says */
        return;
    }
    /* Unix peers are rarely bound to a name: who they are is in their credentials. */
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
        snprintf(buf, size, "pid:%ld,uid:%lu", (long)cred.pid, (unsigned long)cred.uid);
    else
        snprintf(buf, size, "unix");
}

void accepted_peer_text(const struct accepted *a, char *buf, size_t size)
{
    size_t n;

    listener_peer_text(a->fd, &a->peer, a->peer_len, buf, size);
    n = strlen(buf);
    if (a->via[0] != '\0' && n < size)
        snprintf(buf + n, size - n, " via=%s", a->via);
}

/*
 * Options every accepted TCP connection should have, set once on the
 * listener: Linux's accepted sockets inherit them, which saves three
 * system calls per connection.  Keepalive, so connections from crashed or
 * rebooted hosts end; no Nagle delay for builtins' replies (a program's
 * socket is left as a program expects it).
 */
void listener_tune(const struct listener *l, const struct svc_conf *sc)
{
    int on = sc->keepalive_ms > 0, idle_s = (int)(sc->keepalive_ms / 1000);
    /* A program's own socket is as inetd gives it; over TLS usherd writes, record by record. */
    int nodelay = sc->exec == NULL || l->tls;

    if (l->kind != ADDR_TCP)
        return;
    if (setsockopt(l->fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) < 0 ||
        (on && setsockopt(l->fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof(idle_s)) < 0) ||
        setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof(nodelay)) < 0)
        log_warn("%s: unable to set keepalive and TCP_NODELAY", l->name);
}

struct listener_perms listener_perms_of(const struct svc_conf *sc)
{
    struct listener_perms perms = {
        .mode = sc->sock_mode,
        .owner_set = sc->sock_owner_set,
        .group_set = sc->sock_group_set,
        .owner = sc->sock_owner,
        .group = sc->sock_group,
    };
    return perms;
}

int listener_adopt_inherited(struct inherited *inh, const struct addr *a, const char *service,
                             struct listener *l)
{
    for (int i = 0; inh != NULL && i < inh->n; i++) {
        struct listener cand;
        if (inh->fds[i] < 0 || listener_adopt(&cand, inh->fds[i]) < 0)
            continue;
        if (!listener_matches(&cand, a) && !handed_over_matches(inh, i, &cand, a, service))
            continue;
        *l = cand;
        listener_set_tls(l, a->tls);
        inh->fds[i] = -1;
        return 1;
    }
    return 0;
}

int listener_unmatched(struct inherited *inh, char *err, size_t errlen)
{
    size_t len = 0;

    err[0] = '\0';
    for (int i = 0; inh != NULL && i < inh->n; i++) {
        struct listener l;
        if (inh->fds[i] < 0)
            continue;
        if (inh->spare_ok) {
            if (listener_adopt(&l, inh->fds[i]) == 0)
                log_info("inherited %s: no listen address asks for it now: closed", l.name);
            close_quietly(inh->fds[i]);
            inh->fds[i] = -1;
            continue;
        }
        if (len == 0)
            len += (size_t)snprintf(err, errlen, "inherited sockets match no listen address:");
        if (len < errlen && listener_adopt(&l, inh->fds[i]) == 0)
            len += (size_t)snprintf(err + len, errlen - len, " fd %d %s%s%s", inh->fds[i], l.name,
                                    inh->names && inh->names[i] ? " name=" : "",
                                    inh->names && inh->names[i] ? inh->names[i] : "");
        else if (len < errlen)
            len += (size_t)snprintf(err + len, errlen - len, " fd %d (not a socket we serve)",
                                    inh->fds[i]);
    }
    return len > 0 ? -1 : 0;
}
