/*
 * out: a round's reply as an iovec list (see out.h).  Consecutive copies
 * share one iovec, so a builtin answering line by line costs one entry.
 */
#include "out.h"

#include <string.h>

void out_reset(struct out *o)
{
    o->niov = 0;
    o->bytes = 0;
    o->staged = 0;
}

bool out_room_copy(const struct out *o, size_t n)
{
    return o->staged + n <= OUT_STAGE && o->niov < OUT_IOV;
}

bool out_room_ref(const struct out *o)
{
    return o->niov < OUT_IOV;
}

void out_copy(struct out *o, const void *p, size_t n)
{
    char *dst = o->stage + o->staged;
    struct iovec *last = o->niov > 0 ? &o->iov[o->niov - 1] : NULL;

    memcpy(dst, p, n);
    o->staged += n;
    o->bytes += n;
    if (last != NULL && (char *)last->iov_base + last->iov_len == dst) {
        last->iov_len += n;
        return;
    }
    o->iov[o->niov].iov_base = dst;
    o->iov[o->niov++].iov_len = n;
}

void out_ref(struct out *o, const void *p, size_t n)
{
    o->iov[o->niov].iov_base = (void *)p;
    o->iov[o->niov++].iov_len = n;
    o->bytes += n;
}
