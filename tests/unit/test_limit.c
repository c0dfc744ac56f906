/*
 * Unit tests: admission by counts and rates (limit.c), with a fake clock
 * (the `now` of each call).  The state is the real shared mapping, so the
 * cases with a forked process exercise what workers and prefork processes
 * do: one state for all, and the give-back of a dead process's holdings.
 * The table's placement is keyed: addresses that once shared a home slot
 * no longer do, each state places differently, its processes alike.
 */
#include "limit.h"
#include "t.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sockaddr_storage peer_of(const char *ip)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        T_ASSERT(inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1);
    } else if (strcmp(ip, "unix") == 0) {
        ss.ss_family = AF_UNIX;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        T_ASSERT(inet_pton(AF_INET, ip, &s4->sin_addr) == 1);
    }
    return ss;
}

static struct limiter global, lim;

static void setup(size_t addrs)
{
    T_ASSERT(limit_init(&global, 0, 0, NULL) == 0);
    T_ASSERT(limit_init(&lim, 1, addrs, &global) == 0);
}

static enum refusal admit(const struct svc_conf *sc, unsigned gmax, const char *ip, int64_t now,
                          bool stream, struct limit_key *key)
{
    struct sockaddr_storage ss = peer_of(ip);
    struct limit_key unused;

    return limit_admit(&lim, sc, gmax, (struct sockaddr *)&ss, now, stream, key ? key : &unused);
}

/* --- table-driven: a sequence of steps on one service ---------------------- */

enum op { END, ADMIT, DGRAM, RELEASE }; /* END: a zeroed step ends the list */

struct step {
    enum op op;
    const char *ip;
    int64_t now;
    enum refusal want; /* ADMIT / DGRAM */
    int key;           /* ADMIT: keep the key here (1..7); RELEASE: give this one back */
};

static const struct {
    const char *name;
    struct svc_conf sc;
    unsigned gmax;
    struct step steps[12];
} cases[] = {
    {"rate 2/s: a burst of 2, then one per 500 ms",
     {.rate = {2, 1000}},
     0,
     {{ADMIT, "10.0.0.1", 0, ADMITTED, 0},
      {ADMIT, "10.0.0.2", 0, ADMITTED, 0},
      {ADMIT, "10.0.0.3", 10, REFUSED_RATE, 0},
      {ADMIT, "10.0.0.3", 499, REFUSED_RATE, 0},
      {ADMIT, "10.0.0.3", 500, ADMITTED, 0},
      {ADMIT, "10.0.0.3", 600, REFUSED_RATE, 0},
      {ADMIT, "10.0.0.3", 5000, ADMITTED, 0},
      {ADMIT, "10.0.0.3", 5000, ADMITTED, 0},
      {ADMIT, "10.0.0.3", 5000, REFUSED_RATE, 0}}},
    {"rate: a clock older than the last refill adds nothing",
     {.rate = {1, 1000}},
     0,
     {{ADMIT, "10.0.0.1", 1000, ADMITTED, 0},
      {ADMIT, "10.0.0.1", 400, REFUSED_RATE, 0},
      {ADMIT, "10.0.0.1", 1999, REFUSED_RATE, 0},
      {ADMIT, "10.0.0.1", 2000, ADMITTED, 0}}},
    {"rate: a refusal by max_per_ip spends no token",
     {.rate = {2, 60000}, .max_per_ip = 1},
     0,
     {{ADMIT, "10.0.0.1", 0, ADMITTED, 1},
      {ADMIT, "10.0.0.1", 0, REFUSED_MAX_PER_IP, 0},
      {ADMIT, "10.0.0.1", 0, REFUSED_MAX_PER_IP, 0},
      {ADMIT, "10.0.0.2", 0, ADMITTED, 0},
      {ADMIT, "10.0.0.3", 0, REFUSED_RATE, 0}}},
    {"max_per_ip 2: per address, IPv6 by /64, given back on release",
     {.max_per_ip = 2},
     0,
     {{ADMIT, "10.0.0.1", 0, ADMITTED, 1},
      {ADMIT, "10.0.0.1", 0, ADMITTED, 2},
      {ADMIT, "10.0.0.1", 0, REFUSED_MAX_PER_IP, 0},
      {ADMIT, "10.0.0.2", 0, ADMITTED, 0},
      {RELEASE, NULL, 0, ADMITTED, 1},
      {ADMIT, "10.0.0.1", 0, ADMITTED, 3},
      {ADMIT, "2001:db8::1", 0, ADMITTED, 0},
      {ADMIT, "2001:db8::2", 0, ADMITTED, 0},
      {ADMIT, "2001:db8::ffff", 0, REFUSED_MAX_PER_IP, 0},
      {ADMIT, "2001:db8:0:1::1", 0, ADMITTED, 0},
      {ADMIT, "unix", 0, ADMITTED, 0}}},
    {"max_conns 2: the service's count, given back on release",
     {.max_conns = 2},
     0,
     {{ADMIT, "10.0.0.1", 0, ADMITTED, 1},
      {ADMIT, "unix", 0, ADMITTED, 2},
      {ADMIT, "10.0.0.3", 0, REFUSED_MAX_CONNS, 0},
      {DGRAM, "10.0.0.3", 0, ADMITTED, 0},
      {RELEASE, NULL, 0, ADMITTED, 2},
      {ADMIT, "10.0.0.3", 0, ADMITTED, 0},
      {ADMIT, "10.0.0.4", 0, REFUSED_MAX_CONNS, 0}}},
    {"[global] max_conns 1",
     {.max_per_ip = 5},
     1,
     {{ADMIT, "10.0.0.1", 0, ADMITTED, 1},
      {ADMIT, "10.0.0.2", 0, REFUSED_MAX_CONNS, 0},
      {RELEASE, NULL, 0, ADMITTED, 1},
      {ADMIT, "10.0.0.2", 0, ADMITTED, 0}}},
    {"rate_per_ip 1/s: per address, datagrams too",
     {.rate_per_ip = {1, 1000}},
     0,
     {{DGRAM, "10.0.0.1", 0, ADMITTED, 0},
      {DGRAM, "10.0.0.1", 1, REFUSED_RATE_PER_IP, 0},
      {ADMIT, "10.0.0.1", 2, REFUSED_RATE_PER_IP, 0},
      {DGRAM, "10.0.0.2", 3, ADMITTED, 0},
      {ADMIT, "10.0.0.1", 1000, ADMITTED, 0}}},
};

