/*
 * client_stream: `usher`'s stream copy (TCP, TLS, unix): stdin to the socket
 * and the socket to stdout at the same time, in one poll loop, with a
 * half-close once stdin has ended and all of it is sent.  The copy ends
 * when the server has closed and stdout has everything it sent.
 */
#ifndef USHER_CLIENT_STREAM_H
#define USHER_CLIENT_STREAM_H

#include <stddef.h>
#include <stdint.h>

struct client_conn;

/*
 * Copy over the connection `conn` (plain or TLS, handshake done; not
 * closed here).  At stdin's end it is half-closed: shutdown(SHUT_WR), or
 * TLS close_notify.
 * `name` is the address as the user gave it, for messages; `wait_ms` ends
 * the copy when nothing has moved for that long (-1: never).  Returns 0
 * (the server closed and stdout has it all, or stdout's reader went away),
 * or -1 with a message in err ("NAME: timed out", "stdin: ...").
 */
int client_stream_copy(struct client_conn *conn, const char *name, int64_t wait_ms, char *err,
                       size_t errlen);

#endif
