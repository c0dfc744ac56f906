/*
 * Unit tests: the shared counters (metrics.c) and their text (metrics_render.c).
 *
 * Slots: taken never-used first, then the one given back longest ago;
 * only listed slots are shown.  Histogram buckets at their bounds.  The
 * open-connection registry fills and empties, and a dead process's entries
 * go.  Then the exposition lines, label and JSON escaping (tables), and
 * the /status JSON.
 */
#include "metrics.h"
#include "metrics_render.h"
#include "t.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct metrics *table(void)
{
    struct metrics *m = metrics_new("/etc/usherd.conf");

    T_ASSERT(m != NULL);
    T_ASSERT(metrics_owner(m));
    return m;
}

static struct metrics_svc *service(struct metrics *m, const char *name, uint32_t kinds)
{
    struct metrics_svc *s = metrics_slot_take(m, name);

    T_ASSERT(s != NULL);
    metrics_slot_describe(s, "event", "tcp://127.0.0.1:7\nunix:/run/e.sock", kinds);
    metrics_slot_list(s, true);
    return s;
}

static char *render(struct metrics *m)
{
    static struct strbuf b;

    strbuf_free(&b);
    strbuf_init(&b, 1 << 24);
    metrics_render_text(m, &b);
    T_ASSERT(!b.failed);
    return b.p;
}

static void test_slots_reused_oldest_first(void)
{
    struct metrics *m = table();
    struct metrics_svc *a = metrics_slot_take(m, "a"), *b = metrics_slot_take(m, "b");
    struct metrics_svc *c;

    T_ASSERT(a != NULL && b != NULL && a != b);
    metrics_slot_give_back(m, b);
    metrics_slot_give_back(m, a);
    /* Never used slots first. */
    c = metrics_slot_take(m, "c");
    T_ASSERT(c != a && c != b);
    /* Then, with every slot taken, the one given back longest ago. */
    for (size_t i = 0; i < METRICS_SVCS_MAX - 3; i++)
        T_ASSERT(metrics_slot_take(m, "filler") != NULL);
    T_ASSERT(metrics_slot_take(m, "d") == b);
    T_ASSERT(metrics_slot_take(m, "e") == a);
    T_ASSERT(metrics_slot_take(m, "f") == NULL); /* full */
    T_EQ_STR(a->name, "e");
    T_EQ_INT(metrics_read(&a->bytes_in), 0); /* a reused slot starts from zero */
    metrics_free(m);
}

static void test_duration_buckets_at_their_bounds(void)
{
    static const struct {
        int64_t ms;
        size_t bucket;
    } rows[] = {{0, 0},   {1, 0},    {2, 1},     {5, 1},       {6, 2},       {10, 2}, {11, 3},
                {100, 4}, {1000, 6}, {60000, 9}, {300000, 10}, {300001, 11}, {-5, 0}};
    struct metrics *m = table();
    struct metrics_svc *s = service(m, "echo", METRICS_HAS_TCP);

    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        uint64_t before = metrics_read(&s->duration[rows[i].bucket]);
        metrics_observe_duration(s, rows[i].ms);
        if (metrics_read(&s->duration[rows[i].bucket]) != before + 1)
            T_FAIL("%lld ms: not in bucket %zu", (long long)rows[i].ms, rows[i].bucket);
    }
    T_EQ_INT(metrics_read(&s->duration_us),
             (1 + 2 + 5 + 6 + 10 + 11 + 100 + 1000 + 60000 + 300000 + 300001) * 1000LL);
    metrics_free(m);
}

static void test_gauges_muted_in_a_connection_process(void)
{
    struct metrics *m = table();
    struct metrics_svc *s = service(m, "echo", METRICS_HAS_TCP);

    metrics_active(m, s, 1);
    metrics_mute_gauges();
    metrics_active(m, s, 1);
    metrics_children(m, s, 1);
    metrics_set_holds(NULL); /* unmutes, as a worker's start does */
    T_EQ_INT(metrics_gauge(&s->active), 1);
    T_EQ_INT(metrics_gauge(&s->children), 0);
    metrics_active(m, s, -1);
    metrics_active(m, s, -1);
    T_EQ_INT(metrics_gauge(&s->active), 0); /* never shown below zero */
    metrics_free(m);
}