static void test_steps(void)
{
    for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
        struct limit_key keys[8];
        setup(16);
        for (size_t i = 0; i < ARRAY_LEN(cases[c].steps) && cases[c].steps[i].op != END; i++) {
            const struct step *s = &cases[c].steps[i];
            enum refusal got;
            if (s->op == RELEASE) {
                limit_release(&lim, &keys[s->key]);
                continue;
            }
            got = admit(&cases[c].sc, cases[c].gmax, s->ip, s->now, s->op == ADMIT,
                        s->key ? &keys[s->key] : NULL);
            if (got != s->want)
                T_FAIL("%s, step %zu (%s from %s at %lld): %s, want %s", cases[c].name, i + 1,
                       s->op == ADMIT ? "connection" : "datagram", s->ip, (long long)s->now,
                       limit_refusal_text(got), limit_refusal_text(s->want));
        }
        limit_free(&lim);
        limit_free(&global);
    }
}

static void test_counts_return_to_zero(void)
{
    /* Every admitted connection released: the service and global counts are 0 again. */
    struct svc_conf sc = {.max_per_ip = 4, .max_conns = 100};
    struct limit_key keys[40];

    setup(64);
    for (int i = 0; i < 40; i++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "10.0.%d.1", i % 13);
        T_EQ_INT(admit(&sc, 1000, ip, i, true, &keys[i]), ADMITTED);
    }
    T_EQ_INT(limit_conns(&lim), 40);
    T_EQ_INT(limit_conns(&global), 40);
    for (int i = 0; i < 40; i++)
        limit_release(&lim, &keys[i]);
    T_EQ_INT(limit_conns(&lim), 0);
    T_EQ_INT(limit_conns(&global), 0);
}

static void test_datagrams_are_not_counted(void)
{
    struct svc_conf sc = {.max_conns = 1, .max_per_ip = 1};
    struct limit_key key;

    setup(16);
    for (int i = 0; i < 5; i++)
        T_EQ_INT(admit(&sc, 1, "10.0.0.1", i, false, &key), ADMITTED);
    T_EQ_INT(key.counted, 0);
    T_EQ_INT(limit_conns(&lim), 0);
    T_EQ_INT(admit(&sc, 1, "10.0.0.1", 9, true, &key), ADMITTED);
}

/* --- the table at capacity ------------------------------------------------- */

