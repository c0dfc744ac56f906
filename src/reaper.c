/*
 * reaper: watched children, pid -> function, in an open-addressing table
 * (see reaper.h).  Linear probing with backward-shift deletion: no
 * tombstones, so the table is as large as the most children watched at
 * once, however many have come and gone.
 */
#include "reaper.h"

#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

struct reaper_entry {
    pid_t pid; /* 0: free slot */
    reaper_fn *fn;
    void *arg;
};

static size_t slot_of(pid_t pid, size_t cap)
{
    return ((size_t)pid * 2654435761u) & (cap - 1);
}

static int grow(struct reaper *r)
{
    size_t cap = r->cap ? r->cap * 2 : 64;
    struct reaper_entry *t = calloc(cap, sizeof(*t));

    if (t == NULL)
        return -1;
    for (size_t i = 0; i < r->cap; i++) {
        size_t j;
        if (r->table[i].pid == 0)
            continue;
        for (j = slot_of(r->table[i].pid, cap); t[j].pid != 0; j = (j + 1) & (cap - 1))
            ;
        t[j] = r->table[i];
    }
    free(r->table);
    r->table = t;
    r->cap = cap;
    return 0;
}

int reaper_watch(struct reaper *r, pid_t pid, reaper_fn *fn, void *arg)
{
    size_t i;

    if ((r->count + 1) * 2 > r->cap && grow(r) < 0)
        return -1;
    for (i = slot_of(pid, r->cap); r->table[i].pid != 0; i = (i + 1) & (r->cap - 1))
        ;
    r->table[i] = (struct reaper_entry){pid, fn, arg};
    r->count++;
    return 0;
}

static struct reaper_entry *find(const struct reaper *r, pid_t pid)
{
    if (r->cap == 0)
        return NULL;
    for (size_t i = slot_of(pid, r->cap); r->table[i].pid != 0; i = (i + 1) & (r->cap - 1))
        if (r->table[i].pid == pid)
            return &r->table[i];
    return NULL;
}

/* Empty slot `i`, moving back each later entry of its run that may not sit past the hole. */
static void delete_at(struct reaper *r, size_t i)
{
    size_t mask = r->cap - 1;

    for (size_t j = (i + 1) & mask; r->table[j].pid != 0; j = (j + 1) & mask) {
        size_t home = slot_of(r->table[j].pid, r->cap);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            r->table[i] = r->table[j];
            i = j;
        }
    }
    r->table[i].pid = 0;
    r->count--;
}

size_t reaper_count(const struct reaper *r)
{
    return r->count;
}

bool reaper_watching(void *reaper)
{
    return reaper_count(reaper) > 0;
}

void reaper_reap(struct reaper *r)
{
    int status;
    pid_t pid;

    /* Until none is left exited: one SIGCHLD may stand for many children. */
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct reaper_entry *e = find(r, pid);
        struct reaper_entry found;
        if (e == NULL) {
            log_debug("reaped unknown child %ld", (long)pid);
            continue;
        }
        found = *e;
        delete_at(r, (size_t)(e - r->table));
        found.fn(pid, status, found.arg);
    }
}

void reaper_free(struct reaper *r)
{
    free(r->table);
    reaper_forget(r);
}

void reaper_forget(struct reaper *r)
{
    memset(r, 0, sizeof(*r));
}
