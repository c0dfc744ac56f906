/*
 * Certificates and keys across reloads and at -t (SPEC 12, 8.3): 20
 * certificate swaps (files rewritten, SIGHUP) while clients shake hands
 * without pause lose no handshake, and after each swap a new connection
 * gets the new certificate, in each concurrency model; an open connection
 * is untouched; a broken pair (key of another certificate, missing file)
 * makes the reload fail with FILE:LINE and the old certificate stays in
 * use; -t warns of a certificate expired or expiring within 14 days and
 * of a key file readable by group or others, exit 0; a key readable by
 * root alone serves an exec service that runs as nobody.
 */
#include "certs.h"
#include "harness.h"
#include "t.h"
#include "tlsc.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SAN "DNS:localhost,IP:127.0.0.1,IP:::1"

/* --- helpers ---------------------------------------------------------------- */

/* The pair the daemon is configured with: pki/live.pem, pki/live.key, made
 * anew with serial `serial` by each call. */
static struct certs_pair live(unsigned long serial)
{
    struct certs_pair p;

    certs_issue("live", "localhost", SAN, 30, serial, &p);
    return p;
}

/* [NAME] with builtin BUILTIN on tls://127.0.0.1:0 serving the live pair. */
static char *live_conf(const char *name, const char *builtin, const char *extra)
{
    struct certs_pair p = live(0x5000);

    return h_fmt("[%s]\nlisten = tls://127.0.0.1:0\nbuiltin = %s\ntls_cert = %s\ntls_key = %s\n%s",
                 name, builtin, p.cert, p.key, extra ? extra : "");
}

/* The realpath of the configuration, as usherd names it in its log. */
static const char *conf_name(const struct h_daemon *d)
{
    static char path[PATH_MAX];

    if (realpath(d->conf_path, path) == NULL)
        T_FAIL("realpath %s: %s", d->conf_path, strerror(errno));
    return path;
}

/* SIGHUP, then wait for the n-th `needle` ("usherd: reloaded ", "reload failed"). */
static void reload(const struct h_daemon *d, const char *needle, int n)
{
    h_kill(d, SIGHUP);
    if (!h_wait_log_count(d, needle, n, 10000))
        T_FAIL("no %d-th \"%s\" within 10 s of SIGHUP:\n%s", n, needle, h_log(d));
}

/* The serial of the certificate a new connection to `addr` gets. */
static char *served_serial(const char *addr)
{
    struct tlsc_opts o = {
        .ca = certs_get()->ca.cert, .verify_name = "localhost", .sni = "localhost"};
    struct tlsc *t = tlsc_connect(addr, &o);
    char *serial = tlsc_peer_serial(t);

    tlsc_free(t);
    return serial;
}

static void expect_serial(const char *addr, unsigned long serial, const char *when)
{
    char *got = served_serial(addr), *want = certs_serial_hex(serial);

    if (strcmp(got, want) != 0)
        T_FAIL("%s: the server certificate has serial %s, want %s", when, got, want);
}

/*
 * Under workers or a pool, the old processes go on accepting until they
 * have seen the signal to retire, a moment after "reloaded" is logged: wait
 * until none of `old` (the daemon's children before the reload) is left,
 * then every new connection must have the new serial.
 */
static void expect_serial_once_retired(const struct h_daemon *d, const pid_t *old, int nold,
                                       const char *addr, unsigned long serial, const char *when)
{
    int64_t until = h_now_ms() + 5000 * (int64_t)t_scale();
    pid_t now[64];

    for (;;) {
        int n = h_daemon_children(d, now, 64), left = 0;
        for (int i = 0; i < nold; i++)
            left += h_pid_among(old[i], now, n);
        if (left == 0)
            break;
        if (h_now_ms() > until)
            T_FAIL("%s: %d of the %d processes from before the reload still there 5 s later", when,
                   left, nold);
        usleep(10000);
    }
    for (int i = 0; i < 5; i++)
        expect_serial(addr, serial, when);
}

/* --- swaps under load -------------------------------------------------------------- */

enum { CLIENTS = 2 };

/* Shared between the client processes and the test. */
struct load {
    atomic_long done[CLIENTS];
    atomic_long failed[CLIENTS];
    atomic_int stop;
    char first_error[CLIENTS][300];
};

