/*
 * Exec services' identity and confinement (SPEC 5): user, group,
 * supplementary groups, chroot; the failures of each step at run time
 * (logged, connection closed, usherd serving on) and at config time
 * (FILE:LINE, exit 2); a spawn that cannot start at all (EAGAIN).
 *
 * The identity is read from tests/lib/exec_probe.c's report.  Run-time
 * failures of setuid/setgid need usherd to be unprivileged: it is started
 * under setpriv(1) as nobody (or an unnamed uid).
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- helpers ---------------------------------------------------------------- */

/* An echo builtin next to the exec service: proof that usherd still serves. */
#define ECHO_SECTION "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"

/* [NAME] on tcp://127.0.0.1:0 running EXEC with `extra` keys. */
static char *exec_conf(const char *name, const char *exec, const char *extra)
{
    return h_fmt("[%s]\nlisten = tcp://127.0.0.1:0\nexec = %s\n%s", name, exec, extra ? extra : "");
}

static char *probe_report_cmd(void)
{
    return h_fmt("%s report", h_exec_probe(false));
}

/* Changing identities and roots takes root. */
static void need_root(void)
{
    if (geteuid() != 0)
        t_skip("not root: usherd could not change a child's ids or root");
}

static const struct passwd *need_user(const char *name)
{
    const struct passwd *pw = getpwnam(name);

    need_root();
    if (pw == NULL)
        t_skip("no user %s here", name);
    return pw;
}

static const struct group *need_group(const char *name)
{
    const struct group *gr = getgrnam(name);

    need_root();
    if (gr == NULL)
        t_skip("no group %s here", name);
    return gr;
}

static int by_gid(const void *a, const void *b)
{
    gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;

    return x < y ? -1 : x > y;
}

/* A "groups" value ("4 27 0") sorted, as "0 4 27". */
static char *sorted_groups(const char *text)
{
    gid_t g[256];
    int n = 0;
    char out[2048] = "", *end;
    size_t len = 0;

    for (const char *p = text; *p && n < 256; p = end) {
        g[n] = (gid_t)strtoul(p, &end, 10);
        if (end == p)
            break;
        n++;
    }
    qsort(g, (size_t)n, sizeof(*g), by_gid);
    for (int i = 0; i < n; i++)
        if (i == 0 || g[i] != g[i - 1])
            len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%u", len ? " " : "", g[i]);
    return strdup(out);
}

static void still_serving(const struct h_daemon *d)
{
    int fd = h_connect(h_addr(d, "echo", "tcp://127"));
    char buf[32];

    h_send_str(fd, "still serving");
    h_recv_exact(fd, buf, 13);
    T_EQ_MEM(buf, "still serving", 13);
    close(fd);
}

/* Connect to an exec service whose child fails before exec; expect the close. */
static void expect_closed(const struct h_daemon *d, const char *svc)
{
    int fd = h_connect(h_addr(d, svc, "tcp://127"));

    if (!h_wait_closed(fd, 5000))
        T_FAIL("the connection of a child that could not start stays open");
    close(fd);
}

/* usherd (as in h_start) run by setpriv as `uid`:`gid` with no groups. */
static struct h_daemon *start_as(const char *conf, unsigned uid, unsigned gid)
{
    const char *wrapper[] = {"setpriv", h_fmt("--reuid=%u", uid), h_fmt("--regid=%u", gid),
                             "--clear-groups", NULL};

    need_root();
    if (!h_have("setpriv"))
        t_skip("no setpriv (util-linux) to start usherd unprivileged");
    return h_start_wrapped(conf, wrapper);
}

/* --- identity ----------------------------------------------------------------- */

