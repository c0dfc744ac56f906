/*
 * The shipped files work together (SPEC 18, Packaging): contrib/usherd.conf.example
 * starts as contrib/usherd.service.in starts it, and the addresses of
 * contrib/usherd.socket are addresses of the example, so usherd takes the
 * sockets systemd passes.  The example's fixed ports and /run/usherd are
 * rewritten in a copy (free ports on 127.0.0.1, a directory of the test made
 * as RuntimeDirectory= makes /run/usherd), the rest of it as shipped.
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXAMPLE      "contrib/usherd.conf.example"
#define SERVICE_UNIT "contrib/usherd.service.in"
#define SOCKET_UNIT  "contrib/usherd.socket"

/* `text` with every `from` replaced by `to` (malloc'd). */
static char *subst(const char *text, const char *from, const char *to)
{
    size_t nfrom = strlen(from), nto = strlen(to), n = 0;
    const char *p;
    char *out, *o;

    for (p = strstr(text, from); p != NULL; p = strstr(p + nfrom, from))
        n++;
    out = malloc(strlen(text) + n * nto + 1);
    T_ASSERT(out != NULL);
    for (o = out; (p = strstr(text, from)) != NULL; text = p + nfrom) {
        memcpy(o, text, (size_t)(p - text));
        o += p - text;
        memcpy(o, to, nto);
        o += nto;
    }
    memcpy(o, text, strlen(text) + 1);
    return out;
}

static char *read_shipped(const char *path)
{
    char *text = h_read_file(path);

    if (text[0] == '\0')
        T_FAIL("cannot read %s (run from the top of the tree)", path);
    return text;
}

/* The fixed addresses of the example and the free ones that replace them. */
struct mapping {
    const char *shipped;
    char local[64];
};

static struct mapping example_map[] = {
    {"*:7", ""}, {"*:13", ""}, {"*:37", ""}, {"127.0.0.1:10111", ""}};

static const char *run_dir(void)
{
    static char dir[300];

    snprintf(dir, sizeof(dir), "%s/run/usherd", h_tmpdir());
    return dir;
}

/* The example, rewritten; its runtime directory made as systemd makes it. */
static char *example_here(void)
{
    char *text = read_shipped(EXAMPLE), *next, parent[300];

    for (size_t i = 0; i < ARRAY_LEN(example_map); i++) {
        snprintf(example_map[i].local, sizeof(example_map[i].local), "127.0.0.1:%d",
                 h_free_port("tcp"));
        next = subst(text, example_map[i].shipped, example_map[i].local);
        free(text);
        text = next;
    }
    T_ASSERT(strstr(text, "*:") == NULL); /* a new wildcard in the example: map it above */
    snprintf(parent, sizeof(parent), "%s/run", h_tmpdir());
    T_ASSERT(mkdir(parent, 0755) == 0 && mkdir(run_dir(), 0755) == 0);
    next = subst(text, "unix:/run/usherd/", h_fmt("unix:%s/", run_dir()));
    free(text);
    T_ASSERT(strstr(next, "unix:/run/") == NULL);
    return next;
}

static const char *local_of(const char *shipped)
{
    for (size_t i = 0; i < ARRAY_LEN(example_map); i++)
        if (strcmp(example_map[i].shipped, shipped) == 0)
            return example_map[i].local;
    T_FAIL("%s is not an address of %s", shipped, EXAMPLE);
}

static void sum_answers(const char *addr)
{
    char line[64];
    int fd = h_connect(addr);

    h_send_str(fd, "2 3\n");
    h_recv_line(fd, line, sizeof(line));
    T_EQ_STR(line, "5");
    close(fd);
}

static void test_example_starts_as_the_unit_starts_it(void)
{
    /* Scenario: the service unit makes /run/usherd (RuntimeDirectory=);
     * every Unix socket of the example lies in it; the example, rewritten,
     * starts.  Asserted: its sum service answers on the Unix socket and on
     * TCP, its echo service on TCP. */
    char *unit = read_shipped(SERVICE_UNIT), *example = read_shipped(EXAMPLE), *conf;
    struct h_daemon *d;
    int fd;

    T_ASSERT(strstr(unit, "\nRuntimeDirectory=usherd\n") != NULL);
    for (const char *p = strstr(example, "unix:"); p != NULL; p = strstr(p + 1, "unix:"))
        if (strncmp(p, "unix:/run/usherd/", 17) != 0)
            T_FAIL("%s: a Unix socket outside /run/usherd: %.40s", EXAMPLE, p);
    conf = example_here();
    d = h_start(conf, NULL);
    sum_answers(h_fmt("unix:%s/sum.sock", run_dir()));
    sum_answers(h_fmt("tcp://%s", local_of("127.0.0.1:10111")));
    fd = h_connect(h_fmt("tcp://%s", local_of("*:7")));
    h_echo_roundtrip(fd, "hello");
    close(fd);
    T_EQ_INT(h_stop(d), 0);
}

/* The value of the next `key` line of a unit file at or after *at, or NULL. */
static char *next_value(const char **at, const char *key)
{
    const char *p = *at, *end;

    while ((p = strstr(p, key)) != NULL && p != *at && p[-1] != '\n')
        p += strlen(key);
    if (p == NULL)
        return NULL;
    p += strlen(key);
    end = p + strcspn(p, "\n");
    *at = end;
    return strndup(p, (size_t)(end - p));
}

