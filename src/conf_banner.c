/*
 * conf_banner: the banner keys of a service, as xinetd has them.
 *
 *   banner         = /etc/banners/all     sent to every client on accept
 *   banner_success = /etc/banners/welcome then to an admitted one, before the service
 *   banner_fail    = /etc/banners/denied  or to a refused one, before it is closed
 *
 * Each value is a file, read whole when the configuration is loaded (so a
 * reload reads it again), any bytes, at most CONF_BANNER_MAX of them: the
 * server sends a banner in one non-blocking write to a connection just
 * accepted, whose send buffer holds that much, and never waits on a client
 * for it.  Banners go to stream clients (tcp://, unix:) only: a datagram
 * has no connection to greet, a TLS client speaks first, and a wait = yes
 * program accepts its connections itself.
 */
#include "conf_parse.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const banner_keys[BANNER_COUNT] = {
    [BANNER_FIRST] = "banner", [BANNER_SUCCESS] = "banner_success", [BANNER_FAIL] = "banner_fail"};

/* Read the regular file `path` (at most CONF_BANNER_MAX bytes) into `b`; -1 with the error noted.
 */
static int read_banner(struct parser *p, const char *key, const char *path, struct conf_banner *b)
{
    /* O_NONBLOCK: a FIFO named here must not stop a reload waiting for a writer. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    char *text = NULL;
    ssize_t n = -1;

    if (fd < 0) {
        CONF_ERR(p, "%s: unable to open %s: %s", key, path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0)
        CONF_ERR(p, "%s: unable to stat %s: %s", key, path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        CONF_ERR(p, "%s: %s is not a regular file", key, path);
    else if (st.st_size > CONF_BANNER_MAX)
        CONF_ERR(p, "%s: %s has %lld bytes; a banner has at most %d", key, path,
                 (long long)st.st_size, CONF_BANNER_MAX);
    else if ((text = malloc((size_t)st.st_size + 1)) == NULL)
        CONF_ERR(p, "out of memory");
    else if ((n = read_full(fd, text, (size_t)st.st_size)) < 0)
        CONF_ERR(p, "%s: unable to read %s: %s", key, path, strerror(errno));
    close(fd);
    if (n < 0) {
        free(text);
        return -1;
    }
    free(b->text);
    b->text = text;
    b->len = (size_t)n;
    return 0;
}

static void set_banner(struct parser *p, enum conf_banner_kind kind, const char *value)
{
    if (value[0] != '/') {
        CONF_ERR(p, "%s: '%s' must be an absolute path", banner_keys[kind], value);
        return;
    }
    read_banner(p, banner_keys[kind], value, &p->svc->banner[kind]);
}

void conf_key_banner(struct parser *p, char *value)
{
    set_banner(p, BANNER_FIRST, value);
}

void conf_key_banner_success(struct parser *p, char *value)
{
    set_banner(p, BANNER_SUCCESS, value);
}

void conf_key_banner_fail(struct parser *p, char *value)
{
    set_banner(p, BANNER_FAIL, value);
}

/* Where the banners of `svc` could not be sent, or NULL: they can. */
static const char *why_no_banners(const struct svc_conf *svc)
{
    bool stream = false;

    if (svc->exec != NULL && svc->exec->wait)
        return "a wait = yes program accepts its connections itself";
    for (size_t i = 0; i < svc->nlistens; i++) {
        if (svc->listens[i].addr.tls)
            return "a TLS client speaks first (banners go to tcp:// and unix: clients)";
        if (addr_kind_socktype(svc->listens[i].addr.kind) == SOCK_STREAM)
            stream = true;
    }
    return stream ? NULL : "banners go to stream clients, and this service has no stream listener";
}

void conf_finish_banners(struct parser *p, struct svc_conf *svc)
{
    const char *why = NULL;

    for (int i = 0; i < BANNER_COUNT; i++) {
        int line = conf_seen_line(p, banner_keys[i]);
        if (line == 0)
            continue;
        if (why == NULL && (why = why_no_banners(svc)) == NULL)
            return;
        conf_error(p, line, "%s: %s", banner_keys[i], why);
    }
}
