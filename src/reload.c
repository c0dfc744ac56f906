/*
 * reload: the plan of a reload (see reload.h).
 */
#include "reload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The listener in force that `a` of service `name` keeps, or RELOAD_OPEN. */
static size_t find_kept(const struct reload_have *have, size_t nhave, const bool *taken,
                        const struct addr *a, const char *name)
{
    bool any_port = addr_kind_is_inet(a->kind) && addr_port((const struct sockaddr *)&a->ss) == 0;

    for (size_t i = 0; i < nhave; i++) {
        if (taken[i] || !addr_equal(have[i].addr, a))
            continue;
        if (any_port && strcmp(have[i].service, name) != 0)
            continue;
        return i;
    }
    return RELOAD_OPEN;
}

int reload_plan(const struct reload_have *have, size_t nhave, const struct conf *conf,
                struct reload_plan *plan)
{
    size_t total = 0;

    memset(plan, 0, sizeof(*plan));
    for (size_t i = 0; i < conf->nsvcs; i++)
        total += conf->svcs[i].nlistens;
    plan->steps = calloc(total + 1, sizeof(*plan->steps));
    plan->close = calloc(nhave + 1, sizeof(*plan->close));
    if (plan->steps == NULL || plan->close == NULL) {
        reload_plan_free(plan);
        errno = ENOMEM;
        return -1;
    }
    plan->nhave = nhave;
    /* `close` doubles as "taken" while the steps are made: then it is flipped. */
    for (size_t i = 0; i < conf->nsvcs; i++) {
        const struct svc_conf *sc = &conf->svcs[i];
        for (size_t j = 0; j < sc->nlistens; j++) {
            size_t keep = find_kept(have, nhave, plan->close, &sc->listens[j].addr, sc->name);
            plan->steps[plan->nsteps++] = (struct reload_step){i, j, keep};
            if (keep == RELOAD_OPEN) {
                plan->to_open++;
                continue;
            }
            plan->close[keep] = true;
            plan->kept++;
        }
    }
    for (size_t i = 0; i < nhave; i++) {
        plan->close[i] = !plan->close[i];
        plan->to_close += plan->close[i];
    }
    return 0;
}

void reload_plan_free(struct reload_plan *plan)
{
    free(plan->steps);
    free(plan->close);
    memset(plan, 0, sizeof(*plan));
}

void reload_summary(const struct conf *old, const struct conf *conf, unsigned kept, unsigned opened,
                    unsigned closed, char *buf, size_t size)
{
    unsigned added = 0, removed = 0, changed = 0;

    for (size_t i = 0; i < conf->nsvcs; i++) {
        const struct svc_conf *was = conf_find(old, conf->svcs[i].name);
        if (was == NULL)
            added++;
        else if (!conf_svc_equal(was, &conf->svcs[i]))
            changed++;
    }
    for (size_t i = 0; i < old->nsvcs; i++)
        if (conf_find(conf, old->svcs[i].name) == NULL)
            removed++;
    snprintf(buf, size,
             "reloaded %s: services %zu (added %u, removed %u, changed %u); listeners kept %u, "
             "opened %u, closed %u",
             conf->path, conf->nsvcs, added, removed, changed, kept, opened, closed);
}
