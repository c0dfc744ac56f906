/*
 * builtin_metrics: the stream functions of `builtin = metrics` (HTTP/1.1:
 * /metrics and /status), for builtin.c's table.
 */
#ifndef USHER_BUILTIN_METRICS_H
#define USHER_BUILTIN_METRICS_H

#include "builtin.h"

size_t metrics_input(struct builtin_session *s, const char *p, size_t n, struct out *o);
bool metrics_eof(struct builtin_session *s, struct out *o);
void metrics_release(struct builtin_session *s);

#endif