static void test_user_and_group_drop_privileges(void)
{
    /* Scenario: user = nobody, group = nogroup.  Asserted: the child's real,
     * effective and saved uid are nobody's, its gids nogroup's, and its
     * supplementary groups are nobody's list (initgroups) built on nogroup:
     * nothing left of root. */
    const struct passwd *pw = need_user("nobody");
    const struct group *gr = need_group("nogroup");
    gid_t list[256];
    int n = 256;
    char want[2048] = "";
    size_t len = 0;
    struct h_daemon *d =
        h_start(exec_conf("drop", probe_report_cmd(), "user = nobody\ngroup = nogroup\n"), NULL);
    char *report = h_probe_report(h_addr(d, "drop", "tcp://127"));

    T_EQ_STR(h_probe_value(report, "uid"), h_fmt("%u %u %u", pw->pw_uid, pw->pw_uid, pw->pw_uid));
    T_EQ_STR(h_probe_value(report, "gid"), h_fmt("%u %u %u", gr->gr_gid, gr->gr_gid, gr->gr_gid));
    if (getgrouplist("nobody", gr->gr_gid, list, &n) < 0)
        T_FAIL("getgrouplist: more than 256 groups");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(want + len, sizeof(want) - len, "%s%u", len ? " " : "", list[i]);
    T_EQ_STR(sorted_groups(h_probe_value(report, "groups")), sorted_groups(want));
    T_ASSERT(strstr(h_fmt(" %s ", h_probe_value(report, "groups")), " 0 ") == NULL);
}

static void test_user_alone_takes_primary_group_and_its_groups(void)
{
    /* Scenario: user = nobody and no group key.  Asserted: the gid is
     * nobody's primary group from the password file, and the supplementary
     * groups are exactly getgrouplist(nobody, that gid). */
    const struct passwd *pw = need_user("nobody");
    gid_t list[256];
    int n = 256;
    char want[2048] = "";
    size_t len = 0;
    struct h_daemon *d = h_start(exec_conf("user", probe_report_cmd(), "user = nobody\n"), NULL);
    char *report = h_probe_report(h_addr(d, "user", "tcp://127"));

    T_EQ_STR(h_probe_value(report, "uid"), h_fmt("%u %u %u", pw->pw_uid, pw->pw_uid, pw->pw_uid));
    T_EQ_STR(h_probe_value(report, "gid"), h_fmt("%u %u %u", pw->pw_gid, pw->pw_gid, pw->pw_gid));
    if (getgrouplist("nobody", pw->pw_gid, list, &n) < 0)
        T_FAIL("getgrouplist: more than 256 groups");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(want + len, sizeof(want) - len, "%s%u", len ? " " : "", list[i]);
    T_EQ_STR(sorted_groups(h_probe_value(report, "groups")), sorted_groups(want));
}

/* The "Groups:" of a process, from /proc. */
static char *proc_groups(pid_t pid)
{
    char path[64], line[1024];
    FILE *f;
    char *out = NULL;

    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    if ((f = fopen(path, "r")) == NULL)
        T_FAIL("%s: %s", path, strerror(errno));
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "Groups:", 7) == 0)
            out = sorted_groups(line + 7);
    fclose(f);
    return out ? out : strdup("");
}

static void test_group_alone_replaces_supplementary_groups(void)
{
    /* Scenario: usherd runs as root with supplementary groups 4 and 27
     * (inherited from the test); the service has group = nogroup and no
     * user.  Asserted: usherd does hold 4 and 27 (the setup worked); the
     * child keeps uid 0, has gid nogroup, and its only group is nogroup. */
    const struct group *gr = need_group("nogroup");
    gid_t groups[] = {0, 4, 27};
    struct h_daemon *d;
    char *report;

    if (setgroups(3, groups) < 0)
        t_skip("setgroups: %s", strerror(errno));
    d = h_start(exec_conf("grp", probe_report_cmd(), "group = nogroup\n"), NULL);
    T_EQ_STR(proc_groups(d->pid), "0 4 27");
    report = h_probe_report(h_addr(d, "grp", "tcp://127"));
    T_EQ_STR(h_probe_value(report, "uid"), "0 0 0");
    T_EQ_STR(h_probe_value(report, "gid"), h_fmt("%u %u %u", gr->gr_gid, gr->gr_gid, gr->gr_gid));
    T_EQ_STR(h_probe_value(report, "groups"), h_fmt("%u", gr->gr_gid));
}