static void test_full_table_of_busy_addresses_refuses(void)
{
    /* Room for 4 addresses, each with an open connection: a fifth address is
     * refused; once one closes, it is admitted in its place. */
    struct svc_conf sc = {.max_per_ip = 2};
    struct limit_key keys[4], k;

    setup(4);
    for (int i = 0; i < 4; i++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "10.0.0.%d", i + 1);
        T_EQ_INT(admit(&sc, 0, ip, 0, true, &keys[i]), ADMITTED);
    }
    T_EQ_INT(admit(&sc, 0, "10.0.0.9", 0, true, &k), REFUSED_MAX_PER_IP);
    limit_release(&lim, &keys[2]);
    T_EQ_INT(admit(&sc, 0, "10.0.0.9", 0, true, &k), ADMITTED);
    /* The others keep their counts through the eviction. */
    T_EQ_INT(admit(&sc, 0, "10.0.0.1", 0, true, &k), ADMITTED);
    T_EQ_INT(admit(&sc, 0, "10.0.0.1", 0, true, &k), REFUSED_MAX_PER_IP);
}

static void test_idle_addresses_are_evicted(void)
{
    /* rate_per_ip keeps idle addresses for their history; 1000 addresses
     * through a table of 4 are all served, the oldest forgotten. */
    struct svc_conf sc = {.rate_per_ip = {1, 60000}};

    setup(4);
    for (int i = 0; i < 1000; i++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "10.%d.%d.1", i / 256, i % 256);
        T_EQ_INT(admit(&sc, 0, ip, i, false, NULL), ADMITTED);
    }
    /* The last four are remembered: each has spent its token. */
    T_EQ_INT(admit(&sc, 0, "10.3.231.1", 1000, false, NULL), REFUSED_RATE_PER_IP);
}

static void test_table_against_a_model(void)
{
    /* Random admissions and releases over 40 addresses through a table of
     * 32, checked against plain counters: deletions (backward shifts) never
     * lose or misplace an address's count. */
    struct svc_conf sc = {.max_per_ip = 3};
    struct limit_key held[40][3];
    int model[40] = {0};
    unsigned seed = 12345;

    setup(32);
    for (int i = 0; i < 20000; i++) {
        int a = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 40;
        bool add = ((seed >> 8) & 1) != 0;
        char ip[32];
        snprintf(ip, sizeof(ip), "192.168.%d.%d", a * 7 % 256, a);
        if (add) {
            struct limit_key k;
            enum refusal got = admit(&sc, 0, ip, 0, true, &k);
            int busy = 0;
            for (int j = 0; j < 40; j++)
                busy += model[j] > 0;
            if (model[a] == 3 && got != REFUSED_MAX_PER_IP)
                T_FAIL("op %d: %s over max_per_ip: %s", i, ip, limit_refusal_text(got));
            if (model[a] < 3 && (model[a] > 0 || busy < 32) && got != ADMITTED)
                T_FAIL("op %d: %s with %d open: %s", i, ip, model[a], limit_refusal_text(got));
            if (got == ADMITTED)
                held[a][model[a]++] = k;
        } else if (model[a] > 0) {
            limit_release(&lim, &held[a][--model[a]]);
        }
    }
}

/* --- keyed placement --------------------------------------------------------- */

/* Addresses that all had one home slot of a LIMIT_ADDRS_MAX table under the
 * former fixed hash (found offline, as anyone could): IPv4, and IPv6 /64s. */
static const struct {
    const char *name;
    const char *ips[16];
} flood_sets[] = {
    {"IPv4",
     {"198.51.100.0", "198.53.166.115", "198.53.204.207", "198.61.143.225", "198.62.59.137",
      "198.65.197.90", "198.72.53.7", "198.72.213.134", "198.75.29.50", "198.78.215.178",
      "198.79.219.184", "198.81.186.79", "198.94.108.138", "198.97.137.175", "198.98.78.4",
      "198.104.44.143"}},
    {"IPv6 /64",
     {"2001:db8::1", "2001:db8:0:8551::1", "2001:db8:4:f4ab::1", "2001:db8:6:fce4::1",
      "2001:db8:a:8752::1", "2001:db8:b:5109::1", "2001:db8:b:b8be::1", "2001:db8:c:c0cd::1",
      "2001:db8:11:128::1", "2001:db8:12:f0a4::1", "2001:db8:13:158a::1", "2001:db8:14:1fe6::1",
      "2001:db8:19:4a7c::1", "2001:db8:1e:9dc5::1", "2001:db8:1f:732a::1", "2001:db8:25:fcbc::1"}},
};

