/*
 * Unit tests: the services layer (svc.c) alone: admission and release
 * bookkeeping, the hook installed from above, generations across a
 * "reload" (svc_new + svc_set_replace), refusals.  A real loop (for its
 * clock) and a parsed configuration; no socket.
 */
#include "ev.h"
#include "svc.h"
#include "t.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static struct ev_loop *loop;
static struct svc_set set;
static struct metrics *table; /* the shared counters, as the master makes them */
static unsigned ends;

static void on_end(struct svc_set *s, void *arg)
{
    T_ASSERT(s == &set);
    T_ASSERT(arg == &ends);
    ends++;
}

static struct conf *parse(const char *text)
{
    char *errors = NULL;
    struct conf *c = conf_parse(text, "test.conf", &errors);

    if (c == NULL)
        T_FAIL("parse: %s", errors ? errors : "?");
    return c;
}

/* A set with the services of `text` in force. */
static void setup(const char *text)
{
    struct conf *c = parse(text);

    T_ASSERT((loop = ev_loop_new()) != NULL);
    if (table == NULL)
        T_ASSERT((table = metrics_new("test.conf")) != NULL);
    T_EQ_INT(svc_set_init(&set, loop, c, table), 0);
    set.on_end = on_end;
    set.on_end_arg = &ends;
    for (size_t i = 0; i < c->nsvcs; i++) {
        struct svc *svc = svc_new(&set, c, &c->svcs[i]);
        T_ASSERT(svc != NULL);
        set.svcs[set.nsvcs++] = svc;
    }
    svc_set_publish(&set); /* as server_start does once its services are built */
    conf_unref(c);
}

/* A new generation of `text`: what a reload does to the services. */
static void replace(const char *text)
{
    struct conf *c = parse(text);
    struct svc **svcs = calloc(c->nsvcs + 1, sizeof(*svcs));

    T_ASSERT(svcs != NULL);
    for (size_t i = 0; i < c->nsvcs; i++)
        T_ASSERT((svcs[i] = svc_new(&set, c, &c->svcs[i])) != NULL);
    svc_set_replace(&set, c, svcs, c->nsvcs);
    conf_unref(c);
}

static struct sockaddr_storage peer(const char *ip)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

    memset(&ss, 0, sizeof(ss));
    s4->sin_family = AF_INET;
    s4->sin_port = htons(40000);
    T_ASSERT(inet_pton(AF_INET, ip, &s4->sin_addr) == 1);
    return ss;
}

static enum refusal admit(struct svc *svc, const char *ip, bool stream, struct limit_key *key)
{
    struct sockaddr_storage ss = peer(ip);

    return svc_admit(svc, (const struct sockaddr *)&ss, stream, METRICS_TCP, key);
}

/* Connections admitted, as the shared counters have them. */
static long long admitted(const struct svc *svc)
{
    long long n = 0;

    for (int p = 0; p < METRICS_PROTO_COUNT; p++)
        n += (long long)metrics_read(&svc->st->m->conns[p]);
    return n;
}

static long long refused(const struct svc *svc)
{
    long long n = 0;

    for (int r = 0; r < METRICS_REASON_COUNT; r++)
        n += (long long)metrics_read(&svc->st->m->refused[r]);
    return n;
}

#define ECHO "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"

static void test_conn_counts_back_to_zero(void)
{
    struct limit_key k1, k2;
    struct svc *svc;

    setup(ECHO);
    svc = set.svcs[0];
    T_EQ_INT(admit(svc, "10.0.0.1", true, &k1), ADMITTED);
    T_EQ_INT(admit(svc, "10.0.0.2", true, &k2), ADMITTED);
    svc_opened(svc, SVC_USE_CONN);
    svc_opened(svc, SVC_USE_CONN);
    T_EQ_INT(set.nconns, 2);
    T_EQ_INT(svc->conns, 2);
    T_EQ_INT(svc->st->conns_now, 2);
    T_EQ_INT(admitted(svc), 2);
    T_EQ_INT(metrics_gauge(&svc->st->m->active), 2);
    T_EQ_INT(limit_conns(&svc->st->lim), 2);
    T_EQ_INT(limit_conns(&set.glim), 2);
    svc_release(svc, &k1, SVC_USE_CONN);
    svc_release(svc, &k2, SVC_USE_CONN);
    T_EQ_INT(set.nconns, 0);
    T_EQ_INT(svc->conns, 0);
    T_EQ_INT(svc->st->conns_now, 0);
    T_EQ_INT(limit_conns(&svc->st->lim), 0);
    T_EQ_INT(limit_conns(&set.glim), 0);
    T_EQ_INT(admitted(svc), 2); /* a total stays */
    T_EQ_INT(metrics_gauge(&svc->st->m->active), 0);
    T_EQ_INT(ends, 2);
    svc_set_free(&set);
}

