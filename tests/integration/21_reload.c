/*
 * Reload on SIGHUP (SPEC 8.3, 9): under a load of short transactions, 20
 * reloads lose none; a bad file keeps the configuration in force and logs
 * FILE:LINE; listeners whose address is unchanged keep their socket,
 * removed ones close while their open connections go on, new ones bind;
 * a changed service applies to new connections only; a listener that
 * cannot be bound leaves everything as it was; the summary line counts
 * what changed; a detached daemon re-reads the file it was started with.
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Two configurations a reload alternates between: the echo addresses stay,
 * its idle_timeout changes, and "extra" comes and goes. */
static const char conf_a[] = "[echo]\nlisten = tcp://127.0.0.1:0 udp://127.0.0.1:0\n"
                             "builtin = echo\nidle_timeout = 60s\n"
                             "[extra]\nlisten = tcp://127.0.0.1:0 unix:@DIR@/extra.sock\n"
                             "builtin = discard\n";
static const char conf_b[] = "[echo]\nlisten = tcp://127.0.0.1:0 udp://127.0.0.1:0\n"
                             "builtin = echo\nidle_timeout = 30s\n";

/* Replace the daemon's configuration file, whole (rename), with `text`
 * ("@DIR@" -> the daemon's directory). */
static void rewrite_conf(const struct h_daemon *d, const char *text)
{
    char buf[8192], tmp[400];
    size_t len = 0;

    for (const char *p = text; *p && len + 400 < sizeof(buf);) {
        if (strncmp(p, "@DIR@", 5) == 0) {
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s", d->dir);
            p += 5;
        } else {
            buf[len++] = *p++;
        }
    }
    buf[len] = '\0';
    snprintf(tmp, sizeof(tmp), "%s.new", d->conf_path);
    h_write_file(tmp, buf);
    if (rename(tmp, d->conf_path) < 0)
        T_FAIL("rename %s: %s", tmp, strerror(errno));
}

/* The realpath of the configuration, as usherd names it in its log. */
static const char *conf_name(const struct h_daemon *d)
{
    static char path[PATH_MAX];

    if (realpath(d->conf_path, path) == NULL)
        T_FAIL("realpath %s: %s", d->conf_path, strerror(errno));
    return path;
}

/* SIGHUP, then wait for the n-th "reloaded" or "reload failed" line. */
static void reload(const struct h_daemon *d, const char *needle, int n)
{
    h_kill(d, SIGHUP);
    if (!h_wait_log_count(d, needle, n, 5000))
        T_FAIL("no %d-th \"%s\" within 5 s of SIGHUP:\n%s", n, needle, h_log(d));
}

/* One request line, one reply line. */
static void ask(int fd, const char *line, const char *want)
{
    char buf[256];

    h_send_str(fd, line);
    h_recv_line(fd, buf, sizeof(buf));
    T_EQ_STR(buf, want);
}

/* --- under load ----------------------------------------------------------------- */

enum { TCP_CLIENTS = 2, UDP_CLIENTS = 1, CLIENTS = TCP_CLIENTS + UDP_CLIENTS };

/* Shared between the client processes and the test. */
struct load {
    atomic_long done[CLIENTS];   /* transactions completed, right */
    atomic_long failed[CLIENTS]; /* connect, send, receive failures and wrong replies */
    atomic_long resets[CLIENTS]; /* of them, ECONNRESET */
    atomic_int stop;
    char first_error[CLIENTS][160];
};

static void note_failure(struct load *ld, int id, const char *what, int err)
{
    if (err == ECONNRESET)
        atomic_fetch_add(&ld->resets[id], 1);
    if (atomic_fetch_add(&ld->failed[id], 1) == 0)
        snprintf(ld->first_error[id], sizeof(ld->first_error[id]), "%s: %s", what,
                 err ? strerror(err) : "wrong reply");
}

