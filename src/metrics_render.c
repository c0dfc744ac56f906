/*
 * metrics_render: /metrics and /status from the shared counters (see metrics_render.h).
 */
#include "metrics_render.h"

#include "limit.h"
#include "svc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef USHER_VERSION
#define USHER_VERSION "0"
#endif

static const char *const proto_names[METRICS_PROTO_COUNT] = {"tcp", "tls", "unix"};
static const char *const reason_names[METRICS_REASON_COUNT] = {
    "max_conns", "max_per_ip", "rate", "rate_per_ip", "denied", "proxy", "tls", "resources"};
static const char *const drop_names[METRICS_DROP_COUNT] = {"loop", "denied", "rate"};
static const char *const exit_names[METRICS_EXIT_COUNT] = {"exit_zero", "exit_nonzero", "signal"};
static const char *const role_names[METRICS_ROLE_COUNT] = {"master", "worker", "prefork",
                                                           "connection"};

/* A listed service, its text copied out. */
struct shown {
    struct metrics_svc *s;
    char name[64], model[24], listen[METRICS_LISTEN_TEXT];
    uint32_t kinds;
};

/* The listed slots, at most METRICS_SVCS_MAX; returns how many. */
static size_t listed(struct metrics *m, struct shown *out)
{
    size_t n = 0;

    for (size_t i = 0; i < METRICS_SVCS_MAX; i++) {
        struct metrics_svc *s = &m->svcs[i];
        if (!__atomic_load_n(&s->used, __ATOMIC_ACQUIRE) ||
            !__atomic_load_n(&s->listed, __ATOMIC_ACQUIRE))
            continue;
        out[n].s = s;
        metrics_slot_text(s, out[n].name, out[n].model, out[n].listen, &out[n].kinds);
        n++;
    }
    return n;
}

void metrics_label_escape(struct strbuf *b, const char *s)
{
    while (*s != '\0') {
        size_t plain = strcspn(s, "\\\"\n");
        strbuf_add(b, s, plain);
        s += plain;
        if (*s == '\0')
            break;
        strbuf_add(b, *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : "\\n", 2);
        s++;
    }
}

/* The length of a valid UTF-8 sequence at s (RFC 3629), or 0. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1fu;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0fu;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07u;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void metrics_json_string(struct strbuf *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;

    strbuf_add(b, "\"", 1);
    while (*s != '\0') {
        size_t n = utf8_len(s);
        if (*s == '"' || *s == '\\') {
            strbuf_add(b, "\\", 1);
            strbuf_add(b, s, 1);
            n = 1;
        } else if (n == 0 || *s < 0x20 || *s == 0x7f) {
            strbuf_printf(b, "\\u%04x", *s); /* a control byte, or one that is not UTF-8 */
            n = 1;
        } else {
            strbuf_add(b, s, n);
        }
        s += n;
    }
    strbuf_add(b, "\"", 1);
}