static void test_child_counts_back_to_zero(void)
{
    struct limit_key k;
    struct svc *svc;

    setup(ECHO);
    svc = set.svcs[0];
    T_EQ_INT(admit(svc, "10.0.0.1", true, &k), ADMITTED);
    svc_opened(svc, SVC_USE_CHILD);
    T_EQ_INT(set.nchildren, 1);
    T_EQ_INT(set.nconns, 0);
    T_EQ_INT(svc->st->children, 1);
    T_EQ_INT(svc->st->conns_now, 1);
    svc_release(svc, &k, SVC_USE_CHILD);
    T_EQ_INT(set.nchildren, 0);
    T_EQ_INT(svc->st->children, 0);
    T_EQ_INT(svc->st->conns_now, 0);
    T_EQ_INT(limit_conns(&svc->st->lim), 0);
    T_EQ_INT(ends, 1);
    svc_set_free(&set);
}

static void test_release_unopened_gives_back_address_only(void)
{
    /* A failure before the engine took the connection: the limits, no counts, no hook. */
    struct limit_key k;
    struct svc *svc;

    setup("[e]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nmax_per_ip = 1\n");
    svc = set.svcs[0];
    T_EQ_INT(admit(svc, "10.0.0.1", true, &k), ADMITTED);
    T_EQ_INT(limit_conns(&svc->st->lim), 1);
    svc_release(svc, &k, SVC_USE_NONE);
    T_EQ_INT(limit_conns(&svc->st->lim), 0);
    T_EQ_INT(limit_conns(&set.glim), 0);
    T_EQ_INT(svc->st->conns_now, 0);
    T_EQ_INT(ends, 0);
    T_EQ_INT(admit(svc, "10.0.0.1", true, &k), ADMITTED); /* the address is free again */
    svc_release(svc, &k, SVC_USE_NONE);
    svc_set_free(&set);
}

static void test_limits_table(void)
{
    /* Each row: the service, admissions from addresses in order, the outcome of each. */
    static const struct {
        const char *conf;
        const char *ips[4];
        enum refusal want[4];
    } rows[] = {
        {ECHO "max_conns = 2\n",
         {"10.0.0.1", "10.0.0.2", "10.0.0.3", NULL},
         {ADMITTED, ADMITTED, REFUSED_MAX_CONNS}},
        {ECHO "max_per_ip = 1\n",
         {"10.0.0.1", "10.0.0.1", "10.0.0.2", NULL},
         {ADMITTED, REFUSED_MAX_PER_IP, ADMITTED}},
        {"[global]\nmax_conns = 1\n" ECHO,
         {"10.0.0.1", "10.0.0.2", NULL},
         {ADMITTED, REFUSED_MAX_CONNS}},
        {ECHO "deny = 10.0.0.0/8\n", {"10.1.2.3", "192.0.2.1", NULL}, {REFUSED_DENIED, ADMITTED}},
    };

    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        struct limit_key keys[4];
        size_t n = 0;
        setup(rows[i].conf);
        for (; n < 4 && rows[i].ips[n] != NULL; n++) {
            enum refusal r = admit(set.svcs[0], rows[i].ips[n], true, &keys[n]);
            if (r != rows[i].want[n])
                T_FAIL("row %zu admission %zu: got %d, want %d", i, n, r, rows[i].want[n]);
        }
        for (size_t j = 0; j < n; j++)
            if (rows[i].want[j] == ADMITTED)
                svc_release(set.svcs[0], &keys[j], SVC_USE_NONE);
        T_EQ_INT(limit_conns(&set.glim), 0);
        size_t want = 0;
        for (size_t j = 0; j < n; j++)
            want += rows[i].want[j] == ADMITTED;
        T_EQ_INT(admitted(set.svcs[0]), want);
        svc_set_free(&set);
        ends = 0;
    }
}