static void test_user_sets_the_login_variables(void)
{
    /* Scenario: exec = /usr/bin/env with user = nobody, and a second
     * service also setting env = HOME=/srv/x.  Asserted: the program's
     * environment has HOME, USER, LOGNAME and SHELL of nobody's password
     * entry; in the second, HOME is /srv/x (the service's env wins). */
    const struct passwd *pw = need_user("nobody");
    char *home = h_fmt("HOME=%s\n", pw->pw_dir), *user = h_fmt("USER=%s\n", pw->pw_name),
         *logname = h_fmt("LOGNAME=%s\n", pw->pw_name),
         *shell = h_fmt("SHELL=%s\n", pw->pw_shell[0] ? pw->pw_shell : "/bin/sh");
    struct h_daemon *d = h_start(h_fmt("%s[mine]\nlisten = tcp://127.0.0.1:0\nexec = /usr/bin/env\n"
                                       "user = nobody\nenv = HOME=/srv/x\n",
                                       exec_conf("env", "/usr/bin/env", "user = nobody\n")),
                                 NULL);
    char buf[8192];
    int fd = h_connect(h_addr(d, "env", "tcp://127"));

    buf[h_recv_all(fd, buf, sizeof(buf) - 1)] = '\0';
    close(fd);
    T_CONTAINS(buf, home);
    T_CONTAINS(buf, user);
    T_CONTAINS(buf, logname);
    T_CONTAINS(buf, shell);
    fd = h_connect(h_addr(d, "mine", "tcp://127"));
    buf[h_recv_all(fd, buf, sizeof(buf) - 1)] = '\0';
    close(fd);
    T_CONTAINS(buf, "HOME=/srv/x\n");
    T_ASSERT(strstr(buf, home) == NULL);
    T_CONTAINS(buf, user);
}

static void test_group_by_number(void)
{
    /* Scenario: group = 4242, a gid with no name.  Asserted: the child's
     * gids are all 4242 and its only group is 4242. */
    struct h_daemon *d;
    char *report;

    need_root();
    d = h_start(exec_conf("gid", probe_report_cmd(), "group = 4242\n"), NULL);
    report = h_probe_report(h_addr(d, "gid", "tcp://127"));

    T_EQ_STR(h_probe_value(report, "gid"), "4242 4242 4242");
    T_EQ_STR(h_probe_value(report, "groups"), "4242");
}

static void test_group_sets_unix_socket_file_group_too(void)
{
    /* Scenario: an exec service on unix:DIR/g.sock with group = nogroup.
     * Asserted: the socket file belongs to group nogroup, and the child
     * runs with gid nogroup. */
    const struct group *gr = need_group("nogroup");
    struct h_daemon *d = h_start(h_fmt("[g]\nlisten = unix:@DIR@/g.sock\nexec = %s\n"
                                       "group = nogroup\n",
                                       probe_report_cmd()),
                                 NULL);
    struct stat st;
    char *report;

    if (stat(h_fmt("%s/g.sock", d->dir), &st) < 0)
        T_FAIL("stat %s/g.sock: %s", d->dir, strerror(errno));
    T_EQ_INT(st.st_gid, gr->gr_gid);
    report = h_probe_report(h_addr(d, "g", "unix:"));
    T_EQ_STR(h_probe_value(report, "gid"), h_fmt("%u %u %u", gr->gr_gid, gr->gr_gid, gr->gr_gid));
}

static void test_unknown_user_or_group_is_config_error(void)
{
    /* Scenario: user = no-such-user, then (another file) group =
     * no-such-group, checked with -t.  Asserted: exit 2 and
     * "FILE:4: user: no such user 'no-such-user'", likewise for the group. */
    char *out;
    int code;

    code = h_usherd_run(exec_conf("u", "/bin/true", "user = no-such-user\n"), &out, "-t", NULL);
    T_EQ_INT(code, 2);
    T_CONTAINS(out, "usherd.conf:4: user: no such user 'no-such-user'");
    code = h_usherd_run(exec_conf("g", "/bin/true", "group = no-such-group\n"), &out, "-t", NULL);
    T_EQ_INT(code, 2);
    T_CONTAINS(out, "usherd.conf:4: group: no such group 'no-such-group'");
}

