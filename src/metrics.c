/*
 * metrics: the counters shared by all of usherd's processes (see metrics.h).
 */
#include "metrics.h"

#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const double metrics_bucket_bounds[METRICS_BUCKETS] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5,
                                                       1,     5,     10,   60,   300};

/* What this process has added to the gauges, slot by slot. */
struct metrics_holds {
    int32_t active[METRICS_SVCS_MAX];
    int32_t children[METRICS_SVCS_MAX];
};

static struct metrics_holds *my_holds;
static bool gauges_muted;
static pid_t my_pid; /* getpid() is a system call: this process's, as metrics_proc_self saw it */

struct metrics *metrics_new(const char *config)
{
    size_t len = sizeof(struct metrics);
    struct metrics *m =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (m == MAP_FAILED)
        return NULL;
    m->len = len;
    m->owner = getpid();
    m->start_time = (int64_t)time(NULL);
    m->last_reload_ok = 1;
    str_copy(m->config, sizeof(m->config), config != NULL ? config : "");
    return m;
}

void metrics_free(struct metrics *m)
{
    if (m != NULL)
        munmap(m, m->len);
}

bool metrics_owner(const struct metrics *m)
{
    return m != NULL && m->owner == getpid();
}

/* Slots */

struct metrics_svc *metrics_slot_take(struct metrics *m, const char *name)
{
    struct metrics_svc *best = NULL;

    /* A never used slot first (freed 0), else the one given back longest ago. */
    for (size_t i = 0; i < METRICS_SVCS_MAX; i++) {
        struct metrics_svc *s = &m->svcs[i];
        if (s->used)
            continue;
        if (best == NULL || s->freed < best->freed)
            best = s;
        if (s->freed == 0)
            break;
    }
    if (best == NULL)
        return NULL;
    memset(best, 0, sizeof(*best));
    str_copy(best->name, sizeof(best->name), name);
    __atomic_store_n(&best->used, 1, __ATOMIC_RELEASE);
    return best;
}

void metrics_slot_give_back(struct metrics *m, struct metrics_svc *s)
{
    if (s == NULL)
        return;
    __atomic_store_n(&s->listed, 0, __ATOMIC_RELEASE);
    s->freed = ++m->freed_order;
    __atomic_store_n(&s->used, 0, __ATOMIC_RELEASE);
}

void metrics_slot_describe(struct metrics_svc *s, const char *model, const char *listen,
                           uint32_t kinds)
{
    __atomic_add_fetch(&s->seq, 1, __ATOMIC_ACQ_REL); /* odd: being written */
    s->kinds = kinds;
    str_copy(s->model, sizeof(s->model), model);
    str_copy(s->listen, sizeof(s->listen), listen);
    __atomic_add_fetch(&s->seq, 1, __ATOMIC_ACQ_REL);
}

void metrics_slot_list(struct metrics_svc *s, bool listed)
{
    __atomic_store_n(&s->listed, listed ? 1u : 0u, __ATOMIC_RELEASE);
}

void metrics_slot_text(const struct metrics_svc *s, char *name, char *model, char *listen,
                       uint32_t *kinds)
{
    for (int tries = 0; tries < 1000; tries++) {
        uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        if (seq & 1)
            continue;
        memcpy(name, s->name, sizeof(s->name));
        memcpy(model, s->model, sizeof(s->model));
        memcpy(listen, s->listen, sizeof(s->listen));
        *kinds = s->kinds;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) == seq)
            break;
    }
    /* Whatever was copied, each is a string. */
    name[sizeof(s->name) - 1] = model[sizeof(s->model) - 1] = listen[sizeof(s->listen) - 1] = '\0';
}

uint32_t metrics_slot_index(const struct metrics *m, const struct metrics_svc *s)
{
    return (uint32_t)(s - m->svcs);
}

/* Counting */