static void test_datagram_admission_counts_nothing(void)
{
    struct limit_key k;
    struct svc *svc;

    setup("[e]\nlisten = udp://127.0.0.1:0\nbuiltin = echo\nmax_conns = 1\n");
    svc = set.svcs[0];
    for (int i = 0; i < 3; i++)
        T_EQ_INT(admit(svc, "10.0.0.1", false, &k), ADMITTED);
    T_EQ_INT(admitted(svc), 0);
    T_EQ_INT(limit_conns(&svc->st->lim), 0);
    T_EQ_INT(k.counted, 0);
    svc_set_free(&set);
}

static void test_refusal_counted(void)
{
    struct svc *svc;

    setup(ECHO);
    svc = set.svcs[0];
    log_set_level(LOG_LVL_WARN); /* no lines: the count alone */
    svc_refused(svc, ADDR_TCP, "10.0.0.1:1", REFUSED_RATE);
    svc_refused(svc, ADDR_TCP, "10.0.0.1:1", REFUSED_RATE);
    T_EQ_INT(refused(svc), 2);
    T_EQ_INT(metrics_read(&svc->st->m->refused[METRICS_RATE]), 2);
    T_ASSERT(!ev_timer_active(&set.refusal_timer));
    svc_set_free(&set);
}

static void test_retired_generation_freed_with_last_conn(void)
{
    struct limit_key k;
    struct svc *old;
    struct svc_state *st;

    setup(ECHO);
    old = set.svcs[0];
    st = old->st;
    T_EQ_INT(admit(old, "10.0.0.1", true, &k), ADMITTED);
    svc_opened(old, SVC_USE_CONN);
    replace(ECHO "idle_timeout = 5s\n");
    /* The new generation continues the state; the old one waits for its connection. */
    T_ASSERT(set.svcs[0] != old);
    T_ASSERT(set.svcs[0]->st == st);
    T_EQ_INT(st->refs, 2);
    T_ASSERT(set.retired == old);
    T_ASSERT(old->retired);
    T_EQ_INT(st->conns_now, 1);
    svc_release(old, &k, SVC_USE_CONN);
    T_ASSERT(set.retired == NULL);
    T_EQ_INT(st->refs, 1);
    T_EQ_INT(st->conns_now, 0);
    T_EQ_INT(set.nconns, 0);
    svc_set_free(&set);
}

static void test_idle_generation_freed_at_once(void)
{
    struct svc_state *st;

    setup(ECHO);
    st = set.svcs[0]->st;
    replace(ECHO);
    T_ASSERT(set.retired == NULL);
    T_ASSERT(set.svcs[0]->st == st);
    T_EQ_INT(st->refs, 1);
    svc_set_free(&set);
}

static void test_removed_service_state_goes_with_its_last_conn(void)
{
    /* A service the new configuration drops keeps its state while it has connections. */
    struct limit_key k;
    struct svc *gone;

    setup(ECHO "[other]\nlisten = tcp://127.0.0.1:0\nbuiltin = discard\n");
    gone = svc_find(&set, "other");
    T_ASSERT(gone != NULL);
    T_EQ_INT(admit(gone, "10.0.0.1", true, &k), ADMITTED);
    svc_opened(gone, SVC_USE_CHILD);
    replace(ECHO);
    T_ASSERT(svc_find(&set, "other") == NULL);
    T_EQ_INT(set.nsvcs, 1);
    T_ASSERT(set.retired == gone);
    T_EQ_INT(gone->st->refs, 1);
    svc_release(gone, &k, SVC_USE_CHILD);
    T_ASSERT(set.retired == NULL);
    T_EQ_INT(set.nchildren, 0);
    T_EQ_INT(ends, 1);
    svc_set_free(&set);
}