static uint32_t home(const struct limiter *l, const char *ip)
{
    struct sockaddr_storage ss = peer_of(ip);
    uint32_t slot = 0;

    T_ASSERT(limit_home(l, (struct sockaddr *)&ss, &slot));
    return slot;
}

static void test_colliding_addresses_are_spread(void)
{
    /* Under a random key, 16 addresses share a home slot of 131072 with a
     * chance far below one in a million; asserted: at least 12 distinct
     * homes (all 16 shared one before), and each address is still found
     * (rate_per_ip: its second datagram is refused). */
    struct svc_conf sc = {.rate_per_ip = {1, 60000}};

    for (size_t s = 0; s < ARRAY_LEN(flood_sets); s++) {
        uint32_t homes[16];
        size_t distinct = 0;
        setup(LIMIT_ADDRS_MAX);
        for (size_t i = 0; i < 16; i++) {
            size_t j;
            homes[i] = home(&lim, flood_sets[s].ips[i]);
            for (j = 0; j < i && homes[j] != homes[i]; j++)
                ;
            distinct += j == i;
            T_EQ_INT(admit(&sc, 0, flood_sets[s].ips[i], 0, false, NULL), ADMITTED);
        }
        if (distinct < 12)
            T_FAIL("%s: 16 addresses in %zu home slots", flood_sets[s].name, distinct);
        for (size_t i = 0; i < 16; i++)
            T_EQ_INT(admit(&sc, 0, flood_sets[s].ips[i], 1, false, NULL), REFUSED_RATE_PER_IP);
        limit_free(&lim);
        limit_free(&global);
    }
}

static void test_each_table_has_its_own_key(void)
{
    /* Two states place the same 32 addresses: with keys of their own, an
     * address has one chance in 131072 of the same home in both; asserted:
     * fewer than 4 do (a shared or fixed hash: all 32). */
    struct limiter other;
    int same = 0;

    setup(LIMIT_ADDRS_MAX);
    T_ASSERT(limit_init(&other, 2, LIMIT_ADDRS_MAX, &global) == 0);
    for (size_t s = 0; s < ARRAY_LEN(flood_sets); s++)
        for (size_t i = 0; i < 16; i++)
            same += home(&lim, flood_sets[s].ips[i]) == home(&other, flood_sets[s].ips[i]);
    if (same >= 4)
        T_FAIL("%d of 32 addresses have the same home in both tables", same);
    limit_free(&other);
}

/* --- processes ------------------------------------------------------------- */

/* In a child: admit `n` connections from `ip` recording in `h`, then die without releasing. */
static pid_t crash_holding(struct limit_holds *h, const struct svc_conf *sc, const char *ip, int n)
{
    pid_t pid = fork();

    T_ASSERT(pid >= 0);
    if (pid == 0) {
        struct limit_key k;
        limit_set_holds(h);
        for (int i = 0; i < n; i++)
            if (admit(sc, 100, ip, 0, true, &k) != ADMITTED)
                _exit(1);
        kill(getpid(), SIGKILL);
        _exit(2);
    }
    return pid;
}

static struct limiter *lookup(uint32_t id, void *arg)
{
    (void)arg;
    return id == 0 ? &global : id == 1 ? &lim : NULL;
}

static void test_crash_give_back(void)
{
    /* A process admits 2 connections from 10.0.0.1 (max_per_ip = 2) and one
     * from 10.0.0.2, and is killed.  Asserted: the state is shared (the
     * parent sees the counts and is refused); after limit_give_back of the
     * dead process's holdings, every count is back to what the parent
     * holds itself, and 10.0.0.1 is admitted again. */
    struct svc_conf sc = {.max_per_ip = 2, .max_conns = 10};
    struct limit_holds *h = limit_holds_new(8);
    struct limit_key mine;
    int status;
    pid_t pid;

    T_ASSERT(h != NULL);
    setup(16);
    T_EQ_INT(admit(&sc, 100, "10.0.0.3", 0, true, &mine), ADMITTED);
    pid = crash_holding(h, &sc, "10.0.0.1", 2);
    T_ASSERT(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status));
    pid = crash_holding(h, &sc, "10.0.0.2", 1);
    T_ASSERT(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status));
    T_EQ_INT(limit_conns(&lim), 4);
    T_EQ_INT(limit_conns(&global), 4);
    T_EQ_INT(admit(&sc, 100, "10.0.0.1", 0, true, NULL), REFUSED_MAX_PER_IP);
    T_EQ_INT(limit_give_back(h, lookup, NULL), 3);
    T_EQ_INT(limit_conns(&lim), 1);
    T_EQ_INT(limit_conns(&global), 1);
    T_EQ_INT(admit(&sc, 100, "10.0.0.1", 0, true, NULL), ADMITTED);
    T_EQ_INT(admit(&sc, 100, "10.0.0.1", 0, true, NULL), ADMITTED);
    /* A second give-back of the same record gives nothing. */
    T_EQ_INT(limit_give_back(h, lookup, NULL), 0);
    limit_release(&lim, &mine);
    limit_holds_free(h);
}

