/*
 * dgram: built-in services over datagram sockets (see dgram.h).
 *
 * The request buffers double as reply buffers: each builtin answers in
 * place (echo leaves the bytes where they are), and the replies of a batch
 * go out in one sendmmsg.
 */
#include "dgram.h"

#include "builtin.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define DGRAM_BATCH 64
#define DGRAM_MAX   65536

union pktinfo_ctl {
    char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo))];
    struct cmsghdr align;
};

static char bufs[DGRAM_BATCH][DGRAM_MAX];
static struct sockaddr_storage names[DGRAM_BATCH];
static union pktinfo_ctl ctl_in[DGRAM_BATCH], ctl_out[DGRAM_BATCH];
static struct iovec iov_in[DGRAM_BATCH], iov_out[DGRAM_BATCH];
static struct mmsghdr msgs_in[DGRAM_BATCH], msgs_out[DGRAM_BATCH];

int dgram_guard_reset_ports(struct dgram_guard *g, size_t n)
{
    uint16_t *ports = realloc(g->ports, (n + 1) * sizeof(*ports));

    if (ports == NULL)
        return -1;
    g->ports = ports;
    g->cap = n;
    g->nports = 0;
    return 0;
}

void dgram_guard_add_port(struct dgram_guard *g, uint16_t port)
{
    if (!dgram_guard_has_port(g, port) && g->nports < g->cap)
        g->ports[g->nports++] = port;
}

bool dgram_guard_has_port(const struct dgram_guard *g, uint16_t port)
{
    for (size_t i = 0; i < g->nports; i++)
        if (g->ports[i] == port)
            return true;
    return false;
}

static void forget_broadcasts(struct dgram_guard *g)
{
    free(g->broadcasts);
    g->broadcasts = NULL;
    g->nbroadcasts = 0;
}

void dgram_guard_learn(struct dgram_guard *g)
{
    struct ifaddrs *ifs, *ifa;

    forget_broadcasts(g);
    if (getifaddrs(&ifs) < 0) {
        log_warn("unable to list network interfaces; only 255.255.255.255 counts as broadcast");
        return;
    }
    for (ifa = ifs; ifa != NULL; ifa = ifa->ifa_next) {
        struct in_addr *grown;
        if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_INET ||
            !(ifa->ifa_flags & IFF_BROADCAST) || ifa->ifa_broadaddr == NULL)
            continue;
        grown = realloc(g->broadcasts, (g->nbroadcasts + 1) * sizeof(*grown));
        if (grown == NULL)
            break;
        g->broadcasts = grown;
        g->broadcasts[g->nbroadcasts++] = ((struct sockaddr_in *)ifa->ifa_broadaddr)->sin_addr;
    }
    freeifaddrs(ifs);
}

void dgram_guard_free(struct dgram_guard *g)
{
    forget_broadcasts(g);
    free(g->ports);
    g->ports = NULL;
    g->nports = g->cap = 0;
}

static bool bad_ipv4(const struct dgram_guard *g, struct in_addr a)
{
    uint32_t h = ntohl(a.s_addr);

    if (h == INADDR_ANY || h == INADDR_BROADCAST || IN_MULTICAST(h))
        return true;
    for (size_t i = 0; i < g->nbroadcasts; i++)
        if (g->broadcasts[i].s_addr == a.s_addr)
            return true;
    return false;
}

/* Unspecified, multicast or broadcast: never an answer to or from those. */
static bool bad_address(const struct dgram_guard *g, const struct sockaddr *sa)
{
    const struct in6_addr *a6;

    if (sa->sa_family == AF_INET)
        return bad_ipv4(g, ((const struct sockaddr_in *)sa)->sin_addr);
    if (sa->sa_family != AF_INET6)
        return false;
    a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    return IN6_IS_ADDR_UNSPECIFIED(a6) || IN6_IS_ADDR_MULTICAST(a6);
}

bool dgram_may_answer(const struct dgram_guard *g, const struct sockaddr *src,
                      const struct sockaddr *dst)
{
    uint16_t port;

    if (src->sa_family == AF_UNIX)
        return true;
    port = addr_port(src);
    if (port < 1024 || dgram_guard_has_port(g, port))
        return false;
    if (bad_address(g, src))
        return false;
    return dst == NULL || !bad_address(g, dst);
}