static void test_new_service_gets_new_state(void)
{
    struct svc *a, *b;

    setup(ECHO);
    replace(ECHO "[b]\nlisten = tcp://127.0.0.1:0\nbuiltin = discard\n");
    a = svc_find(&set, "echo");
    b = svc_find(&set, "b");
    T_ASSERT(a != NULL && b != NULL);
    T_ASSERT(a->st != b->st);
    T_ASSERT(limit_id(&a->st->lim) != limit_id(&b->st->lim));
    svc_set_free(&set);
}

static void test_forget_keeps_shared_counts_and_limits(void)
{
    struct limit_key k;
    struct svc *svc;

    setup(ECHO);
    svc = set.svcs[0];
    T_EQ_INT(admit(svc, "10.0.0.1", true, &k), ADMITTED);
    svc_opened(svc, SVC_USE_CONN);
    svc_count_bytes(svc, 5, 0);
    svc_set_forget(&set, loop);
    T_EQ_INT(set.nconns, 0);
    T_EQ_INT(svc->conns, 0);
    T_EQ_INT(svc->st->conns_now, 0);
    /* The counters are the daemon's, in memory shared with the parent: they stay. */
    T_EQ_INT(admitted(svc), 1);
    T_EQ_INT(metrics_read(&svc->st->m->bytes_in), 5);
    T_EQ_INT(limit_conns(&svc->st->lim), 1); /* shared with the parent: it stays */
    svc_set_free(&set);
}

static void test_child_gauges_follow_children(void)
{
    struct limit_key k;
    struct svc *svc;

    setup("[x]\nlisten = tcp://127.0.0.1:0\nexec = /bin/true\n");
    svc = set.svcs[0];
    T_EQ_INT(admit(svc, "10.0.0.1", true, &k), ADMITTED);
    svc_opened(svc, SVC_USE_CHILD);
    T_EQ_INT(metrics_gauge(&svc->st->m->children), 1);
    T_EQ_INT(metrics_gauge(&svc->st->m->active), 1);
    svc_count_exit(svc, 1 << 8); /* exit status 1 */
    svc_count_exit(svc, 0);
    svc_count_exit(svc, 9); /* killed by SIGKILL */
    svc_release(svc, &k, SVC_USE_CHILD);
    T_EQ_INT(metrics_gauge(&svc->st->m->children), 0);
    T_EQ_INT(metrics_read(&svc->st->m->exits[METRICS_EXIT_ZERO]), 1);
    T_EQ_INT(metrics_read(&svc->st->m->exits[METRICS_EXIT_NONZERO]), 1);
    T_EQ_INT(metrics_read(&svc->st->m->exits[METRICS_EXIT_SIGNAL]), 1);
    T_ASSERT((svc->st->m->kinds & METRICS_HAS_EXEC) != 0);
    svc_set_free(&set);
}

static void test_reload_keeps_counts_and_lists_only_services_in_force(void)
{
    struct limit_key k;
    struct metrics_svc *echo, *gone;

    setup(ECHO "[old]\nlisten = tcp://127.0.0.1:0\nbuiltin = discard\n");
    echo = set.svcs[0]->st->m;
    gone = set.svcs[1]->st->m;
    T_ASSERT(echo != NULL && gone != NULL && echo != gone);
    T_ASSERT(echo->listed && gone->listed);
    T_EQ_INT(admit(set.svcs[0], "10.0.0.1", true, &k), ADMITTED);
    svc_opened(set.svcs[0], SVC_USE_CONN);
    /* echo stays (with a new address), old goes, new comes. */
    replace("[echo]\nlisten = tcp://127.0.0.1:1 unix:/tmp/e.sock\nbuiltin = echo\n"
            "[new]\nlisten = udp://127.0.0.1:0\nbuiltin = echo\n");
    T_ASSERT(set.svcs[0]->st->m == echo);
    T_EQ_INT(admitted(set.svcs[0]), 1);
    T_EQ_INT(metrics_gauge(&echo->active), 1); /* its connection is still open */
    T_ASSERT(echo->listed);
    T_EQ_STR(echo->listen, "tcp://127.0.0.1:1\nunix:/tmp/e.sock");
    T_EQ_INT(echo->kinds, METRICS_HAS_TCP | METRICS_HAS_UNIX);
    T_ASSERT(!gone->used);                /* it had nothing open: its slot is given back */
    T_ASSERT(set.svcs[1]->st->m != gone); /* a never used slot first */
    T_EQ_INT(set.svcs[1]->st->m->kinds, METRICS_HAS_DGRAM);
    svc_release(set.svcs[0], &k, SVC_USE_CONN);
    svc_set_free(&set);
    T_ASSERT(!echo->used);
}