static void test_released_connections_are_not_given_back(void)
{
    /* What a process released itself is off its record: a give-back after
     * a clean exit changes nothing. */
    struct svc_conf sc = {.max_per_ip = 1};
    struct limit_holds *h = limit_holds_new(8);
    int status;
    pid_t pid;

    T_ASSERT(h != NULL);
    setup(16);
    pid = fork();
    T_ASSERT(pid >= 0);
    if (pid == 0) {
        struct limit_key k;
        limit_set_holds(h);
        if (admit(&sc, 0, "10.0.0.1", 0, true, &k) != ADMITTED)
            _exit(1);
        limit_release(&lim, &k);
        _exit(0);
    }
    T_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    T_EQ_INT(admit(&sc, 0, "10.0.0.1", 0, true, NULL), ADMITTED);
    T_EQ_INT(limit_give_back(h, lookup, NULL), 0);
    T_EQ_INT(limit_conns(&lim), 1);
    limit_holds_free(h);
}

static void test_children_place_as_the_parent(void)
{
    /* The key lives in the shared mapping: a forked process (a worker)
     * finds every address where the master does.  Asserted by the child's
     * exit status: 0 if all 32 homes match the parent's. */
    uint32_t homes[ARRAY_LEN(flood_sets)][16];
    int status;
    pid_t pid;

    setup(LIMIT_ADDRS_MAX);
    for (size_t s = 0; s < ARRAY_LEN(flood_sets); s++)
        for (size_t i = 0; i < 16; i++)
            homes[s][i] = home(&lim, flood_sets[s].ips[i]);
    pid = fork();
    T_ASSERT(pid >= 0);
    if (pid == 0) {
        for (size_t s = 0; s < ARRAY_LEN(flood_sets); s++)
            for (size_t i = 0; i < 16; i++)
                if (home(&lim, flood_sets[s].ips[i]) != homes[s][i])
                    _exit(1);
        _exit(0);
    }
    T_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_process_killed_inside_the_lock(void)
{
    /* A child admitting and releasing in a loop is killed 20 times at
     * random moments, some inside the state's lock.  Asserted: the parent
     * still gets the lock each time (robust mutex) and admits. */
    struct svc_conf sc = {.max_per_ip = 1000000, .rate = {1000000, 1000}};

    setup(16);
    for (int round = 0; round < 20; round++) {
        int status;
        pid_t pid = fork();
        T_ASSERT(pid >= 0);
        if (pid == 0) {
            for (int64_t now = 0;; now++) {
                struct limit_key k;
                if (admit(&sc, 0, "10.0.0.1", now, true, &k) == ADMITTED)
                    limit_release(&lim, &k);
            }
        }
        usleep((useconds_t)(1000 + round * 300));
        kill(pid, SIGKILL);
        T_ASSERT(waitpid(pid, &status, 0) == pid);
        T_EQ_INT(admit(&sc, 0, "10.0.0.2", 0, false, NULL), ADMITTED);
    }
}

static const struct t_case tcases[] = {
    T_CASE(test_steps),
    T_CASE(test_counts_return_to_zero),
    T_CASE(test_datagrams_are_not_counted),
    T_CASE(test_full_table_of_busy_addresses_refuses),
    T_CASE(test_idle_addresses_are_evicted),
    T_CASE(test_table_against_a_model),
    T_CASE(test_colliding_addresses_are_spread),
    T_CASE(test_each_table_has_its_own_key),
    T_CASE(test_crash_give_back),
    T_CASE(test_released_connections_are_not_given_back),
    T_CASE(test_children_place_as_the_parent),
    T_CASE(test_process_killed_inside_the_lock),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, tcases, ARRAY_LEN(tcases));
}
