/*
 * Unit tests: what an upgrade's successor reads of USHERD_UPGRADE
 * (upgrade_take_env): the report pipe, the pidfile's descriptor and the
 * sockets whose files it owns; anything malformed is refused, and the
 * variable never outlives the reading.
 */
#include "t.h"
#include "upgrade.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct env_case {
    const char *value; /* NULL: unset */
    int rc;
    bool upgrading;
    int report_fd, pidfile_fd;
    size_t nowned;
    unsigned owned[3];
};

static void check(const struct env_case *c, int report)
{
    struct upgrade_inherited up;
    char text[128];
    int rc;

    if (c->value == NULL) {
        unsetenv(UPGRADE_ENV);
    } else {
        /* "R" stands for a real descriptor, which the successor makes close-on-exec. */
        const char *r = strchr(c->value, 'R');
        if (r != NULL)
            snprintf(text, sizeof(text), "%.*s%d%s", (int)(r - c->value), c->value, report, r + 1);
        else
            snprintf(text, sizeof(text), "%s", c->value);
        setenv(UPGRADE_ENV, text, 1);
    }
    rc = upgrade_take_env(&up);
    if (rc != c->rc)
        T_FAIL("\"%s\": rc %d, wanted %d", c->value ? c->value : "(unset)", rc, c->rc);
    if (getenv(UPGRADE_ENV) != NULL)
        T_FAIL("\"%s\": the variable is still set", c->value);
    if (rc < 0) {
        T_EQ_INT(errno, EINVAL);
        T_ASSERT(!up.upgrading && up.owned == NULL);
        return;
    }
    T_EQ_INT(up.upgrading, c->upgrading);
    T_EQ_INT(up.report_fd, c->upgrading ? (c->report_fd < 0 ? report : c->report_fd) : -1);
    T_EQ_INT(up.pidfile_fd, c->pidfile_fd);
    T_EQ_INT(up.nowned, c->nowned);
    for (size_t i = 0; i < c->nowned; i++)
        T_EQ_INT(up.owned[i], c->owned[i]);
    upgrade_inherited_free(&up);
}

static void test_take_env(void)
{
    /* report_fd -1 in a case: the real descriptor "R" stands for. */
    static const struct env_case cases[] = {
        {NULL, 0, false, -1, -1, 0, {0}},
        {"R -1 -", 0, true, -1, -1, 0, {0}},
        {"R 9 -", 0, true, -1, 9, 0, {0}},
        {"R 9 0,2,3", 0, true, -1, 9, 3, {0, 2, 3}},
        {"R -1 4095", 0, true, -1, -1, 1, {4095}},
        {"", -1, false, 0, 0, 0, {0}},
        {"R", -1, false, 0, 0, 0, {0}},
        {"R 9", -1, false, 0, 0, 0, {0}},
        {"-1 9 -", -1, false, 0, 0, 0, {0}}, /* no report pipe */
        {"2 9 -", -1, false, 0, 0, 0, {0}},  /* stderr is no pipe of ours */
        {"R 1 -", -1, false, 0, 0, 0, {0}},  /* nor stdout a pidfile */
        {"R x -", -1, false, 0, 0, 0, {0}},
        {"R 9 4096", -1, false, 0, 0, 0, {0}}, /* past the sockets there can be */
        {"R 9 1,,2", -1, false, 0, 0, 0, {0}},
        {"R 9 -1", -1, false, 0, 0, 0, {0}},
        {"R 9 a", -1, false, 0, 0, 0, {0}},
    };
    int p[2];

    T_ASSERT(pipe(p) == 0);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        check(&cases[i], p[1]);
    close(p[0]);
    close(p[1]);
}

static const struct t_case cases[] = {
    T_CASE(test_take_env),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