/* connect, request, reply, close; without pause until told to stop. */
static void tcp_client(struct load *ld, int id, const char *addr)
{
    char req[64], reply[64];

    for (long n = 0; !atomic_load(&ld->stop); n++) {
        int len = snprintf(req, sizeof(req), "client %d transaction %ld\n", id, n);
        int fd = h_connect_raw(addr);
        ssize_t got;
        if (fd < 0) {
            note_failure(ld, id, "connect", errno);
            continue;
        }
        if (write_all(fd, req, (size_t)len) < 0) {
            note_failure(ld, id, "send", errno);
        } else if ((got = read_full(fd, reply, (size_t)len)) != len) {
            note_failure(ld, id, got < 0 ? "recv" : "recv (EOF)", got < 0 ? errno : 0);
        } else if (memcmp(req, reply, (size_t)len) != 0) {
            note_failure(ld, id, "echo", 0);
        } else {
            atomic_fetch_add(&ld->done[id], 1);
        }
        close(fd);
    }
}

/* Datagram request, reply (2 s bound), in lockstep. */
static void udp_client(struct load *ld, int id, const char *addr)
{
    int fd = h_connect_raw(addr);
    char req[64], reply[64];

    if (fd < 0) {
        note_failure(ld, id, "socket", errno);
        return;
    }
    for (long n = 0; !atomic_load(&ld->stop); n++) {
        int len = snprintf(req, sizeof(req), "client %d datagram %ld", id, n);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t got;
        if (send(fd, req, (size_t)len, 0) != len) {
            note_failure(ld, id, "send", errno);
            continue;
        }
        if (poll(&p, 1, 2000 * (int)t_scale()) <= 0) {
            note_failure(ld, id, "no reply within 2 s", ETIMEDOUT);
            continue;
        }
        got = recv(fd, reply, sizeof(reply), 0);
        if (got != len || memcmp(req, reply, (size_t)len) != 0)
            note_failure(ld, id, "udp echo", got < 0 ? errno : 0);
        else
            atomic_fetch_add(&ld->done[id], 1);
    }
    close(fd);
}

static long total(atomic_long *v)
{
    long sum = 0;

    for (int i = 0; i < CLIENTS; i++)
        sum += atomic_load(&v[i]);
    return sum;
}

/* Wait until the clients have done `more` transactions beyond `since`;
 * false at the first failure, or after 5 s. */
static bool wait_progress(struct load *ld, long since, long more)
{
    int64_t until = h_now_ms() + 5000 * (int64_t)t_scale();

    while (total(ld->done) < since + more) {
        if (total(ld->failed) > 0 || h_now_ms() > until)
            return false;
        usleep(1000);
    }
    return true;
}