/* --- chroot ------------------------------------------------------------------- */

/* DIR/jail with a static probe in it and a marker file; returns the jail's path. */
static char *make_jail(void)
{
    char *jail = h_fmt("%s/jail", h_tmpdir());
    static const char *const flags[] = {"-static", NULL};

    need_root();
    if (mkdir(jail, 0755) < 0)
        T_FAIL("mkdir %s: %s", jail, strerror(errno));
    if (h_compile("tests/lib/exec_probe.c", "jail/probe", flags) == NULL)
        t_skip("static linking is not available here (for a program to run in a chroot)");
    h_write_file(h_fmt("%s/marker", jail), "inside\n");
    return jail;
}

static void test_chroot_confines_the_child(void)
{
    /* Scenario: chroot = DIR/jail holding a static probe and a file
     * "marker"; exec = /probe report (a path inside the jail).  Asserted:
     * the child runs there: "/" holds exactly marker and probe, its working
     * directory is "/", and it still has exactly fds 0, 1, 2. */
    char *jail = make_jail();
    struct h_daemon *d =
        h_start(exec_conf("jail", "/probe report", h_fmt("chroot = %s\n", jail)), NULL);
    char *report = h_probe_report(h_addr(d, "jail", "tcp://127"));

    T_EQ_STR(h_probe_value(report, "rootdir"), "marker probe");
    T_EQ_STR(h_probe_value(report, "cwd"), "/");
    T_EQ_STR(h_probe_value(report, "fd 0"), "?"); /* no /proc in the jail: probed one by one */
    T_EQ_STR(h_probe_value(report, "fd 1"), "?");
    T_EQ_STR(h_probe_value(report, "fd 2"), "?");
    T_ASSERT(h_line_value(report, "fd 3") == NULL);
}

static void test_chroot_then_user(void)
{
    /* Scenario: chroot = DIR/jail (no /etc inside) with user = nobody and
     * group = nogroup.  Asserted: the ids are still nobody's and nogroup's
     * (looked up by usherd, not in the jail), inside the jail. */
    const struct passwd *pw = need_user("nobody");
    const struct group *gr = need_group("nogroup");
    char *jail = make_jail();
    struct h_daemon *d =
        h_start(exec_conf("jail", "/probe report",
                          h_fmt("chroot = %s\nuser = nobody\ngroup = nogroup\n", jail)),
                NULL);
    char *report = h_probe_report(h_addr(d, "jail", "tcp://127"));

    T_EQ_STR(h_probe_value(report, "rootdir"), "marker probe");
    T_EQ_STR(h_probe_value(report, "uid"), h_fmt("%u %u %u", pw->pw_uid, pw->pw_uid, pw->pw_uid));
    T_EQ_STR(h_probe_value(report, "gid"), h_fmt("%u %u %u", gr->gr_gid, gr->gr_gid, gr->gr_gid));
}

static void test_chroot_missing_directory_fails_the_child(void)
{
    /* Scenario: chroot = DIR/jail, there when usherd starts and moved away
     * before the connection.  Asserted: the connection is closed, the log
     * says "service=jail pid=PID: unable to chroot: No such file or
     * directory", the exit is end=exit:111, and usherd still serves. */
    char *jail = make_jail();
    struct h_daemon *d;
    char *line;

    d = h_start(h_fmt("%s%s", exec_conf("jail", "/probe report", h_fmt("chroot = %s\n", jail)),
                      ECHO_SECTION),
                NULL);
    T_ASSERT(rename(jail, h_fmt("%s.moved", jail)) == 0);
    expect_closed(d, "jail");
    line = h_wait_conn_line(d, "jail", "end=exit:111", 5000);
    T_EQ_INT(h_count_log(d, h_fmt("usherd: warning: service=jail pid=%lld: unable to chroot: No "
                                  "such file or directory",
                                  h_log_field(line, "pid"))),
             1);
    still_serving(d);
}