/* Full handshakes (verified), the daytime line, close_notify; without pause
 * until told to stop.  No T_FAIL here: failures are counted. */
static void client(struct load *ld, int id, const char *addr, const char *ca)
{
    struct tlsc_opts o = {.ca = ca, .verify_name = "localhost", .sni = "localhost"};

    while (!atomic_load(&ld->stop)) {
        char why[600] = "", buf[64];
        struct tlsc *t = tlsc_try(addr, &o, why, sizeof(why));
        size_t got = 0, n;
        enum tlsc_end e = TLSC_ERROR;
        while (t != NULL && (e = tlsc_read(t, buf + got, sizeof(buf) - got, &n, 5000)) == TLSC_DATA)
            got += n;
        if (t != NULL && got == 26 && e == TLSC_NOTIFY) {
            atomic_fetch_add(&ld->done[id], 1);
        } else if (atomic_fetch_add(&ld->failed[id], 1) == 0) {
            snprintf(ld->first_error[id], sizeof(ld->first_error[id]), "%s",
                     t == NULL ? why : h_fmt("%zu bytes, then %s", got, tlsc_end_name(e)));
        }
        tlsc_free(t);
    }
}

static long total(atomic_long *v)
{
    long sum = 0;

    for (int i = 0; i < CLIENTS; i++)
        sum += atomic_load(&v[i]);
    return sum;
}

/* Wait until the clients have done `more` beyond `since`; false at the
 * first failure or after 5 s. */
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

/*
 * `swaps` certificate swaps on a daytime service under `model` lines (and
 * `global`), with CLIENTS clients shaking hands meanwhile: after each, a
 * new connection sees the new serial (once the processes from before the
 * reload are gone, if `settle`).  Zero failed handshakes.
 */