static void test_connection_registry_fills_and_empties(void)
{
    struct metrics *m = table();
    struct metrics_svc *s = service(m, "echo", METRICS_HAS_TCP);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(4000)};
    static uint32_t ids[METRICS_CONNS_MAX];

    inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
    for (size_t i = 0; i < METRICS_CONNS_MAX; i++)
        T_ASSERT((ids[i] = metrics_conn_add(m, s, (struct sockaddr *)&sin, 77, 0)) != 0);
    T_EQ_INT(metrics_conn_add(m, s, (struct sockaddr *)&sin, 77, 0), 0); /* full: not listed */
    metrics_conn_remove(m, ids[5]);
    T_ASSERT(metrics_conn_add(m, s, NULL, 78, 0) != 0);
    T_EQ_INT(m->conns_used, METRICS_CONNS_MAX);
    /* Process 77 (an exec child, say) dying unlists nothing: the process that listed them
     * does; when that one dies, all it listed goes. */
    metrics_conns_of_dead(m, 77);
    T_EQ_INT(m->conns_used, METRICS_CONNS_MAX);
    metrics_proc_self(m, METRICS_ROLE_WORKER);
    metrics_conns_of_dead(m, getpid());
    T_EQ_INT(m->conns_used, 0);
    metrics_free(m);
}

static void test_exposition_lines(void)
{
    struct metrics *m = table();
    struct metrics_svc *e = service(m, "echo", METRICS_HAS_TCP | METRICS_HAS_TLS);
    struct metrics_svc *x = service(m, "prog", METRICS_HAS_EXEC | METRICS_HAS_TCP);
    struct metrics_svc *gone = service(m, "gone", METRICS_HAS_TCP);
    char *t;

    metrics_add(&e->conns[METRICS_TCP], 100);
    metrics_add(&e->refused[METRICS_DENIED], 3);
    metrics_add(&e->tls[0], 4);
    metrics_add(&x->exits[METRICS_EXIT_NONZERO], 2);
    metrics_observe_duration(e, 3);
    metrics_slot_list(gone, false);
    metrics_reloaded(m, false);
    t = render(m);
    T_CONTAINS(t, "# TYPE usherd_connections_total counter\n");
    T_CONTAINS(t, "usherd_connections_total{service=\"echo\",proto=\"tcp\"} 100\n");
    T_CONTAINS(t, "usherd_connections_total{service=\"echo\",proto=\"tls\"} 0\n");
    T_ASSERT(strstr(t, "usherd_connections_total{service=\"echo\",proto=\"unix\"}") == NULL);
    T_CONTAINS(t, "usherd_connections_refused_total{service=\"echo\",reason=\"denied\"} 3\n");
    T_CONTAINS(t, "usherd_child_exits_total{service=\"prog\",how=\"exit_nonzero\"} 2\n");
    T_ASSERT(strstr(t, "usherd_child_exits_total{service=\"echo\"") == NULL);
    T_CONTAINS(t, "usherd_tls_handshakes_total{service=\"echo\",result=\"ok\"} 4\n");
    T_CONTAINS(t, "usherd_connection_duration_seconds_bucket{service=\"echo\",le=\"0.001\"} 0\n");
    T_CONTAINS(t, "usherd_connection_duration_seconds_bucket{service=\"echo\",le=\"0.005\"} 1\n");
    T_CONTAINS(t, "usherd_connection_duration_seconds_bucket{service=\"echo\",le=\"+Inf\"} 1\n");
    T_CONTAINS(t, "usherd_connection_duration_seconds_sum{service=\"echo\"} 0.003000\n");
    T_CONTAINS(t, "usherd_config_reloads_total{result=\"error\"} 1\n");
    T_CONTAINS(t, "usherd_config_last_reload_successful 0\n");
    T_CONTAINS(t, "usherd_build_info{version=\"");
    T_ASSERT(strstr(t, "\"gone\"") == NULL); /* not in the configuration in force */
    /* Every family once, its HELP line just before its TYPE line. */
    for (char *p = t; (p = strstr(p, "# TYPE ")) != NULL; p++) {
        char name[128], type_line[160], help[160];
        T_ASSERT(sscanf(p, "# TYPE %127s", name) == 1);
        snprintf(type_line, sizeof(type_line), "# TYPE %s ", name);
        if (strstr(p + 1, type_line) != NULL)
            T_FAIL("family %s twice", name);
        snprintf(help, sizeof(help), "# HELP %s ", name);
        char *h = strstr(t, help);
        if (h == NULL || strchr(h, '\n') + 1 != p)
            T_FAIL("family %s: no HELP line just before its TYPE", name);
    }
    metrics_free(m);
}