static void test_reloads_under_load_lose_no_transaction(void)
{
    /* Scenario: two TCP clients do connect-request-reply-close echo
     * transactions without pause, and a UDP client request-reply datagrams,
     * while 20 reloads alternate two configurations (the echo addresses
     * stay; idle_timeout changes; a second service with a TCP and a Unix
     * listener comes and goes), each reload after at least 250 more
     * transactions.  Asserted: every reload is logged as done, none failed;
     * zero failed transactions, zero resets.  The figures are printed. */
    enum { RELOADS = 20, BETWEEN = 250 };
    struct h_daemon *d = h_start(conf_a, NULL);
    char tcp[160], udp[160];
    struct load *ld =
        mmap(NULL, sizeof(*ld), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t pids[CLIENTS];
    int64_t start;
    long tcp_done = 0, udp_done = 0;
    bool progressing;
    int reloads;

    T_ASSERT(ld != MAP_FAILED);
    memset(ld, 0, sizeof(*ld));
    snprintf(tcp, sizeof(tcp), "%s", h_addr(d, "echo", "tcp://"));
    snprintf(udp, sizeof(udp), "%s", h_addr(d, "echo", "udp://"));
    for (int i = 0; i < CLIENTS; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            T_FAIL("fork: %s", strerror(errno));
        if (pids[i] == 0) {
            if (i < TCP_CLIENTS)
                tcp_client(ld, i, tcp);
            else
                udp_client(ld, i, udp);
            _exit(0);
        }
    }
    start = h_now_ms();
    progressing = wait_progress(ld, 0, BETWEEN);
    for (reloads = 0; progressing && reloads < RELOADS; reloads++) {
        long before = total(ld->done);
        rewrite_conf(d, reloads % 2 ? conf_a : conf_b);
        reload(d, "usherd: reloaded ", reloads + 1);
        progressing = wait_progress(ld, before, BETWEEN);
    }
    atomic_store(&ld->stop, 1);
    for (int i = 0; i < CLIENTS; i++)
        waitpid(pids[i], NULL, 0);
    for (int i = 0; i < CLIENTS; i++)
        *(i < TCP_CLIENTS ? &tcp_done : &udp_done) += atomic_load(&ld->done[i]);
    t_note("reload under load: %d reloads in %lld ms; %ld TCP transactions, %ld UDP "
           "transactions; %ld failed, %ld resets",
           reloads, (long long)(h_now_ms() - start), tcp_done, udp_done, total(ld->failed),
           total(ld->resets));
    for (int i = 0; i < CLIENTS; i++)
        if (ld->first_error[i][0] != '\0')
            t_note("client %d: %ld failed, first: %s", i, atomic_load(&ld->failed[i]),
                   ld->first_error[i]);
    T_EQ_INT(total(ld->failed), 0);
    T_EQ_INT(total(ld->resets), 0);
    if (!progressing)
        T_FAIL("the clients stalled: no %d transactions within 5 s", BETWEEN);
    T_EQ_INT(h_count_log(d, "reload failed"), 0);
    T_EQ_INT(h_count_log(d, "usherd: reloaded "), RELOADS);
    T_ASSERT(udp_done > 0 && tcp_done > 0);
    T_ASSERT(h_alive(d));
}

/* --- what a reload changes ----------------------------------------------------- */

/* Reload `d` to `conf` (its nth reload); its summary line must be
 * "usherd: reloaded FILE: SUMMARY". */
static void reload_to(struct h_daemon *d, const char *conf, int nth, const char *summary)
{
    char want[PATH_MAX + 200];

    rewrite_conf(d, conf);
    reload(d, "usherd: reloaded ", nth);
    snprintf(want, sizeof(want), "usherd: reloaded %s: %s", conf_name(d), summary);
    T_EQ_STR(h_log_line(d, "usherd: reloaded "), want);
}

static void test_summary_line_counts_services_and_listeners(void)
{
    /* Scenario: configuration A (echo on TCP+UDP, extra on TCP+Unix), reload
     * to B (echo with another idle_timeout, no extra), then back to A.
     * Asserted: the summary lines are exactly "reloaded FILE: services 1
     * (added 0, removed 1, changed 1); listeners kept 2, opened 0, closed 2"
     * and "reloaded FILE: services 2 (added 1, removed 0, changed 1);
     * listeners kept 2, opened 2, closed 0", FILE the absolute path. */
    struct h_daemon *d = h_start(conf_a, NULL);

    reload_to(d, conf_b, 1,
              "services 1 (added 0, removed 1, changed 1); listeners kept 2, opened 0, closed 2");
    reload_to(d, conf_a, 2,
              "services 2 (added 1, removed 0, changed 1); listeners kept 2, opened 2, closed 0");
}

static void test_unchanged_listener_keeps_its_socket(void)
{
    /* Scenario: echo on tcp://127.0.0.1:0; reload to a configuration where
     * only its idle_timeout differs.  Asserted: the same socket (inode in
     * /proc/net/tcp) listens on the same port after the reload, and no new
     * "listening" line was logged for it. */
    struct h_daemon *d = h_start(conf_a, NULL);
    int port = h_port(h_addr(d, "echo", "tcp://"));
    unsigned long before = h_tcp_listen_inode(port), after;

    T_ASSERT(before != 0);
    rewrite_conf(d, conf_b);
    reload(d, "usherd: reloaded ", 1);
    after = h_tcp_listen_inode(port);
    T_EQ_INT(after, before);
    T_EQ_INT(h_count_log(d, "listening service=echo "), 2); /* tcp and udp, at start only */
}

static void test_new_listener_binds_on_reload(void)
{
    /* Scenario: start with B (echo only), reload to A (adds extra on TCP and a
     * Unix socket).  Asserted: "listening service=extra" lines for both
     * addresses, and both take connections. */
    struct h_daemon *d = h_start(conf_b, NULL);
    int fd;

    rewrite_conf(d, conf_a);
    reload(d, "usherd: reloaded ", 1);
    h_parse_listens(d);
    fd = h_connect(h_addr(d, "extra", "tcp://127.0.0.1:"));
    close(fd);
    fd = h_connect(h_addr(d, "extra", "unix:"));
    close(fd);
}

static void test_syntax_error_keeps_old_config_and_logs_file_line(void)
{
    /* Scenario: A is in force; the file is replaced by one with an unknown
     * key on line 5 (and without extra); SIGHUP.  Asserted: the log says
     * "error: reload failed: the configuration in force stays", then
     * "error: FILE:5: unknown key 'bogus'"; extra still takes connections,
     * echo still echoes; no "reloaded" line. */
    struct h_daemon *d = h_start(conf_a, NULL);
    char want[PATH_MAX + 100], *log, *failed, *detail;
    int fd;

    rewrite_conf(d, "[echo]\nlisten = tcp://127.0.0.1:0 udp://127.0.0.1:0\n"
                    "builtin = echo\nidle_timeout = 30s\nbogus = 1\n");
    reload(d, "usherd: error: reload failed: the configuration in force stays", 1);
    snprintf(want, sizeof(want), "usherd: error: %s:5: unknown key 'bogus'", conf_name(d));
    if (!h_wait_log(d, want, 2000))
        T_FAIL("no \"%s\" in the log:\n%s", want, h_log(d));
    log = h_log(d);
    failed = strstr(log, "reload failed");
    detail = strstr(log, want);
    T_ASSERT(failed != NULL && detail != NULL && failed < detail);
    T_EQ_INT(h_count_log(d, "usherd: reloaded "), 0);
    fd = h_connect(h_addr(d, "extra", "tcp://"));
    close(fd);
    fd = h_connect(h_addr(d, "echo", "tcp://"));
    h_echo_roundtrip(fd, "still the old config");
    close(fd);
}

static void test_fifo_in_place_of_the_file_keeps_serving(void)
{
    /* Scenario: A is in force; the file is replaced by a FIFO that no one
     * writes; SIGHUP.  Asserted: "reload failed" and "FILE: a FIFO, not a
     * regular file" are logged (the open does not wait for a writer), echo
     * still echoes, and SIGTERM still stops the daemon, exit 0. */
    struct h_daemon *d = h_start(conf_a, NULL);
    char tmp[400], want[PATH_MAX + 100];
    int fd;

    snprintf(tmp, sizeof(tmp), "%s.fifo", d->conf_path);
    if (mkfifo(tmp, 0600) < 0 || rename(tmp, d->conf_path) < 0)
        T_FAIL("a FIFO at %s: %s", d->conf_path, strerror(errno));
    reload(d, "usherd: error: reload failed: the configuration in force stays", 1);
    snprintf(want, sizeof(want), "usherd: error: %s: a FIFO, not a regular file", conf_name(d));
    if (!h_wait_log(d, want, 2000))
        T_FAIL("no \"%s\" in the log:\n%s", want, h_log(d));
    fd = h_connect(h_addr(d, "echo", "tcp://"));
    h_echo_roundtrip(fd, "still serving");
    close(fd);
    T_EQ_INT(h_stop(d), 0);
}

static void test_removed_listener_closes_but_its_connection_goes_on(void)
{
    /* Scenario: services echo and gone (echo too); a connection to gone is
     * open; reload to a configuration without gone.  Asserted: "closed
     * service=gone addr=ADDR" is logged; new connections to ADDR are
     * refused; the open connection still echoes, and when it ends it is
     * logged as service=gone end=closed. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "[gone]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n",
                                 NULL);
    char addr[160], want[200];
    int fd;

    snprintf(addr, sizeof(addr), "%s", h_addr(d, "gone", "tcp://"));
    fd = h_connect(addr);
    h_echo_roundtrip(fd, "before");
    rewrite_conf(d, "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n");
    reload(d, "usherd: reloaded ", 1);
    snprintf(want, sizeof(want), "usherd: closed service=gone addr=%s", addr);
    T_EQ_STR(h_log_line(d, "closed service="), want);
    h_wait_refused(addr, 2000, "the reload");
    h_echo_roundtrip(fd, "after the reload");
    h_echo_roundtrip(fd, "and still");
    close(fd);
    if (!h_wait_log(d, "service=gone proto=tcp", 5000))
        T_FAIL("the connection to gone was not logged when it ended:\n%s", h_log(d));
    T_CONTAINS(h_log_line(d, "service=gone proto=tcp"), "end=closed");
}

static void test_changed_builtin_applies_to_new_connections_only(void)
{
    /* Scenario: service svc is echo on tcp://127.0.0.1:0; a connection is
     * open; reload with svc = sum on the same address.  Asserted: a new
     * connection gets sums ("1 2" -> "3"), the open one still echoes. */
    struct h_daemon *d = h_start("[svc]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n", NULL);
    const char *addr = h_addr(d, "svc", "tcp://");
    int old = h_connect(addr), fresh;

    ask(old, "1 2\n", "1 2");
    rewrite_conf(d, "[svc]\nlisten = tcp://127.0.0.1:0\nbuiltin = sum\n");
    reload(d, "usherd: reloaded ", 1);
    fresh = h_connect(addr);
    ask(fresh, "1 2\n", "3");
    ask(old, "1 2\n", "1 2");
    ask(fresh, "40 2\n", "42");
}

static void test_changed_idle_timeout_applies_to_new_connections_only(void)
{
    /* Scenario: echo with idle_timeout = 60s, a connection open; reload with
     * idle_timeout = 1s; a second connection.  Asserted: the daemon closes
     * the second after about a second of quiet; the first, under the old
     * 60 s, is still open and echoing then. */
    struct h_daemon *d = h_start("[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n"
                                 "idle_timeout = 60s\n",
                                 NULL);
    const char *addr = h_addr(d, "echo", "tcp://");
    int old = h_connect(addr), fresh;
    int64_t quiet;

    h_echo_roundtrip(old, "hello");
    rewrite_conf(d, "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\nidle_timeout = 1s\n");
    reload(d, "usherd: reloaded ", 1);
    fresh = h_connect(addr);
    h_echo_roundtrip(fresh, "hi");
    quiet = h_now_ms();
    if (!h_wait_closed(fresh, 5000))
        T_FAIL("the new connection was still open after 5 s quiet (idle_timeout = 1s)");
    if (h_now_ms() - quiet < 900)
        T_FAIL("closed after %lld ms, before idle_timeout", (long long)(h_now_ms() - quiet));
    h_echo_roundtrip(old, "still here");
}

static void test_unbindable_new_listener_changes_nothing(void)
{
    /* Scenario: A is in force (echo, extra); the test holds a TCP port P.
     * The new file makes echo a sum service, drops extra, adds fresh (port
     * 0, bound first) and blocked (port P).  Asserted: "error: reload
     * failed: unable to bind tcp://127.0.0.1:P: Address already in use; the
     * configuration in force stays"; echo still echoes on new connections,
     * extra still takes them, nothing was closed or opened (same
     * descriptor count, no "listening service=fresh" line). */
    struct h_daemon *d = h_start(conf_a, NULL);
    char blocked[160], conf[1024], want[300];
    int taken = h_listen_socket("tcp://127.0.0.1:0", blocked, sizeof(blocked));
    int fds_before = h_count_fds(d->pid), fd;

    snprintf(conf, sizeof(conf),
             "[echo]\nlisten = tcp://127.0.0.1:0 udp://127.0.0.1:0\nbuiltin = sum\n"
             "[fresh]\nlisten = tcp://127.0.0.1:0 unix:@DIR@/fresh.sock\nbuiltin = echo\n"
             "[blocked]\nlisten = %s\nbuiltin = echo\n",
             blocked);
    rewrite_conf(d, conf);
    snprintf(want, sizeof(want),
             "usherd: error: reload failed: unable to bind %s: Address already in use; the "
             "configuration in force stays",
             blocked);
    reload(d, want, 1);
    T_EQ_INT(h_count_log(d, "usherd: reloaded "), 0);
    T_EQ_INT(h_count_log(d, "listening service=fresh"), 0);
    T_EQ_INT(h_count_log(d, "closed service="), 0);
    T_EQ_INT(h_count_fds(d->pid), fds_before);
    {
        char sock[400];
        snprintf(sock, sizeof(sock), "%s/fresh.sock", d->dir);
        T_ASSERT(access(sock, F_OK) < 0); /* no socket file left behind */
    }
    fd = h_connect(h_addr(d, "echo", "tcp://"));
    ask(fd, "1 2\n", "1 2");
    close(fd);
    fd = h_connect(h_addr(d, "extra", "tcp://"));
    close(fd);
    close(taken);
}

static void test_detached_daemon_rereads_its_file_after_chdir(void)
{
    /* Scenario: usherd -D -f rel.conf started in the directory holding
     * rel.conf (a relative path; the daemon then works in "/"); the file
     * gains a service on a Unix socket; SIGHUP.  Asserted: the reload reads
     * the same file by its absolute path ("reloaded /.../rel.conf") and
     * the new socket takes connections. */
    struct h_syslog *log;
    struct h_result front;
    struct h_daemon *d;
    char conf[600], path[400], text[PATH_MAX + 600], sock[400], abs_conf[PATH_MAX];
    int fd;

    snprintf(path, sizeof(path), "%s/syslog.sock", h_tmpdir());
    snprintf(conf, sizeof(conf), "%s/syslog.log", h_tmpdir());
    {
        char unix_addr[420];
        snprintf(unix_addr, sizeof(unix_addr), "unix:%s", path);
        log = h_syslog_start(unix_addr, conf);
    }
    snprintf(path, sizeof(path), "%s/rel.conf", h_tmpdir());
    snprintf(text, sizeof(text),
             "[global]\nlog = %s\n[echo]\nlisten = tcp://127.0.0.1:0\n"
             "builtin = echo\n",
             log->target);
    h_write_file(path, text);
    if (chdir(h_tmpdir()) < 0)
        T_FAIL("chdir: %s", strerror(errno));
    d = h_start_detached(NULL, "@DIR@/usherd.pid", &front, "-f", "rel.conf", "-p",
                         "@DIR@/usherd.pid", NULL);
    T_EQ_INT(front.exit_code, 0);
    T_ASSERT(h_wait_file(log->file, "]: ready: ", 1, 5000));
    snprintf(sock, sizeof(sock), "%s/new.sock", h_tmpdir());
    snprintf(text, sizeof(text),
             "[global]\nlog = %s\n[echo]\nlisten = tcp://127.0.0.1:0\n"
             "builtin = echo\n[new]\nlisten = unix:%s\nbuiltin = echo\n",
             log->target, sock);
    h_write_file(path, text);
    h_kill(d, SIGHUP);
    T_ASSERT(realpath(path, abs_conf) != NULL);
    snprintf(text, sizeof(text), "]: reloaded %s: services 2 (added 1,", abs_conf);
    if (!h_wait_file(log->file, text, 1, 5000))
        T_FAIL("no \"%s\" in the syslog:\n%s", text, h_read_file(log->file));
    snprintf(text, sizeof(text), "unix:%s", sock);
    fd = h_connect(text);
    h_echo_roundtrip(fd, "new");
    close(fd);
}

static const struct t_case cases[] = {
    T_CASE(test_reloads_under_load_lose_no_transaction),
    T_CASE(test_summary_line_counts_services_and_listeners),
    T_CASE(test_unchanged_listener_keeps_its_socket),
    T_CASE(test_new_listener_binds_on_reload),
    T_CASE(test_syntax_error_keeps_old_config_and_logs_file_line),
    T_CASE(test_fifo_in_place_of_the_file_keeps_serving),
    T_CASE(test_removed_listener_closes_but_its_connection_goes_on),
    T_CASE(test_changed_builtin_applies_to_new_connections_only),
    T_CASE(test_changed_idle_timeout_applies_to_new_connections_only),
    T_CASE(test_unbindable_new_listener_changes_nothing),
    T_CASE(test_detached_daemon_rereads_its_file_after_chdir),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
