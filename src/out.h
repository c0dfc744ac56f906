/*
 * out: the reply a builtin builds in one round of a stream connection, an
 * iovec list over staged copies (in its own stage buffer) and over data
 * the builtin references (echo sends its input itself back).  The engine
 * that owns the connection flushes it with one writev; the builtins only
 * fill it, so they can be driven without any socket.
 *
 * Invariants: bytes is the sum of the iov lengths; staged <= OUT_STAGE;
 * niov <= OUT_IOV.  Callers check the room before adding.
 */
#ifndef USHER_OUT_H
#define USHER_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#define OUT_IOV   32          /* references and copies per flush */
#define OUT_STAGE (16 * 1024) /* copied reply bytes per flush */

struct out {
    struct iovec iov[OUT_IOV];
    int niov;
    size_t bytes;
    size_t staged;
    char stage[OUT_STAGE];
};

/* Empty `o` for a new round. */
void out_reset(struct out *o);

/* Is there room to copy `n` more bytes / add one more reference? */
bool out_room_copy(const struct out *o, size_t n);
bool out_room_ref(const struct out *o);

/* Add bytes (check the room first).  out_ref's data must stay valid until the flush. */
void out_copy(struct out *o, const void *p, size_t n);
void out_ref(struct out *o, const void *p, size_t n);

#endif