void metrics_add(uint64_t *counter, uint64_t n)
{
    __atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

uint64_t metrics_read(const uint64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void metrics_observe_duration(struct metrics_svc *s, int64_t ms)
{
    size_t b = 0;

    if (s == NULL)
        return;
    if (ms < 0)
        ms = 0;
    while (b < METRICS_BUCKETS && (double)ms / 1000.0 > metrics_bucket_bounds[b])
        b++;
    metrics_add(&s->duration[b], 1);
    metrics_add(&s->duration_us, (uint64_t)ms * 1000);
}

static void gauge_add(struct metrics *m, struct metrics_svc *s, int64_t *gauge, int32_t *held,
                      int delta)
{
    if (s == NULL || gauges_muted)
        return;
    __atomic_add_fetch(gauge, delta, __ATOMIC_RELAXED);
    if (my_holds != NULL)
        held[metrics_slot_index(m, s)] += delta;
}

void metrics_active(struct metrics *m, struct metrics_svc *s, int delta)
{
    if (s != NULL)
        gauge_add(m, s, &s->active, my_holds ? my_holds->active : NULL, delta);
}

void metrics_children(struct metrics *m, struct metrics_svc *s, int delta)
{
    if (s != NULL)
        gauge_add(m, s, &s->children, my_holds ? my_holds->children : NULL, delta);
}

int64_t metrics_gauge(const int64_t *gauge)
{
    int64_t v = __atomic_load_n(gauge, __ATOMIC_RELAXED);

    return v > 0 ? v : 0;
}

void metrics_mute_gauges(void)
{
    gauges_muted = true;
    my_holds = NULL;
}

/* Holdings */

struct metrics_holds *metrics_holds_new(void)
{
    struct metrics_holds *h = mmap(NULL, sizeof(*h), PROT_READ | PROT_WRITE,
                                   MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    return h == MAP_FAILED ? NULL : h;
}

void metrics_holds_free(struct metrics_holds *h)
{
    if (h != NULL)
        munmap(h, sizeof(*h));
}

void metrics_set_holds(struct metrics_holds *h)
{
    my_holds = h;
    gauges_muted = false;
}

void metrics_give_back(struct metrics *m, const struct metrics_holds *h)
{
    if (m == NULL || h == NULL)
        return;
    for (size_t i = 0; i < METRICS_SVCS_MAX; i++) {
        if (h->active[i] != 0)
            __atomic_sub_fetch(&m->svcs[i].active, h->active[i], __ATOMIC_RELAXED);
        if (h->children[i] != 0)
            __atomic_sub_fetch(&m->svcs[i].children, h->children[i], __ATOMIC_RELAXED);
    }
}

/* Open connections */

uint32_t metrics_conn_add(struct metrics *m, const struct metrics_svc *s,
                          const struct sockaddr *peer, pid_t pid, int64_t now)
{
    static uint32_t hint;

    if (m == NULL || s == NULL ||
        __atomic_load_n(&m->conns_used, __ATOMIC_RELAXED) >= METRICS_CONNS_MAX)
        return 0;
    for (uint32_t n = 0; n < METRICS_CONNS_MAX; n++) {
        uint32_t i = (hint + n) % METRICS_CONNS_MAX, free_slot = 0;
        struct metrics_conn *c = &m->conns[i];
        if (!__atomic_compare_exchange_n(&c->slot, &free_slot, metrics_slot_index(m, s) + 1, false,
                                         __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            continue;
        __atomic_add_fetch(&m->conns_used, 1, __ATOMIC_RELAXED);
        c->owner = (int32_t)(my_pid != 0 ? my_pid : getpid());
        c->pid = pid != 0 ? (int32_t)pid : c->owner;
        c->started_ms = now;
        c->family = 0;
        if (peer != NULL && peer->sa_family == AF_INET) {
            const struct sockaddr_in *sin = (const struct sockaddr_in *)peer;
            c->family = AF_INET;
            c->port = ntohs(sin->sin_port);
            memcpy(c->addr, &sin->sin_addr, 4);
        } else if (peer != NULL && peer->sa_family == AF_INET6) {
            const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)peer;
            c->family = AF_INET6;
            c->port = ntohs(sin6->sin6_port);
            memcpy(c->addr, &sin6->sin6_addr, 16);
        }
        hint = i + 1;
        return i + 1;
    }
    return 0;
}

void metrics_conn_remove(struct metrics *m, uint32_t id)
{
    if (m == NULL || id == 0 || id > METRICS_CONNS_MAX)
        return;
    __atomic_store_n(&m->conns[id - 1].slot, 0, __ATOMIC_RELEASE);
    __atomic_sub_fetch(&m->conns_used, 1, __ATOMIC_RELAXED);
}

void metrics_conns_of_dead(struct metrics *m, pid_t pid)
{
    if (m == NULL)
        return;
    for (uint32_t i = 0; i < METRICS_CONNS_MAX; i++)
        if (__atomic_load_n(&m->conns[i].slot, __ATOMIC_ACQUIRE) != 0 &&
            m->conns[i].owner == (int32_t)pid)
            metrics_conn_remove(m, i + 1);
}

/* Processes */

void metrics_proc_self(struct metrics *m, enum metrics_role role)
{
    pid_t pid = my_pid = getpid();

    if (m == NULL)
        return;
    for (size_t i = 0; i < METRICS_PROCS_MAX; i++) {
        int32_t none = 0;
        if (__atomic_compare_exchange_n(&m->procs[i].pid, &none, (int32_t)pid, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            m->procs[i].role = (int32_t)role;
            return;
        }
    }
}

void metrics_proc_gone(struct metrics *m, pid_t pid)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < METRICS_PROCS_MAX; i++)
        if (__atomic_load_n(&m->procs[i].pid, __ATOMIC_ACQUIRE) == (int32_t)pid) {
            __atomic_store_n(&m->procs[i].pid, 0, __ATOMIC_RELEASE);
            return;
        }
}

/* utime + stime of a process, in clock ticks, or 0 if it is gone. */
static uint64_t proc_ticks(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long long ut = 0, st = 0;
    const char *p;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if ((f = fopen(path, "re")) == NULL)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The name may hold anything: the fields start after its last ')'. */
    if ((p = strrchr(buf, ')')) == NULL ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return ut + st;
}

void metrics_proc_ending(struct metrics *m)
{
    if (m != NULL)
        metrics_add(&m->cpu_ended_ticks, proc_ticks(getpid()));
}

void metrics_reloaded(struct metrics *m, bool ok)
{
    if (m == NULL)
        return;
    metrics_add(ok ? &m->reloads_ok : &m->reloads_error, 1);
    __atomic_store_n(&m->last_reload_ok, ok ? 1u : 0u, __ATOMIC_RELAXED);
}

/*
 * Open descriptors of a process.  Since Linux 6.2 the size of /proc/PID/fd
 * is their count, one stat; listing the directory instead costs a lookup
 * per descriptor (10 ms for 10,000 connections), so it is the fallback
 * for older kernels, which give 0.
 */
static uint64_t count_fds(pid_t pid)
{
    char path[64];
    uint64_t n = 0;
    struct dirent *e;
    struct stat st;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
    if (stat(path, &st) == 0 && st.st_size > 0)
        return (uint64_t)st.st_size;
    if ((d = opendir(path)) == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static uint64_t rss_bytes(pid_t pid)
{
    char path[64];
    unsigned long long size = 0, resident = 0;
    long page = sysconf(_SC_PAGESIZE);
    FILE *f;
    int got;

    snprintf(path, sizeof(path), "/proc/%ld/statm", (long)pid);
    if ((f = fopen(path, "re")) == NULL)
        return 0;
    got = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    return got == 2 && page > 0 ? resident * (uint64_t)page : 0;
}

void metrics_procs_sample(struct metrics *m, struct metrics_procs_sample *out)
{
    uint64_t ticks, shown;
    long hz = sysconf(_SC_CLK_TCK);
    struct rlimit rl;

    memset(out, 0, sizeof(*out));
    ticks = metrics_read(&m->cpu_ended_ticks);
    for (size_t i = 0; i < METRICS_PROCS_MAX; i++) {
        pid_t pid = __atomic_load_n(&m->procs[i].pid, __ATOMIC_ACQUIRE);
        int32_t role = m->procs[i].role;
        if (pid == 0)
            continue;
        if (role >= 0 && role < METRICS_ROLE_COUNT)
            out->by_role[role]++;
        out->open_fds += count_fds(pid);
        out->rss_bytes += rss_bytes(pid);
        ticks += proc_ticks(pid);
    }
    /* A process killed before it could add its time takes it along: never show less. */
    shown = __atomic_load_n(&m->cpu_shown_ticks, __ATOMIC_RELAXED);
    while (ticks > shown && !__atomic_compare_exchange_n(&m->cpu_shown_ticks, &shown, ticks, true,
                                                         __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    if (shown > ticks)
        ticks = shown;
    out->cpu_seconds = hz > 0 ? (double)ticks / (double)hz : 0;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        out->max_fds = rl.rlim_cur == RLIM_INFINITY ? 0 : (uint64_t)rl.rlim_cur;
}