static void test_dead_worker_gauges_given_back(void)
{
    struct metrics_holds *h = metrics_holds_new();
    struct limit_key k;
    struct svc *svc;

    T_ASSERT(h != NULL);
    setup(ECHO);
    svc = set.svcs[0];
    metrics_set_holds(h); /* as a worker does after the fork */
    T_EQ_INT(admit(svc, "10.0.0.1", true, &k), ADMITTED);
    svc_opened(svc, SVC_USE_CONN);
    T_EQ_INT(admit(svc, "10.0.0.2", true, &k), ADMITTED);
    svc_opened(svc, SVC_USE_CONN);
    metrics_set_holds(NULL);
    T_EQ_INT(metrics_gauge(&svc->st->m->active), 2);
    /* The worker is killed with both open: the master takes them back out. */
    metrics_give_back(table, h);
    T_EQ_INT(metrics_gauge(&svc->st->m->active), 0);
    metrics_holds_free(h);
    svc_set_free(&set);
}

static void test_datagram_drops_by_reason(void)
{
    struct svc *svc;

    setup("[e]\nlisten = udp://127.0.0.1:0\nbuiltin = echo\n");
    svc = set.svcs[0];
    log_set_level(LOG_LVL_WARN);
    svc_count_dgram_in(svc, 10);
    svc_count_dgram_in(svc, 10);
    svc_count_dgram_in(svc, 10);
    svc_count_dgram_out(svc, 10);
    svc_count_dgram_dropped(svc, METRICS_DROP_LOOP, 1);
    svc_refused(svc, ADDR_UDP, "10.0.0.1:1", REFUSED_DENIED);
    T_EQ_INT(metrics_read(&svc->st->m->udp_requests), 3);
    T_EQ_INT(metrics_read(&svc->st->m->bytes_in), 30);
    T_EQ_INT(metrics_read(&svc->st->m->udp_dropped[METRICS_DROP_LOOP]), 1);
    T_EQ_INT(metrics_read(&svc->st->m->udp_dropped[METRICS_DROP_DENIED]), 1);
    T_EQ_INT(metrics_read(&svc->st->m->dgrams_dropped), 2);
    T_EQ_INT(refused(svc), 0); /* a datagram is dropped, not a connection refused */
    svc_set_free(&set);
}

static const struct t_case cases[] = {
    T_CASE(test_child_gauges_follow_children),
    T_CASE(test_reload_keeps_counts_and_lists_only_services_in_force),
    T_CASE(test_dead_worker_gauges_given_back),
    T_CASE(test_datagram_drops_by_reason),
    T_CASE(test_conn_counts_back_to_zero),
    T_CASE(test_child_counts_back_to_zero),
    T_CASE(test_release_unopened_gives_back_address_only),
    T_CASE(test_limits_table),
    T_CASE(test_datagram_admission_counts_nothing),
    T_CASE(test_refusal_counted),
    T_CASE(test_retired_generation_freed_with_last_conn),
    T_CASE(test_idle_generation_freed_at_once),
    T_CASE(test_removed_service_state_goes_with_its_last_conn),
    T_CASE(test_new_service_gets_new_state),
    T_CASE(test_forget_keeps_shared_counts_and_limits),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