/*
 * Read the request's destination from its control data and prepare the
 * reply's, so the reply leaves from the address the request came to.
 * Returns the reply's control length (0 if none).
 */
static size_t reply_control(struct msghdr *in, union pktinfo_ctl *out, struct sockaddr_storage *dst,
                            bool *have_dst)
{
    struct msghdr tmp = {.msg_control = out->buf, .msg_controllen = sizeof(out->buf)};
    struct cmsghdr *cm, *reply = CMSG_FIRSTHDR(&tmp);

    *have_dst = false;
    if (in->msg_controllen == 0)
        return 0;
    memset(out, 0, sizeof(*out));
    for (cm = CMSG_FIRSTHDR(in); cm != NULL; cm = CMSG_NXTHDR(in, cm)) {
        if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi, ro = {0};
            struct sockaddr_in *d = (struct sockaddr_in *)dst;
            memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
            memset(d, 0, sizeof(*d));
            d->sin_family = AF_INET;
            d->sin_addr = pi.ipi_addr;
            *have_dst = true;
            ro.ipi_spec_dst = pi.ipi_addr;
            reply->cmsg_level = IPPROTO_IP;
            reply->cmsg_type = IP_PKTINFO;
            reply->cmsg_len = CMSG_LEN(sizeof(ro));
            memcpy(CMSG_DATA(reply), &ro, sizeof(ro));
            return CMSG_SPACE(sizeof(ro));
        }
        if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            struct sockaddr_in6 *d = (struct sockaddr_in6 *)dst;
            memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
            memset(d, 0, sizeof(*d));
            d->sin6_family = AF_INET6;
            d->sin6_addr = pi.ipi6_addr;
            *have_dst = true;
            reply->cmsg_level = IPPROTO_IPV6;
            reply->cmsg_type = IPV6_PKTINFO;
            reply->cmsg_len = CMSG_LEN(sizeof(pi));
            memcpy(CMSG_DATA(reply), &pi, sizeof(pi));
            return CMSG_SPACE(sizeof(pi));
        }
    }
    return 0;
}

/* The listener being served, as this file's functions pass it. */
struct port {
    const struct listener *l;
    struct svc *svc;
    const struct dgram_guard *g;
};

/* A request's source, as every rule and the log see it. */
struct source {
    struct sockaddr_storage ss; /* IPv4-mapped IPv6 made IPv4 */
    socklen_t len;
};

/* As the log shows it (log_ip); the rules see src itself. */
static void peer_text(const struct source *src, char *buf, size_t size)
{
    log_peer_text((const struct sockaddr *)&src->ss, src->len, buf, size);
}

static void log_request(const struct port *b, const struct source *src, size_t in, ssize_t out)
{
    char peer[ADDR_TEXT_MAX];

    if (!log_enabled(LOG_LVL_DEBUG) || b->svc->conf->log_conns != LOG_CONNS_ALL)
        return;
    peer_text(src, peer, sizeof(peer));
    log_debug("service=%s proto=%s peer=%s in=%zu out=%zd", b->svc->conf->name,
              addr_kind_name(b->l->kind), peer, in, out < 0 ? 0 : out);
}

/* The service's access rules and rates, per request. */
static bool admitted(const struct port *b, const struct source *src)
{
    struct svc *svc = b->svc;
    struct limit_key key;
    enum refusal r;
    char peer[ADDR_TEXT_MAX] = "";

    r = svc_admit(svc, (const struct sockaddr *)&src->ss, false, METRICS_PROTO_COUNT, &key);
    if (r == ADMITTED)
        return true;
    if (log_enabled(LOG_LVL_INFO))
        peer_text(src, peer, sizeof(peer));
    svc_refused(svc, b->l->kind, peer, r);
    return false;
}