static void swaps_under_load(const char *model, const char *global, int swaps, bool settle)
{
    struct h_daemon *d =
        h_start(h_fmt("%s%s", global ? global : "", live_conf("daytime", "daytime", model)), NULL);
    char addr[160];
    struct load *ld =
        mmap(NULL, sizeof(*ld), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t pids[CLIENTS];
    bool progressing;
    int i;

    T_ASSERT(ld != MAP_FAILED);
    memset(ld, 0, sizeof(*ld));
    snprintf(addr, sizeof(addr), "%s", h_addr(d, "daytime", "tls://127"));
    expect_serial(addr, 0x5000, "at start");
    for (i = 0; i < CLIENTS; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            T_FAIL("fork: %s", strerror(errno));
        if (pids[i] == 0) {
            client(ld, i, addr, certs_get()->ca.cert);
            _exit(0);
        }
    }
    progressing = wait_progress(ld, 0, 20);
    for (i = 1; progressing && i <= swaps; i++) {
        long before = total(ld->done);
        pid_t old[64];
        int nold = settle ? h_daemon_children(d, old, 64) : 0;
        live(0x5000 + (unsigned long)i);
        reload(d, "usherd: reloaded ", i);
        if (settle)
            expect_serial_once_retired(d, old, nold, addr, 0x5000 + (unsigned long)i,
                                       h_fmt("after swap %d", i));
        else
            expect_serial(addr, 0x5000 + (unsigned long)i, h_fmt("after swap %d", i));
        progressing = wait_progress(ld, before, 20);
    }
    atomic_store(&ld->stop, 1);
    for (int k = 0; k < CLIENTS; k++)
        waitpid(pids[k], NULL, 0);
    t_note("%d swaps; %ld handshakes, %ld failed", i - 1, total(ld->done), total(ld->failed));
    for (int k = 0; k < CLIENTS; k++)
        if (ld->first_error[k][0] != '\0')
            T_FAIL("client %d: %ld failed, the first: %s", k, atomic_load(&ld->failed[k]),
                   ld->first_error[k]);
    if (!progressing)
        T_FAIL("the clients stalled: no 20 handshakes within 5 s");
    T_EQ_INT(h_count_log(d, "reload failed"), 0);
}

static void test_twenty_swaps_under_load_event(void)
{
    /* Scenario: daytime over TLS, event model; two clients shake hands
     * (full handshakes, verified) without pause; 20 times the certificate
     * and key files are rewritten (a new serial each time) and SIGHUP sent.
     * Asserted: each reload is logged "reloaded"; after each, a new
     * connection gets the new serial; not one handshake failed. */
    swaps_under_load(NULL, NULL, 20, false);
}

static void test_swaps_under_load_fork(void)
{
    /* The same, 5 swaps, under model = fork. */
    swaps_under_load("model = fork\n", NULL, 5, false);
}

static void test_swaps_under_load_prefork(void)
{
    /* The same, 5 swaps, under model = prefork:2 (the pool is replaced:
     * the new serial once the old processes are gone). */
    swaps_under_load("model = prefork:2\n", NULL, 5, true);
}

static void test_swaps_under_load_workers(void)
{
    /* The same, 5 swaps, under [global] workers = 2 (the workers are
     * replaced: the new serial once the old workers are gone). */
    swaps_under_load(NULL, "[global]\nworkers = 2\n", 5, true);
}

static void test_open_connection_untouched_by_a_swap(void)
{
    /* Scenario: an echo connection over TLS is open; the pair is swapped
     * and SIGHUP sent.  Asserted: the open connection still echoes, on its
     * first certificate; a new one gets the new certificate. */
    struct h_daemon *d = h_start(live_conf("echo", "echo", NULL), NULL);
    const char *addr = h_addr(d, "echo", "tls://127");
    struct tlsc_opts o = {.ca = certs_get()->ca.cert, .sni = "localhost"};
    struct tlsc *t = tlsc_connect(addr, &o);
    char line[64];

    tlsc_send_str(t, "before\n");
    tlsc_recv_line(t, line, sizeof(line), 5000);
    live(0x5100);
    reload(d, "usherd: reloaded ", 1);
    tlsc_send_str(t, "after\n");
    tlsc_recv_line(t, line, sizeof(line), 5000);
    T_EQ_STR(line, "after");
    T_EQ_STR(tlsc_peer_serial(t), certs_serial_hex(0x5000));
    expect_serial(addr, 0x5100, "after the swap");
    tlsc_free(t);
}

/* --- broken pairs --------------------------------------------------------------------- */

/* Copy the file `from` onto `to` (whole, by rename). */
static void copy_file(const char *from, const char *to)
{
    char *tmp = h_fmt("%s.copy", to);

    h_write_file(tmp, h_read_file(from));
    chmod(tmp, 0600);
    if (rename(tmp, to) < 0)
        T_FAIL("rename %s: %s", tmp, strerror(errno));
}

/* After the n-th "reload failed": an error naming the config at line 4 or 5
 * (tls_cert, tls_key). */
static void expect_reload_failed_at_the_pair(const struct h_daemon *d, int n)
{
    const char *path = conf_name(d);

    reload(d, "reload failed", n);
    for (int64_t until = h_now_ms() + 2000; h_now_ms() < until; usleep(10000)) {
        char *log = h_log(d), *failed = strstr(log, "reload failed");
        for (int k = 1; k < n && failed; k++)
            failed = strstr(failed + 1, "reload failed");
        if (failed &&
            (strstr(failed, h_fmt("%s:4:", path)) || strstr(failed, h_fmt("%s:5:", path))))
            return;
    }
    T_FAIL("no error at %s:4 or :5 after reload failure %d:\n%s", path, n, h_log(d));
}

static void test_broken_pair_keeps_the_old_certificate(void)
{
    /* Scenario: daytime serving the live pair (serial 0x5000); the key file
     * is replaced by another certificate's key; SIGHUP; then the
     * certificate file is removed; SIGHUP; then a sound new pair (0x5001);
     * SIGHUP.  Asserted: the first two reloads fail with an error at the
     * tls_cert or tls_key line of the file, and the server still presents
     * serial 0x5000 (the running configuration whole); the third reload
     * succeeds and 0x5001 is served. */
    struct h_daemon *d = h_start(live_conf("daytime", "daytime", NULL), NULL);
    const char *addr = h_addr(d, "daytime", "tls://127");
    const struct certs *c = certs_get();
    char *cert = h_fmt("%s/live.pem", c->dir), *key = h_fmt("%s/live.key", c->dir);

    copy_file(c->other.key, key);
    expect_reload_failed_at_the_pair(d, 1);
    expect_serial(addr, 0x5000, "after a reload with a mismatched key");
    if (unlink(cert) < 0)
        T_FAIL("unlink %s: %s", cert, strerror(errno));
    expect_reload_failed_at_the_pair(d, 2);
    expect_serial(addr, 0x5000, "after a reload with the certificate missing");
    T_EQ_INT(h_count_log(d, "usherd: reloaded "), 0);
    live(0x5001);
    reload(d, "usherd: reloaded ", 1);
    expect_serial(addr, 0x5001, "after a reload with a sound pair");
}

static void test_unreadable_key_keeps_the_old_certificate(void)
{
    /* Scenario: the key file's content replaced by garbage.  Asserted: the
     * reload fails at the pair's lines; the old certificate is served. */
    struct h_daemon *d = h_start(live_conf("daytime", "daytime", NULL), NULL);
    const char *addr = h_addr(d, "daytime", "tls://127");
    char *key = h_fmt("%s/live.key", certs_get()->dir);

    h_write_file(key, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
    expect_reload_failed_at_the_pair(d, 1);
    expect_serial(addr, 0x5000, "after a reload with a garbage key");
}

/* --- -t warnings ---------------------------------------------------------------------- */

struct check {
    int code;
    char *out, *err;
};

/* usherd -t -f FILE on a daytime service with `cert` and `key`. */
static struct check check_pair(const char *cert, const char *key)
{
    static int seq;
    char *path = h_fmt("%s/t%d.conf", h_tmpdir(), ++seq);
    struct h_result r;

    h_write_file(path, h_fmt("[daytime]\nlisten = tls://127.0.0.1:0\nbuiltin = daytime\n"
                             "tls_cert = %s\ntls_key = %s\n",
                             cert, key));
    const char *const argv[] = {h_usherd(), "-t", "-f", path, NULL};
    h_run(&r, NULL, 0, 10000, argv);
    return (struct check){r.exit_code, r.out, r.err};
}

/* The line of `text` containing `needle` (malloc'd), or NULL. */
static char *line_with(const char *text, const char *needle)
{
    const char *p = strstr(text, needle), *start, *end;

    if (p == NULL)
        return NULL;
    for (start = p; start > text && start[-1] != '\n'; start--)
        ;
    end = p + strcspn(p, "\n");
    return strndup(start, (size_t)(end - start));
}

static void test_t_warns_of_a_certificate_expiring_soon(void)
{
    /* Scenario: usherd -t with a certificate valid 5 more days, then one
     * valid 30 days.  Asserted: exit 0 both times ("configuration ok"); the
     * first has a warning on stderr naming the certificate file and its
     * expiry; the second none. */
    struct certs_pair soon, fine;
    struct check r;
    char *line;

    certs_issue("soon", "localhost", SAN, 5, 0x7001, &soon);
    certs_issue("fine", "localhost", SAN, 30, 0x7002, &fine);
    r = check_pair(soon.cert, soon.key);
    if (r.code != 0)
        T_FAIL("usherd -t exited %d: %s%s", r.code, r.out, r.err);
    T_CONTAINS(h_fmt("%s%s", r.out, r.err), "configuration ok");
    line = line_with(r.err, soon.cert);
    if (line == NULL || strstr(line, "expire") == NULL)
        T_FAIL("no warning naming %s and its expiry: %s", soon.cert, r.err);
    r = check_pair(fine.cert, fine.key);
    T_EQ_INT(r.code, 0);
    if (strstr(r.err, "expire") != NULL)
        T_FAIL("a warning for a certificate valid 30 days: %s", r.err);
}

static void test_t_warns_of_an_expired_certificate(void)
{
    /* Scenario: usherd -t with a certificate that expired yesterday.
     * Asserted: exit 0 (warnings do not change it), and a warning naming
     * the certificate file and its expiry. */
    struct certs_pair old;
    struct check r;
    char *line;

    certs_issue("old", "localhost", SAN, -1, 0x7003, &old);
    r = check_pair(old.cert, old.key);
    if (r.code != 0)
        T_FAIL("usherd -t exited %d for an expired certificate: %s%s", r.code, r.out, r.err);
    line = line_with(r.err, old.cert);
    if (line == NULL || strstr(line, "expire") == NULL)
        T_FAIL("no warning naming %s as expired: %s", old.cert, r.err);
}

static void test_t_warns_of_a_key_readable_by_others(void)
{
    /* Scenario: usherd -t with the key file mode 0644, then 0640, then
     * 0600.  Asserted: exit 0 each time; a warning naming the key file for
     * 0644 and 0640 (readable by others, by the group); none for 0600. */
    const struct certs *c = certs_get();
    struct check r;

    chmod(c->server.key, 0644);
    r = check_pair(c->server.cert, c->server.key);
    T_EQ_INT(r.code, 0);
    if (line_with(r.err, c->server.key) == NULL)
        T_FAIL("no warning naming the key %s of mode 0644: %s", c->server.key, r.err);
    chmod(c->server.key, 0640);
    r = check_pair(c->server.cert, c->server.key);
    T_EQ_INT(r.code, 0);
    if (line_with(r.err, c->server.key) == NULL)
        T_FAIL("no warning naming the key %s of mode 0640: %s", c->server.key, r.err);
    chmod(c->server.key, 0600);
    r = check_pair(c->server.cert, c->server.key);
    T_EQ_INT(r.code, 0);
    if (line_with(r.err, c->server.key) != NULL)
        T_FAIL("a warning about the key of mode 0600: %s", r.err);
}

/* --- privileges ----------------------------------------------------------------------- */

static void test_root_only_key_serves_an_exec_service_as_nobody(void)
{
    /* Scenario: as root, the key file root's and mode 0600; an exec
     * service with user = nobody runs the probe over TLS.  Asserted: the
     * handshake succeeds (the key was read before any privilege drop), the
     * program runs as nobody; after a swap and SIGHUP (the key again root's
     * alone) a new connection gets the new certificate. */
    struct passwd *pw = getpwnam("nobody");
    struct certs_pair p;
    struct h_daemon *d;
    const char *addr;
    struct tlsc_opts o = {.ca = certs_get()->ca.cert, .sni = "localhost"};
    struct tlsc *t;
    enum tlsc_end end;
    char *report = malloc(1 << 16), *uid;

    if (geteuid() != 0)
        t_skip("not root");
    if (pw == NULL)
        t_skip("no user nobody");
    p = live(0x5000);
    T_ASSERT(chown(p.key, 0, 0) == 0 && chmod(p.key, 0600) == 0);
    d = h_start(h_fmt("[probe]\nlisten = tls://127.0.0.1:0\nexec = %s report\nuser = nobody\n"
                      "tls_cert = %s\ntls_key = %s\n",
                      h_exec_probe(false), p.cert, p.key),
                NULL);
    addr = h_addr(d, "probe", "tls://127");
    t = tlsc_connect(addr, &o);
    tlsc_recv_all(t, report, (1 << 16) - 1, &end, 10000);
    tlsc_free(t);
    uid = h_probe_value(report, "uid");
    T_EQ_STR(uid, h_fmt("%u %u %u", pw->pw_uid, pw->pw_uid, pw->pw_uid));
    p = live(0x5002);
    T_ASSERT(chown(p.key, 0, 0) == 0 && chmod(p.key, 0600) == 0);
    reload(d, "usherd: reloaded ", 1);
    expect_serial(addr, 0x5002, "after a swap of a root-only key");
}

static const struct t_case cases[] = {
    T_CASE_TIMEOUT(test_twenty_swaps_under_load_event, 120),
    T_CASE_TIMEOUT(test_swaps_under_load_fork, 60),
    T_CASE_TIMEOUT(test_swaps_under_load_prefork, 60),
    T_CASE_TIMEOUT(test_swaps_under_load_workers, 60),
    T_CASE(test_open_connection_untouched_by_a_swap),
    T_CASE(test_broken_pair_keeps_the_old_certificate),
    T_CASE(test_unreadable_key_keeps_the_old_certificate),
    T_CASE(test_t_warns_of_a_certificate_expiring_soon),
    T_CASE(test_t_warns_of_an_expired_certificate),
    T_CASE(test_t_warns_of_a_key_readable_by_others),
    T_CASE(test_root_only_key_serves_an_exec_service_as_nobody),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
