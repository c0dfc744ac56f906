/*
 * metrics_render: the shared counters (metrics.h) as text: the Prometheus
 * text exposition format 0.0.4 for /metrics, with the names and labels of
 * SPEC 15, and the JSON of /status.  Every family has its HELP and TYPE
 * lines, its samples together; label values and JSON strings are escaped
 * whatever they hold.  Only the services in the configuration in force
 * (listed slots) are shown.  Reading the table takes no lock: each
 * counter is read once, so a scrape during traffic shows each counter at
 * some moment of the scrape (a histogram's buckets, sum and count may
 * differ by the connections that ended meanwhile).
 */
#ifndef USHER_METRICS_RENDER_H
#define USHER_METRICS_RENDER_H

#include "metrics.h"
#include "util.h"

#include <stdint.h>

#define METRICS_STATUS_CONNS_MAX 1000 /* connections /status lists at most */

/* Append the exposition of `m` to `b` (b->failed says if it did not fit). */
void metrics_render_text(struct metrics *m, struct strbuf *b);

/* Append the /status JSON of `m`, `now` being CLOCK_MONOTONIC ms. */
void metrics_render_status(struct metrics *m, int64_t now, struct strbuf *b);

/* A Prometheus label value, escaped (backslash, double quote, newline). */
void metrics_label_escape(struct strbuf *b, const char *s);

/* A JSON string, quotes included (RFC 8259; bytes that are not UTF-8 as \u00XX). */
void metrics_json_string(struct strbuf *b, const char *s);

#endif