static void family(struct strbuf *b, const char *name, const char *type, const char *help)
{
    strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* `name{service="S"` (the caller closes the braces, maybe after more labels). */
static void sample_start(struct strbuf *b, const char *name, const char *service)
{
    strbuf_add(b, name, strlen(name));
    strbuf_add(b, "{service=\"", 10);
    metrics_label_escape(b, service);
    strbuf_add(b, "\"", 1);
}

static void per_service(struct strbuf *b, const struct shown *sv, size_t n, const char *name,
                        const char *type, const char *help, size_t field, uint32_t need)
{
    family(b, name, type, help);
    for (size_t i = 0; i < n; i++) {
        const char *base = (const char *)sv[i].s;
        if (need != 0 && (sv[i].kinds & need) == 0)
            continue;
        sample_start(b, name, sv[i].name);
        if (strcmp(type, "gauge") == 0)
            strbuf_printf(b, "} %lld\n", (long long)metrics_gauge((const int64_t *)(base + field)));
        else
            strbuf_printf(b, "} %llu\n",
                          (unsigned long long)metrics_read((const uint64_t *)(base + field)));
    }
}

/* A family with a second label over an array of counters. */
static void per_label(struct strbuf *b, const struct shown *sv, size_t n, const char *name,
                      const char *help, const char *label, const char *const *values,
                      size_t nvalues, size_t field, uint32_t need)
{
    family(b, name, "counter", help);
    for (size_t i = 0; i < n; i++) {
        const uint64_t *c = (const uint64_t *)((const char *)sv[i].s + field);
        if (need != 0 && (sv[i].kinds & need) == 0)
            continue;
        for (size_t v = 0; v < nvalues; v++) {
            sample_start(b, name, sv[i].name);
            strbuf_printf(b, ",%s=\"%s\"} %llu\n", label, values[v],
                          (unsigned long long)metrics_read(&c[v]));
        }
    }
}

static void connections_total(struct strbuf *b, const struct shown *sv, size_t n)
{
    const char *name = "usherd_connections_total";

    family(b, name, "counter", "Connections admitted, by how they came.");
    for (size_t i = 0; i < n; i++)
        for (size_t p = 0; p < METRICS_PROTO_COUNT; p++) {
            uint64_t v = metrics_read(&sv[i].s->conns[p]);
            if (v == 0 && (sv[i].kinds & (1u << p)) == 0)
                continue; /* a listener kind the service does not have */
            sample_start(b, name, sv[i].name);
            strbuf_printf(b, ",proto=\"%s\"} %llu\n", proto_names[p], (unsigned long long)v);
        }
}

/* metrics_bucket_bounds as the le label writes them (formatted once, not per scrape). */
static const char *const bucket_text[METRICS_BUCKETS + 1] = {
    "0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "10", "60", "300", "+Inf"};

static void durations(struct strbuf *b, const struct shown *sv, size_t n)
{
    const char *name = "usherd_connection_duration_seconds";

    family(b, name, "histogram", "How long connections lasted.");
    for (size_t i = 0; i < n; i++) {
        uint64_t cum = 0;
        for (size_t k = 0; k <= METRICS_BUCKETS; k++) {
            cum += metrics_read(&sv[i].s->duration[k]);
            strbuf_add(b, "usherd_connection_duration_seconds_bucket{service=\"", 51);
            metrics_label_escape(b, sv[i].name);
            strbuf_printf(b, "\",le=\"%s\"} %llu\n", bucket_text[k], (unsigned long long)cum);
        }
        sample_start(b, "usherd_connection_duration_seconds_sum", sv[i].name);
        strbuf_printf(b, "} %.6f\n", (double)metrics_read(&sv[i].s->duration_us) / 1e6);
        sample_start(b, "usherd_connection_duration_seconds_count", sv[i].name);
        strbuf_printf(b, "} %llu\n", (unsigned long long)cum);
    }
}

static void tls_handshakes(struct strbuf *b, const struct shown *sv, size_t n)
{
    const char *name = "usherd_tls_handshakes_total";

    family(b, name, "counter", "TLS handshakes, by how they ended.");
    for (size_t i = 0; i < n; i++) {
        if ((sv[i].kinds & METRICS_HAS_TLS) == 0)
            continue;
        for (int r = 0; r < SVC_TLS_RESULT_COUNT; r++) {
            sample_start(b, name, sv[i].name);
            strbuf_printf(b, ",result=\"%s\"} %llu\n", svc_tls_result_name((enum svc_tls_result)r),
                          (unsigned long long)metrics_read(&sv[i].s->tls[r]));
        }
    }
}

static void daemon_families(struct metrics *m, struct strbuf *b)
{
    family(b, "usherd_build_info", "gauge", "The version of usherd.");
    strbuf_printf(b, "usherd_build_info{version=\"");
    metrics_label_escape(b, USHER_VERSION);
    strbuf_printf(b, "\"} 1\n");
    family(b, "usherd_start_time_seconds", "gauge", "When usherd started, in Unix time.");
    strbuf_printf(b, "usherd_start_time_seconds %lld\n", (long long)m->start_time);
    family(b, "usherd_config_reloads_total", "counter", "Configuration reloads, by result.");
    strbuf_printf(b, "usherd_config_reloads_total{result=\"ok\"} %llu\n",
                  (unsigned long long)metrics_read(&m->reloads_ok));
    strbuf_printf(b, "usherd_config_reloads_total{result=\"error\"} %llu\n",
                  (unsigned long long)metrics_read(&m->reloads_error));
    family(b, "usherd_config_last_reload_successful", "gauge",
           "Whether the last reload was put in force (1) or refused (0).");
    strbuf_printf(b, "usherd_config_last_reload_successful %u\n",
                  __atomic_load_n(&m->last_reload_ok, __ATOMIC_RELAXED));
}

static void process_families(struct metrics *m, struct strbuf *b)
{
    struct metrics_procs_sample ps;

    metrics_procs_sample(m, &ps);
    family(b, "usherd_processes", "gauge", "usherd's own processes, by role.");
    for (int r = 0; r < METRICS_ROLE_COUNT; r++)
        strbuf_printf(b, "usherd_processes{role=\"%s\"} %u\n", role_names[r], ps.by_role[r]);
    family(b, "process_open_fds", "gauge", "Open descriptors of usherd's processes together.");
    strbuf_printf(b, "process_open_fds %llu\n", (unsigned long long)ps.open_fds);
    family(b, "process_max_fds", "gauge", "The descriptor limit of each usherd process.");
    strbuf_printf(b, "process_max_fds %llu\n", (unsigned long long)ps.max_fds);
    family(b, "process_resident_memory_bytes", "gauge",
           "Resident memory of usherd's processes together.");
    strbuf_printf(b, "process_resident_memory_bytes %llu\n", (unsigned long long)ps.rss_bytes);
    family(b, "process_cpu_seconds_total", "counter",
           "CPU time of usherd's processes together, user and system.");
    strbuf_printf(b, "process_cpu_seconds_total %.2f\n", ps.cpu_seconds);
    family(b, "usherd_log_lines_dropped_total", "counter",
           "Log lines lost because the log could not take them.");
    strbuf_printf(b, "usherd_log_lines_dropped_total %llu\n",
                  (unsigned long long)metrics_read(&m->log_lines_dropped));
}

#define FIELD(f) offsetof(struct metrics_svc, f)

void metrics_render_text(struct metrics *m, struct strbuf *b)
{
    static struct shown sv[METRICS_SVCS_MAX];
    size_t n = listed(m, sv);

    daemon_families(m, b);
    connections_total(b, sv, n);
    per_service(b, sv, n, "usherd_connections_active", "gauge", "Connections open now.",
                FIELD(active), 0);
    per_label(b, sv, n, "usherd_connections_refused_total", "Connections refused, by reason.",
              "reason", reason_names, METRICS_REASON_COUNT, FIELD(refused), 0);
    durations(b, sv, n);
    per_service(b, sv, n, "usherd_received_bytes_total", "counter", "Bytes received from clients.",
                FIELD(bytes_in), 0);
    per_service(b, sv, n, "usherd_sent_bytes_total", "counter", "Bytes sent to clients.",
                FIELD(bytes_out), 0);
    per_service(b, sv, n, "usherd_udp_requests_total", "counter", "Datagrams received and served.",
                FIELD(udp_requests), METRICS_HAS_DGRAM);
    per_label(b, sv, n, "usherd_udp_dropped_total", "Datagrams dropped, by reason.", "reason",
              drop_names, METRICS_DROP_COUNT, FIELD(udp_dropped), METRICS_HAS_DGRAM);
    per_service(b, sv, n, "usherd_children_active", "gauge", "Exec children running now.",
                FIELD(children), METRICS_HAS_EXEC);
    per_label(b, sv, n, "usherd_child_exits_total", "Exec children ended, by how.", "how",
              exit_names, METRICS_EXIT_COUNT, FIELD(exits), METRICS_HAS_EXEC);
    per_service(b, sv, n, "usherd_spawn_failures_total", "counter",
                "Exec children that could not be started.", FIELD(spawn_failures),
                METRICS_HAS_EXEC);
    tls_handshakes(b, sv, n);
    process_families(m, b);
}

/* /status */

static void peer_text(const struct metrics_conn *c, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN];

    if (c->family == AF_INET && inet_ntop(AF_INET, c->addr, ip, sizeof(ip)) != NULL)
        snprintf(buf, size, "%s:%u", ip, c->port);
    else if (c->family == AF_INET6 && inet_ntop(AF_INET6, c->addr, ip, sizeof(ip)) != NULL)
        snprintf(buf, size, "[%s]:%u", ip, c->port);
    else
        snprintf(buf, size, "unix");
}

static void status_listen(struct strbuf *b, const char *listen)
{
    char copy[METRICS_LISTEN_TEXT], *save = NULL;
    bool first = true;

    str_copy(copy, sizeof(copy), listen);
    strbuf_add(b, "[", 1);
    for (char *a = strtok_r(copy, "\n", &save); a != NULL; a = strtok_r(NULL, "\n", &save)) {
        if (!first)
            strbuf_add(b, ",", 1);
        metrics_json_string(b, a);
        first = false;
    }
    strbuf_add(b, "]", 1);
}

static void status_service(struct strbuf *b, const struct shown *v)
{
    const struct metrics_svc *s = v->s;
    uint64_t total = 0;

    for (size_t p = 0; p < METRICS_PROTO_COUNT; p++)
        total += metrics_read(&s->conns[p]);
    strbuf_add(b, "{\"name\":", 8);
    metrics_json_string(b, v->name);
    strbuf_add(b, ",\"listen\":", 10);
    status_listen(b, v->listen);
    strbuf_add(b, ",\"model\":", 9);
    metrics_json_string(b, v->model);
    strbuf_printf(b, ",\"active\":%lld,\"total\":%llu,\"refused\":{",
                  (long long)metrics_gauge(&s->active), (unsigned long long)total);
    for (size_t r = 0; r < METRICS_REASON_COUNT; r++)
        strbuf_printf(b, "%s\"%s\":%llu", r ? "," : "", reason_names[r],
                      (unsigned long long)metrics_read(&s->refused[r]));
    strbuf_printf(b, "},\"received_bytes\":%llu,\"sent_bytes\":%llu,\"children\":%lld}",
                  (unsigned long long)metrics_read(&s->bytes_in),
                  (unsigned long long)metrics_read(&s->bytes_out),
                  (long long)metrics_gauge(&s->children));
}

static void status_connections(struct metrics *m, const struct shown *sv, size_t n, int64_t now,
                               struct strbuf *b)
{
    size_t shown = 0;

    strbuf_add(b, "[", 1);
    for (size_t i = 0; i < METRICS_CONNS_MAX && shown < METRICS_STATUS_CONNS_MAX; i++) {
        const struct metrics_conn *c = &m->conns[i];
        uint32_t slot = __atomic_load_n(&c->slot, __ATOMIC_ACQUIRE);
        const char *service = NULL;
        char peer[INET6_ADDRSTRLEN + 16];
        if (slot == 0)
            continue;
        for (size_t k = 0; k < n && service == NULL; k++)
            if (metrics_slot_index(m, sv[k].s) + 1 == slot)
                service = sv[k].name;
        if (service == NULL)
            continue; /* of a service no longer in the configuration */
        peer_text(c, peer, sizeof(peer));
        strbuf_add(b, shown ? ",{\"service\":" : "{\"service\":", shown ? 12 : 11);
        metrics_json_string(b, service);
        strbuf_printf(b, ",\"peer\":\"%s\",\"age_ms\":%lld,\"pid\":%ld}", peer,
                      (long long)(now > c->started_ms ? now - c->started_ms : 0), (long)c->pid);
        shown++;
    }
    strbuf_add(b, "]", 1);
}

void metrics_render_status(struct metrics *m, int64_t now, struct strbuf *b)
{
    static struct shown sv[METRICS_SVCS_MAX];
    size_t n = listed(m, sv);

    strbuf_add(b, "{\"version\":", 11);
    metrics_json_string(b, USHER_VERSION);
    strbuf_printf(b, ",\"pid\":%ld,\"started\":%lld,\"config\":", (long)m->owner,
                  (long long)m->start_time);
    metrics_json_string(b, m->config);
    strbuf_printf(
        b, ",\"reloads\":%llu,\"services\":[",
        (unsigned long long)(metrics_read(&m->reloads_ok) + metrics_read(&m->reloads_error)));
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            strbuf_add(b, ",", 1);
        status_service(b, &sv[i]);
    }
    strbuf_add(b, "],\"connections\":", 16);
    status_connections(m, sv, n, now, b);
    strbuf_add(b, "}\n", 2);
}