static void test_socket_unit_serves_the_example(void)
{
    /* Scenario: each ListenStream= of the socket unit is looked up among
     * the example's tcp:// addresses (ListenDatagram= would be udp://);
     * then `systemd-socket-activate -l ADDR usherd -f EXAMPLE`, ADDR
     * rewritten as the example is.  Asserted: the unit listens on
     * something, only on addresses of the example; usherd takes the socket
     * (no "matches no listen address" error) and sum answers on it. */
    static const char *const names[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS"};
    char *unit = read_shipped(SOCKET_UNIT), *example = read_shipped(EXAMPLE), *value, *conf;
    const char *wrapper[32], *at = unit, *addr = NULL;
    int n = 0, fd = -1;
    struct h_daemon *d;
    int64_t until;

    T_ASSERT(strstr(unit, "\nListenDatagram=") == NULL); /* none shipped: add its case here */
    wrapper[n++] = "systemd-socket-activate";
    while ((value = next_value(&at, "ListenStream=")) != NULL) {
        const char *found = strstr(example, h_fmt("tcp://%s", value));
        if (found == NULL || (found[6 + strlen(value)] != ' ' && found[6 + strlen(value)] != '\n'))
            T_FAIL("%s: ListenStream=%s is no listen address of %s", SOCKET_UNIT, value, EXAMPLE);
        T_ASSERT(n < 20);
        wrapper[n++] = "-l";
        wrapper[n++] = addr = local_of(value);
        free(value);
    }
    T_ASSERT(addr != NULL);
    h_need("systemd-socket-activate", "systemd");
    for (size_t i = 0; i < ARRAY_LEN(names); i++) /* it passes on no environment but these */
        if (getenv(names[i]) != NULL) {
            wrapper[n++] = "-E";
            wrapper[n++] = names[i];
        }
    wrapper[n] = NULL;
    conf = example_here();
    d = h_spawn_wrapped(conf, wrapper);
    for (until = h_now_ms() + 5000 * (int64_t)t_scale(); fd < 0; usleep(5000)) {
        fd = h_connect_raw(h_fmt("tcp://%s", addr));
        if (fd < 0 && h_now_ms() > until)
            T_FAIL("nothing listens on %s after 5 s:\n%s", addr, h_log(d));
    }
    close(fd); /* that connection started usherd */
    h_wait_ready(d);
    sum_answers(h_fmt("tcp://%s", addr));
    T_EQ_INT(h_count_log(d, "matches no"), 0);
    T_EQ_INT(h_stop(d), 0);
}

static void test_unit_reloads_through_the_control_socket(void)
{
    /* Scenario: the service unit's ExecStart= names a pidfile with -p in
     * its RuntimeDirectory (the rest of /run is read-only under
     * ProtectSystem=strict), and ExecReload= is usherd -s reload with the
     * same -p; the example starts with that -p (rewritten into the test's
     * directory), then the ExecReload command runs, the file good, then
     * broken.  Asserted: the control socket is beside the pidfile; the
     * reload exits 0 printing its summary; with an unknown key it exits 1
     * naming EXAMPLE:LINE, and the example still answers. */
    char *unit = read_shipped(SERVICE_UNIT), *conf;
    const char *pid_arg = " -p /run/usherd/usherd.pid", *at, *pidfile;
    const char *argv[] = {h_usherd(), "-s", "reload", "-p", NULL, NULL};
    struct h_daemon *d;
    struct h_result r;

    at = strstr(unit, "\nExecStart=");
    T_ASSERT(at != NULL);
    T_ASSERT(strstr(at, pid_arg) != NULL && strstr(at, pid_arg) < strchr(at + 1, '\n'));
    T_ASSERT(strstr(unit, h_fmt("\nExecReload=@SBINDIR@/usherd -s reload%s\n", pid_arg)) != NULL);
    conf = example_here();
    pidfile = h_fmt("%s/usherd.pid", run_dir());
    d = h_start(conf, "-p", pidfile, NULL);
    T_ASSERT(access(h_fmt("%s/usherd.sock", run_dir()), F_OK) == 0);
    argv[4] = pidfile;
    h_run(&r, NULL, 0, 20000, argv);
    T_EQ_INT(r.exit_code, 0);
    T_ASSERT(strncmp(r.out, "reloaded ", 9) == 0);
    h_write_file(d->conf_path, h_fmt("%sbogus = 1\n", conf));
    h_run(&r, NULL, 0, 20000, argv);
    T_EQ_INT(r.exit_code, 1);
    T_ASSERT(strstr(r.err, h_fmt("%s:", d->conf_path)) != NULL);
    T_ASSERT(strstr(r.err, "unknown key 'bogus'") != NULL);
    sum_answers(h_fmt("unix:%s/sum.sock", run_dir()));
    T_EQ_INT(h_stop(d), 0);
    free(conf);
    free(unit);
}

static const struct t_case cases[] = {
    T_CASE(test_example_starts_as_the_unit_starts_it),
    T_CASE(test_unit_reloads_through_the_control_socket),
    T_CASE(test_socket_unit_serves_the_example),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
