/*
 * logip: the log's forms of a client address (see logip.h).
 */
#include "logip.h"

#include "addr.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const char *const mode_names[] = {
    [LOG_IP_FULL] = "full",
    [LOG_IP_TRUNCATE] = "truncate",
    [LOG_IP_HASH] = "hash",
    [LOG_IP_NONE] = "none",
};

int logip_parse(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(mode_names); i++)
        if (strcmp(name, mode_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *logip_name(enum log_ip mode)
{
    return (size_t)mode < ARRAY_LEN(mode_names) ? mode_names[mode] : "?";
}

static int fitted(int n, size_t size)
{
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* The network of `bytes` (4 or 16 of them): /24 for IPv4, /48 for IPv6. */
static int format_truncated(int family, const uint8_t *bytes, char *buf, size_t size)
{
    uint8_t net[16] = {0};
    char host[INET6_ADDRSTRLEN];
    size_t keep = family == AF_INET ? 3 : 6;

    memcpy(net, bytes, keep);
    if (inet_ntop(family, net, host, sizeof(host)) == NULL)
        return -1;
    return fitted(snprintf(buf, size, "%s/%d", host, family == AF_INET ? 24 : 48), size);
}

static int format_hashed(const uint8_t *key, const uint8_t *bytes, size_t n, char *buf, size_t size)
{
    if (key == NULL)
        return fitted(snprintf(buf, size, "-"), size);
    return fitted(snprintf(buf, size, "h:%016llx", (unsigned long long)siphash24(key, bytes, n)),
                  size);
}

/* The address bytes of an IPv4 or IPv6 `sa`, unmapped, into `bytes`: their count, or 0. */
static size_t inet_bytes(const struct sockaddr *sa, socklen_t len, int *family, uint8_t bytes[16])
{
    struct sockaddr_storage ss;
    socklen_t need =
        sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);

    if (len < need)
        return 0;
    memcpy(&ss, sa, need);
    addr_unmap(&ss, &need);
    *family = ss.ss_family;
    if (ss.ss_family == AF_INET) {
        memcpy(bytes, &((const struct sockaddr_in *)&ss)->sin_addr, 4);
        return 4;
    }
    memcpy(bytes, &((const struct sockaddr_in6 *)&ss)->sin6_addr, 16);
    return 16;
}

int logip_format(enum log_ip mode, const uint8_t *key, const struct sockaddr *sa, socklen_t len,
                 char *buf, size_t size)
{
    uint8_t bytes[16];
    int family = AF_UNSPEC, rc = -1;
    size_t n;

    if (size == 0)
        return -1;
    if (mode == LOG_IP_FULL || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
        rc = addr_format_peer(sa, len, buf, size);
    else if ((n = inet_bytes(sa, len, &family, bytes)) == 0)
        rc = -1;
    else if (mode == LOG_IP_TRUNCATE)
        rc = format_truncated(family, bytes, buf, size);
    else if (mode == LOG_IP_HASH)
        rc = format_hashed(key, bytes, n, buf, size);
    else
        rc = fitted(snprintf(buf, size, "-"), size);
    if (rc < 0)
        snprintf(buf, size, "?");
    return rc;
}