static void test_label_escaping(void)
{
    static const struct {
        const char *in, *out;
    } rows[] = {
        {"plain", "plain"}, {"a\"b", "a\\\"b"}, {"a\\b", "a\\\\b"}, {"a\nb", "a\\nb"}, {"é", "é"}};

    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        struct strbuf b;
        strbuf_init(&b, 64);
        metrics_label_escape(&b, rows[i].in);
        T_EQ_STR(b.p ? b.p : "", rows[i].out);
        strbuf_free(&b);
    }
}

static void test_json_escaping(void)
{
    static const struct {
        const char *in, *out;
    } rows[] = {
        {"", "\"\""},
        {"plain", "\"plain\""},
        {"q\"b\\s", "\"q\\\"b\\\\s\""},
        {"\n\t\x01\x7f", "\"\\u000a\\u0009\\u0001\\u007f\""},
        {"caf\xc3\xa9", "\"caf\xc3\xa9\""},            /* UTF-8 kept */
        {"\xff\xfe", "\"\\u00ff\\u00fe\""},            /* not UTF-8: escaped byte by byte */
        {"\xc3", "\"\\u00c3\""},                       /* a cut sequence */
        {"\xed\xa0\x80", "\"\\u00ed\\u00a0\\u0080\""}, /* a surrogate */
        {"\xe0\x80\xaf", "\"\\u00e0\\u0080\\u00af\""}, /* overlong */
        {"\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""},  /* four bytes */
    };

    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        struct strbuf b;
        strbuf_init(&b, 256);
        metrics_json_string(&b, rows[i].in);
        if (strcmp(b.p, rows[i].out) != 0)
            T_FAIL("row %zu: %s, want %s", i, b.p, rows[i].out);
        strbuf_free(&b);
    }
}

static void test_status_json(void)
{
    struct metrics *m = table();
    struct metrics_svc *e = service(m, "echo", METRICS_HAS_TCP);
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(5000)};
    struct strbuf b;

    inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
    metrics_add(&e->conns[METRICS_TCP], 2);
    metrics_add(&e->refused[METRICS_RATE], 1);
    metrics_active(m, e, 1);
    T_ASSERT(metrics_conn_add(m, e, (struct sockaddr *)&sin6, 42, 1000) != 0);
    strbuf_init(&b, 1 << 20);
    metrics_render_status(m, 1250, &b);
    T_CONTAINS(b.p,
               "\"config\":\"/etc/usherd.conf\",\"reloads\":0,\"services\":[{\"name\":\"echo\","
               "\"listen\":[\"tcp://127.0.0.1:7\",\"unix:/run/e.sock\"],\"model\":\"event\","
               "\"active\":1,\"total\":2,\"refused\":{\"max_conns\":0,\"max_per_ip\":0,"
               "\"rate\":1,");
    T_CONTAINS(b.p, "\"connections\":[{\"service\":\"echo\",\"peer\":\"[2001:db8::1]:5000\","
                    "\"age_ms\":250,\"pid\":42}]}");
    strbuf_free(&b);
    metrics_free(m);
}

static void test_process_sample_counts_this_process(void)
{
    struct metrics *m = table();
    struct metrics_procs_sample s;

    metrics_proc_self(m, METRICS_ROLE_MASTER);
    metrics_procs_sample(m, &s);
    T_EQ_INT(s.by_role[METRICS_ROLE_MASTER], 1);
    T_ASSERT(s.open_fds >= 3);
    T_ASSERT(s.rss_bytes > 0);
    T_ASSERT(s.max_fds > 0);
    metrics_proc_gone(m, getpid());
    metrics_procs_sample(m, &s);
    T_EQ_INT(s.by_role[METRICS_ROLE_MASTER], 0);
    metrics_free(m);
}

static const struct t_case cases[] = {
    T_CASE(test_slots_reused_oldest_first),
    T_CASE(test_duration_buckets_at_their_bounds),
    T_CASE(test_gauges_muted_in_a_connection_process),
    T_CASE(test_connection_registry_fills_and_empties),
    T_CASE(test_exposition_lines),
    T_CASE(test_label_escaping),
    T_CASE(test_json_escaping),
    T_CASE(test_status_json),
    T_CASE(test_process_sample_counts_this_process),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