static void test_chroot_checked_with_the_config(void)
{
    /* Scenario: usherd -t with chroot = DIR/no-such-dir, then with a jail
     * that exists but lacks the program (/bin/true is outside it).
     * Asserted: exit 2 and "FILE:4: chroot: DIR/no-such-dir: No such file
     * or directory", then "FILE:3: exec: JAIL/bin/true: No such file or
     * directory" (the program is looked for inside the jail). */
    char *missing = h_fmt("%s/no-such-dir", h_tmpdir()), *jail = make_jail(), *out;
    int code;

    code = h_usherd_run(exec_conf("jail", "/bin/true", h_fmt("chroot = %s\n", missing)), &out, "-t",
                        NULL);
    T_EQ_INT(code, 2);
    T_CONTAINS(out, h_fmt("usherd.conf:4: chroot: %s: No such file or directory", missing));
    free(out);
    code = h_usherd_run(exec_conf("jail", "/bin/true", h_fmt("chroot = %s\n", jail)), &out, "-t",
                        NULL);
    T_EQ_INT(code, 2);
    T_CONTAINS(out, h_fmt("usherd.conf:3: exec: %s/bin/true: No such file or directory", jail));
    free(out);
}

static void test_bare_program_name_found_in_sbin(void)
{
    /* Scenario: a jail whose only program is JAIL/usr/sbin/usher-probe
     * (inetd's daemons live in sbin); exec = usher-probe report, a bare
     * name.  Asserted: -t says "configuration ok", and a connection gets
     * the probe's report (it ran, from inside the jail). */
    char *jail = make_jail(), *out, *conf;
    struct h_daemon *d;

    T_ASSERT(mkdir(h_fmt("%s/usr", jail), 0755) == 0);
    T_ASSERT(mkdir(h_fmt("%s/usr/sbin", jail), 0755) == 0);
    T_ASSERT(rename(h_fmt("%s/probe", jail), h_fmt("%s/usr/sbin/usher-probe", jail)) == 0);
    conf = exec_conf("jail", "usher-probe report", h_fmt("chroot = %s\n", jail));
    T_EQ_INT(h_usherd_run(conf, &out, "-t", NULL), 0);
    T_CONTAINS(out, "configuration ok");
    free(out);
    d = h_start(conf, NULL);
    T_EQ_STR(h_probe_value(h_probe_report(h_addr(d, "jail", "tcp://127")), "rootdir"),
             "marker usr");
}

/* --- failures when usherd is not root ----------------------------------------- */

static void test_setuid_failure_logged_and_closed(void)
{
    /* Scenario: usherd runs as nobody:nogroup (setpriv); the service says
     * user = root, group = nogroup, so setgid succeeds and setuid(0) must
     * fail.  Asserted: the connection is closed, the log says
     * "service=su pid=PID: unable to set the user id: Operation not
     * permitted", end=exit:111, and usherd still serves. */
    const struct passwd *pw = need_user("nobody");
    const struct group *gr = need_group("nogroup");
    struct h_daemon *d = start_as(
        h_fmt("%s%s", exec_conf("su", "/bin/true", "user = root\ngroup = nogroup\n"), ECHO_SECTION),
        pw->pw_uid, gr->gr_gid);
    char *line;

    expect_closed(d, "su");
    line = h_wait_conn_line(d, "su", "end=exit:111", 5000);
    T_EQ_INT(
        h_count_log(d, h_fmt("usherd: warning: service=su pid=%lld: unable to set the user id: "
                             "Operation not permitted",
                             h_log_field(line, "pid"))),
        1);
    still_serving(d);
}

static void test_setgid_failure_logged_and_closed(void)
{
    /* Scenario: usherd runs as nobody:nogroup; the service says group =
     * root.  Asserted: "unable to set the group id: Operation not
     * permitted", end=exit:111, the connection closed, usherd serving. */
    const struct passwd *pw = need_user("nobody");
    const struct group *gr = need_group("nogroup");
    struct h_daemon *d =
        start_as(h_fmt("%s%s", exec_conf("sg", "/bin/true", "group = root\n"), ECHO_SECTION),
                 pw->pw_uid, gr->gr_gid);
    char *line;

    expect_closed(d, "sg");
    line = h_wait_conn_line(d, "sg", "end=exit:111", 5000);
    T_EQ_INT(h_count_log(d, h_fmt("usherd: warning: service=sg pid=%lld: unable to set the group "
                                  "id: Operation not permitted",
                                  h_log_field(line, "pid"))),
             1);
    still_serving(d);
}