/* Answer request i into the next reply slot; returns true if there is a reply. */
static bool answer(const struct port *b, int i, struct mmsghdr *reply)
{
    struct svc *svc = b->svc;
    struct msghdr *in = &msgs_in[i].msg_hdr;
    size_t len = msgs_in[i].msg_len;
    struct sockaddr_storage dst;
    socklen_t dst_len = sizeof(dst);
    struct source src = {.len = in->msg_namelen};
    bool have_dst;
    size_t ctl_len;
    ssize_t n;

    svc_count_dgram_in(svc, len);
    ctl_len = reply_control(in, &ctl_out[i], &dst, &have_dst);
    /*
     * On a dual-stack socket an IPv4 peer arrives as ::ffff:a.b.c.d: made
     * IPv4 here, once, for the loop rule, access rules, rates and the log.
     * The reply still goes to names[i], the form the socket understands.
     */
    memcpy(&src.ss, &names[i], sizeof(src.ss));
    addr_unmap(&src.ss, &src.len);
    if (have_dst)
        addr_unmap(&dst, &dst_len);
    if ((in->msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
        in->msg_namelen <= offsetof(struct sockaddr_un, sun_path)) {
        svc_count_dgram_dropped(svc, -1, 1);
        return false;
    }
    if (!dgram_may_answer(b->g, (struct sockaddr *)&src.ss,
                          have_dst ? (struct sockaddr *)&dst : NULL)) {
        svc_count_dgram_dropped(svc, METRICS_DROP_LOOP, 1);
        return false;
    }
    if (!admitted(b, &src))
        return false;
    n = builtin_get(svc->conf->builtin)->datagram(&svc->st->chargen_line, bufs[i], len, DGRAM_MAX);
    log_request(b, &src, len, n);
    if (n < 0)
        return false;
    iov_out[i].iov_base = bufs[i];
    iov_out[i].iov_len = (size_t)n;
    memset(reply, 0, sizeof(*reply));
    reply->msg_hdr.msg_name = &names[i];
    reply->msg_hdr.msg_namelen = in->msg_namelen;
    reply->msg_hdr.msg_iov = &iov_out[i];
    reply->msg_hdr.msg_iovlen = 1;
    reply->msg_hdr.msg_control = ctl_len ? ctl_out[i].buf : NULL;
    reply->msg_hdr.msg_controllen = ctl_len;
    return true;
}

static void send_replies(const struct port *b, int count)
{
    int off = 0;

    while (off < count) {
        int n = sendmmsg(b->l->fd, msgs_out + off, (unsigned)(count - off), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                /* The socket buffer is full: UDP may drop, and so do we. */
                svc_count_dgram_dropped(b->svc, -1, (uint64_t)(count - off));
                return;
            }
            /* This one reply failed (e.g. no route): skip it, send the rest. */
            svc_count_dgram_dropped(b->svc, -1, 1);
            off++;
            continue;
        }
        for (int i = off; i < off + n; i++)
            svc_count_dgram_out(b->svc, msgs_out[i].msg_len);
        off += n;
    }
}

/* `control`: room for the destination of each datagram (see listener.h: pktinfo). */
static void prepare_batch(bool control)
{
    for (int i = 0; i < DGRAM_BATCH; i++) {
        struct msghdr *h = &msgs_in[i].msg_hdr;
        iov_in[i].iov_base = bufs[i];
        iov_in[i].iov_len = DGRAM_MAX;
        h->msg_name = &names[i];
        h->msg_namelen = sizeof(names[i]);
        h->msg_iov = &iov_in[i];
        h->msg_iovlen = 1;
        h->msg_control = control ? ctl_in[i].buf : NULL;
        h->msg_controllen = control ? sizeof(ctl_in[i].buf) : 0;
        h->msg_flags = 0;
    }
}

void dgram_serve(const struct listener *l, struct svc *svc, const struct dgram_guard *g)
{
    const struct port port = {.l = l, .svc = svc, .g = g}, *b = &port;
    int n, replies = 0;

    prepare_batch(b->l->pktinfo);
    do
        n = recvmmsg(l->fd, msgs_in, DGRAM_BATCH, MSG_DONTWAIT, NULL);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno != EAGAIN)
            svc_warnx(b->svc, SVC_WARN_RECV, "service=%s: unable to receive on %s: %s",
                      b->svc->conf->name, b->l->name, strerror(errno));
        return;
    }
    for (int i = 0; i < n; i++)
        if (answer(b, i, &msgs_out[replies]))
            replies++;
    send_replies(b, replies);
}
