/*
 * sd: systemd's notify protocol and socket activation, without the
 * library (see sd.h).
 */
#include "sd.h"

#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The notify socket, read from the environment once (and removed from it). */
static struct {
    bool initialised;
    char text[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* as NOTIFY_SOCKET said it */
    struct sockaddr_un sun;
    socklen_t len;
    int fd;
} notify = {.fd = -1};

static void notify_init(void)
{
    const char *path = getenv("NOTIFY_SOCKET");

    notify.initialised = true;
    if (path == NULL || (path[0] != '/' && path[0] != '@') ||
        strlen(path) >= sizeof(notify.sun.sun_path))
        return;
    str_copy(notify.text, sizeof(notify.text), path);
    notify.sun.sun_family = AF_UNIX;
    memcpy(notify.sun.sun_path, path, strlen(path));
    if (path[0] == '@')
        notify.sun.sun_path[0] = '\0';
    notify.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
    /* Our children are not systemd's business. */
    unsetenv("NOTIFY_SOCKET");
    notify.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

void sd_notify_state(const char *state)
{
    if (!notify.initialised)
        notify_init();
    if (notify.fd < 0)
        return;
    if (sendto(notify.fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&notify.sun,
               notify.len) < 0) {
        /* systemd is not listening; there is no one else to tell. */
    }
}

const char *sd_notify_socket(void)
{
    if (!notify.initialised)
        notify_init();
    return notify.text[0] != '\0' ? notify.text : NULL;
}

static void unset_listen_env(void)
{
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
}

static char **split_names(const char *text, int n)
{
    char **names = calloc((size_t)n + 1, sizeof(*names));
    const char *p = text;

    if (names == NULL)
        return NULL;
    for (int i = 0; i < n && p != NULL; i++) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        names[i] = strndup(p, len);
        p = colon ? colon + 1 : NULL;
    }
    return names;
}

int sd_listen_fds_take(char ***names)
{
    const char *pid_text = getenv("LISTEN_PID"), *fds_text = getenv("LISTEN_FDS");
    const char *names_text = getenv("LISTEN_FDNAMES");
    int64_t pid, n;

    *names = NULL;
    if (pid_text == NULL || fds_text == NULL)
        return 0;
    if (parse_i64(pid_text, 1, INT32_MAX, &pid) < 0 ||
        parse_i64(fds_text, 0, SD_LISTEN_FDS_MAX, &n) < 0) {
        unset_listen_env();
        errno = EINVAL;
        return -1;
    }
    unset_listen_env();
    if (pid != getpid())
        return 0; /* meant for another process */
    for (int fd = 3; fd < 3 + n; fd++)
        if (fd_set_cloexec(fd) < 0)
            return -1;
    *names = split_names(names_text ? names_text : "", (int)n);
    return (int)n;
}