static void test_unprivileged_usherd_may_name_its_own_user(void)
{
    /* Scenario: usherd runs as nobody:nogroup; the service says user =
     * nobody, group = nogroup (what it already is).  Asserted: the child
     * starts (no setgroups attempted without privilege) and runs as
     * nobody:nogroup. */
    const struct passwd *pw = need_user("nobody");
    const struct group *gr = need_group("nogroup");
    struct h_daemon *d =
        start_as(exec_conf("self", probe_report_cmd(), "user = nobody\ngroup = nogroup\n"),
                 pw->pw_uid, gr->gr_gid);
    char *report;

    report = h_probe_report(h_addr(d, "self", "tcp://127"));
    T_EQ_STR(h_probe_value(report, "uid"), h_fmt("%u %u %u", pw->pw_uid, pw->pw_uid, pw->pw_uid));
    T_EQ_STR(h_probe_value(report, "gid"), h_fmt("%u %u %u", gr->gr_gid, gr->gr_gid, gr->gr_gid));
}

static void test_spawn_eagain_logged_and_survived(void)
{
    /* Scenario: usherd runs as an otherwise unused uid with RLIMIT_NPROC = 1
     * (itself), so no child can be made: fork/clone fails with EAGAIN.
     * Asserted: the connection is closed at once, logged end=error:EAGAIN
     * with a warning "unable to start a child: Resource temporarily
     * unavailable", no child counted, and usherd still serves (echo) and
     * keeps refusing cleanly (a second try, the same). */
    struct rlimit rl = {1, 1};
    const unsigned uid = 54321;
    struct h_daemon *d;

    if (getpwuid(uid) != NULL)
        t_skip("uid %u is in use here", uid);
    if (setrlimit(RLIMIT_NPROC, &rl) < 0)
        t_skip("setrlimit(RLIMIT_NPROC): %s", strerror(errno));
    d = start_as(h_fmt("%s%s", exec_conf("nproc", "/bin/true", NULL), ECHO_SECTION), uid, uid);
    expect_closed(d, "nproc");
    h_wait_conn_line(d, "nproc", "end=error:EAGAIN", 5000);
    T_ASSERT(h_count_log(d, "usherd: warning: service=nproc: unable to start a child: Resource "
                            "temporarily unavailable") == 1);
    still_serving(d);
    expect_closed(d, "nproc");
    if (!h_wait_log_count(d, "end=error:EAGAIN", 2, 5000))
        T_FAIL("the second refusal was not logged:\n%s", h_log(d));
    T_ASSERT(strstr(h_stats(d, "nproc"), " children=0") != NULL);
    T_ASSERT(h_alive(d));
}

static const struct t_case cases[] = {
    T_CASE(test_user_and_group_drop_privileges),
    T_CASE(test_user_alone_takes_primary_group_and_its_groups),
    T_CASE(test_group_alone_replaces_supplementary_groups),
    T_CASE(test_user_sets_the_login_variables),
    T_CASE(test_group_by_number),
    T_CASE(test_group_sets_unix_socket_file_group_too),
    T_CASE(test_unknown_user_or_group_is_config_error),
    T_CASE(test_chroot_confines_the_child),
    T_CASE(test_chroot_then_user),
    T_CASE(test_chroot_missing_directory_fails_the_child),
    T_CASE(test_chroot_checked_with_the_config),
    T_CASE(test_bare_program_name_found_in_sbin),
    T_CASE(test_setuid_failure_logged_and_closed),
    T_CASE(test_setgid_failure_logged_and_closed),
    T_CASE(test_unprivileged_usherd_may_name_its_own_user),
    T_CASE(test_spawn_eagain_logged_and_survived),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
