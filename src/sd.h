/*
 * sd: talking to systemd without libsystemd: the notify protocol and
 * socket activation.  The names keep clear of libsystemd's own (sd_notify,
 * sd_listen_fds), so the two can never be confused at link time.
 */
#ifndef USHER_SD_H
#define USHER_SD_H

/*
 * systemd's notify protocol (sd_notify without the library): the first
 * call reads NOTIFY_SOCKET and removes it from the environment; no-op when
 * it is unset.  `state` is e.g. "READY=1\nSTATUS=serving".
 */
void sd_notify_state(const char *state);

/*
 * The NOTIFY_SOCKET this process was given (read as sd_notify_state reads
 * it), or NULL: what a successor that takes over from us must be told.
 */
const char *sd_notify_socket(void);

/*
 * Socket activation: when LISTEN_PID is our pid, the number of descriptors
 * passed from 3 on (LISTEN_FDS), with their names (LISTEN_FDNAMES) in
 * *names (malloc'd, NULL entries where unnamed).  Removes the variables
 * from the environment.  Returns the count, 0 if none; -1 with errno
 * EINVAL when a variable is not a number in range (LISTEN_FDS 0 to
 * SD_LISTEN_FDS_MAX), or EBADF when a descriptor it counts is not open.
 */
#define SD_LISTEN_FDS_MAX 4096
int sd_listen_fds_take(char ***names);

#endif
