/*
 * xinetd migration (SPEC 16): `usherd -X FILE` serving xinetd files as they
 * are, checked with a client service by service: the files Debian's xinetd
 * package ships (downloaded and unpacked here; skipped if that cannot be
 * done), then the kinds of files operators have: an HAProxy mysqlchk-style
 * health check, a CTF challenge under /usr/sbin/chroot with per_source and
 * rlimits, a wait = yes datagram program (the tftp shape), a redirect,
 * only_from with networks and names, banners; a reload that re-reads every
 * file; -P's round trip through the daemon; hostile include directories.
 *
 * Cases that bind the well-known ports of Debian's files run in a network
 * namespace of their own (h_private_net).
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Write DIR/NAME; returns its path. */
static char *put(const char *name, const char *text)
{
    char *path = h_fmt("%s/%s", h_tmpdir(), name);

    h_write_file(path, text);
    return path;
}

static char *sh(const char *cmd, int *code)
{
    struct h_result r;
    const char *argv[] = {"sh", "-c", cmd, NULL};

    h_run(&r, NULL, 0, 60000, argv);
    *code = r.exit_code;
    return h_fmt("%s%s", r.out, r.err);
}

/*
 * Debian's /etc/xinetd.d, unpacked from the xinetd package into DIR/deb
 * (apt-get download + dpkg-deb -x, as bench/run.sh gets its peers); skips
 * the case if that cannot be done here.  Returns DIR/deb/etc/xinetd.d.
 */
static char *debian_files(void)
{
    int code;
    char *out = sh(h_fmt("cd %s && apt-get download xinetd >/dev/null 2>&1 && "
                         "dpkg-deb -x xinetd_*.deb deb",
                         h_tmpdir()),
                   &code);

    if (code != 0)
        t_skip("unable to download and unpack Debian's xinetd package: %s", out);
    return h_fmt("%s/deb/etc/xinetd.d", h_tmpdir());
}

static void echo_roundtrip(const char *addr, const char *msg)
{
    int fd = h_connect(addr);

    h_echo_roundtrip(fd, msg);
    close(fd);
}

static void test_debian_files_served_service_by_service(void)
{
    /* Scenario: Debian's xinetd.conf and xinetd.d, copied with "disable =
     * yes" turned to "no" in every file but servers and services (xinetd's
     * own internal services, which usherd does not have).  Asserted: as
     * shipped (all disabled) they load with no service; flipped, every
     * builtin answers on its port over TCP and UDP, the *-udp files'
     * repeats of an id are skipped with a warning, servers and services
     * are not served; and flipping servers is an error naming it. */
    char *shipped = debian_files(), *flipped = h_fmt("%s/flipped", h_tmpdir()), *out;
    struct h_daemon *d;
    char buf[256];
    int code, fd;

    /* Debian's own xinetd.conf (a defaults entry, includedir /etc/xinetd.d), pointed here. */
    sh(h_fmt("sed 's|/etc/xinetd.d|%s|' %s/../xinetd.conf >%s/shipped.conf", shipped, shipped,
             h_tmpdir()),
       &code);
    T_EQ_INT(code, 0);
    code = h_usherd_run("[global]\n", &out, "-t", "-X", h_fmt("%s/shipped.conf", h_tmpdir()), NULL);
    if (code != 0)
        T_FAIL("Debian's files as shipped: exit %d:\n%s", code, out);
    sh(h_fmt("mkdir %s && cd %s && for f in *; do case $f in servers|services) cp $f %s/;; "
             "*) sed 's/\\(disable[[:space:]]*=[[:space:]]*\\)yes/\\1no/' $f >%s/$f;; esac; done",
             flipped, shipped, flipped, flipped),
       &code);
    T_EQ_INT(code, 0);
    h_private_net();
    sh(h_fmt("sed 's|/etc/xinetd.d|%s|' %s/../xinetd.conf >%s/xinetd.conf", flipped, shipped,
             h_tmpdir()),
       &code);
    d = h_start("[global]\n", "-X", h_fmt("%s/xinetd.conf", h_tmpdir()), NULL);
    echo_roundtrip(h_addr(d, "echo-stream", "tcp://"), "debian echo");
    T_EQ_INT(h_dgram_exchange("udp://127.0.0.1:7", "hi", 2, buf, sizeof(buf), 5000), 2);
    fd = h_connect("tcp://127.0.0.1:13");
    T_EQ_INT(h_recv_all(fd, buf, sizeof(buf)), 26);
    close(fd);
    T_EQ_INT(h_dgram_exchange("udp://127.0.0.1:13", "x", 1, buf, sizeof(buf), 5000), 26);
    fd = h_connect("tcp://127.0.0.1:37");
    T_EQ_INT(h_recv_all(fd, buf, sizeof(buf)), 4);
    close(fd);
    T_EQ_INT(h_dgram_exchange("udp://127.0.0.1:37", "x", 1, buf, sizeof(buf), 5000), 4);
    fd = h_connect("tcp://127.0.0.1:19");
    h_recv_exact(fd, buf, 74);
    T_ASSERT(memcmp(buf + 72, "\r\n", 2) == 0);
    close(fd);
    T_ASSERT(h_dgram_exchange("udp://127.0.0.1:19", "x", 1, buf, sizeof(buf), 5000) > 0);
    fd = h_connect("tcp://127.0.0.1:9");
    h_send_str(fd, "dropped");
    close(fd);
    T_ASSERT(h_dgram_exchange("udp://127.0.0.1:9", "x", 1, buf, sizeof(buf), 300) < 0);
    T_EQ_INT(d->nlistens, 10);
    T_ASSERT(h_count_log(d, "again (first at ") == 5);
    T_ASSERT(h_connect_raw("tcp://127.0.0.1:9099") < 0);
    h_stop(d);
    sh(h_fmt("sed -i 's/\\(disable[[:space:]]*=[[:space:]]*\\)yes/\\1no/' %s/servers", flipped),
       &code);
    code = h_usherd_run("[global]\n", &out, "-t", "-X", h_fmt("%s/servers", flipped), NULL);
    T_EQ_INT(code, 2);
    T_CONTAINS(out, "servers:6: type = INTERNAL: usherd has no built-in service 'servers'");
    T_ASSERT(strstr(out, "no builtin, exec or forward") == NULL); /* one error, not two */
}

/* A script (its path) that prints `text`, executable. */
static char *script(const char *name, const char *body)
{
    char *path = put(name, h_fmt("#!/bin/sh\n%s", body));

    T_ASSERT(chmod(path, 0755) == 0);
    return path;
}

static void test_mysqlchk_health_check(void)
{
    /* Scenario: an HAProxy mysqlchk-style check: a script printing an HTTP
     * 200, with flags = REUSE, per_source = UNLIMITED, log_on_failure +=
     * USERID, only_from = 127.0.0.1 10.0.0.0, type UNLISTED on a port of
     * its own.  Asserted: the client reads the 200 and the body; the
     * ignored log attribute is a warning, not an error. */
    int port = h_free_port("tcp"), fd;
    char *chk = script("mysqlchk", "printf 'HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\n"
                                   "Content-Length: 22\\r\\n\\r\\nMySQL is synchronized\\n'\n");
    struct h_daemon *d;
    char buf[512];

    d = h_start("[global]\n", "-X",
                put("xinetd.conf", h_fmt("service mysqlchk\n{\n"
                                         "\tflags           = REUSE\n"
                                         "\tsocket_type     = stream\n"
                                         "\tport            = %d\n"
                                         "\tbind            = 127.0.0.1\n"
                                         "\twait            = no\n"
                                         "\tuser            = root\n"
                                         "\tserver          = %s\n"
                                         "\tlog_on_failure  += USERID\n"
                                         "\tdisable         = no\n"
                                         "\tonly_from       = 127.0.0.1 10.0.0.0\n"
                                         "\tper_source      = UNLIMITED\n"
                                         "\ttype            = UNLISTED\n"
                                         "}\n",
                                         port, chk)),
                NULL);
    T_ASSERT(h_wait_log(d, "warning: log_on_failure: ignored", 2000));
    fd = h_connect(h_fmt("tcp://127.0.0.1:%d", port));
    h_recv_all(fd, buf, sizeof(buf));
    close(fd);
    T_ASSERT(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
    T_CONTAINS(buf, "\r\n\r\nMySQL is synchronized\n");
}

static void test_ctf_challenge_in_chroot(void)
{
    /* Scenario: a CTF challenge: server = /usr/sbin/chroot, server_args =
     * JAIL /probe report, per_source = 1, rlimit_cpu = 2, rlimit_as = 64M,
     * rlimit_stack = 8M, rlimit_data = 32M, umask = 027, nice = 5, env and
     * passenv.  Asserted: the program runs inside the jail (its / holds only
     * the probe) with those limits, umask, nice and variables. */
    const char *probe = h_exec_probe(true);
    char *jail = h_fmt("%s/jail", h_tmpdir()), *report;
    int port = h_free_port("tcp"), code;
    struct h_daemon *d;

    if (probe == NULL || access("/usr/sbin/chroot", X_OK) != 0)
        t_skip("no static linking or no /usr/sbin/chroot here");
    sh(h_fmt("mkdir %s && cp %s %s/probe", jail, probe, jail), &code);
    T_EQ_INT(code, 0);
    setenv("CTF_FLAG_HINT", "from usherd's environment", 1);
    d = h_start(
        "[global]\n", "-X",
        put("xinetd.conf", h_fmt("service pwn\n{\n"
                                 "\tdisable = no\n\ttype = UNLISTED\n\twait = no\n"
                                 "\tsocket_type = stream\n\tprotocol = tcp\n"
                                 "\tbind = 127.0.0.1\n\tport = %d\n\tuser = root\n"
                                 "\tserver = /usr/sbin/chroot\n\tserver_args = %s /probe report\n"
                                 "\tper_source = 1\n\trlimit_cpu = 2\n\trlimit_as = 64M\n"
                                 "\trlimit_stack = 8M\n\trlimit_data = 32M\n\tumask = 027\n"
                                 "\tnice = 5\n\tenv = CHALLENGE=pwn1\n\tpassenv = CTF_FLAG_HINT\n"
                                 "}\n",
                                 port, jail)),
        NULL);
    report = h_probe_report(h_fmt("tcp://127.0.0.1:%d", port));
    T_EQ_STR(h_probe_value(report, "argv 0"), "/probe");
    T_EQ_STR(h_probe_value(report, "rootdir"), "probe");
    T_EQ_STR(h_probe_value(report, "rlimit cpu"), "2 2");
    T_EQ_STR(h_probe_value(report, "rlimit as"), "67108864 67108864");
    T_EQ_STR(h_probe_value(report, "rlimit stack"), "8388608 8388608");
    T_EQ_STR(h_probe_value(report, "rlimit data"), "33554432 33554432");
    T_EQ_STR(h_probe_value(report, "umask"), "027");
    T_EQ_STR(h_probe_value(report, "nice"), "5");
    T_CONTAINS(report, "\nenv CHALLENGE=pwn1\n");
    T_CONTAINS(report, "\nenv CTF_FLAG_HINT=from usherd's environment\n");
    (void)d;
}

static void test_per_source_refuses_a_second_connection(void)
{
    /* Scenario: per_source = 1 on a program that holds its connection
     * (cat).  Asserted: a second connection from the same address is
     * refused (closed at once, logged refused:max_per_ip) while the first
     * is served. */
    int port = h_free_port("tcp"), a, b;
    struct h_daemon *d;

    d = h_start("[global]\n", "-X",
                put("xinetd.conf",
                    h_fmt("service ctf\n{\n\ttype = UNLISTED\n\twait = no\n\tsocket_type = stream\n"
                          "\tbind = 127.0.0.1\n\tport = %d\n\tserver = /bin/cat\n"
                          "\tper_source = 1\n}\n",
                          port)),
                NULL);
    a = h_connect(h_fmt("tcp://127.0.0.1:%d", port));
    h_echo_roundtrip(a, "first");
    b = h_connect(h_fmt("tcp://127.0.0.1:%d", port));
    T_ASSERT(h_wait_closed(b, 3000));
    T_ASSERT(h_wait_log(d, "end=refused:max_per_ip", 3000));
    h_echo_roundtrip(a, "still served");
    close(a);
    close(b);
}

static void test_wait_yes_datagram_program(void)
{
    /* Scenario: the shape of tftp: socket_type = dgram, protocol = udp,
     * wait = yes, a program that reads the socket itself (the probe's udp
     * mode), with defaults' instances = 60 (meaningless with wait = yes).
     * Asserted: a datagram is answered by the program, which got the
     * socket as fds 0-2. */
    int port = h_free_port("udp");
    struct h_daemon *d;
    char reply[256];
    ssize_t n;

    d = h_start("[global]\n", "-X",
                put("xinetd.conf",
                    h_fmt("defaults\n{\n\tinstances = 60\n}\n"
                          "service tftp\n{\n\ttype = UNLISTED\n\tsocket_type = dgram\n"
                          "\tprotocol = udp\n\twait = yes\n\tuser = root\n\tbind = 127.0.0.1\n"
                          "\tport = %d\n\tserver = %s\n\tserver_args = udp\n}\n",
                          port, h_exec_probe(false))),
                NULL);
    n = h_dgram_exchange(h_fmt("udp://127.0.0.1:%d", port), "ping", 4, reply, sizeof(reply) - 1,
                         5000);
    if (n <= 0)
        T_FAIL("no answer from the program:\n%s", h_log(d));
    reply[n] = '\0';
    T_CONTAINS(reply, " PROTO=UDP fds=0,1,2 got=ping");
}

static void test_redirect_and_access_and_banners(void)
{
    /* Scenario: usherd.conf has an echo service; the xinetd file has
     * `redirect` to it (with banners from defaults), and two more with
     * only_from: one admitting localhost and 10.0.0.0 (a name and a
     * network), one admitting only 10.0.0.0 (so refusing us).  Asserted:
     * the redirect relays both ways after "hello\n" then "welcome\n"; the
     * refused client reads "hello\n", "go away\n" and EOF. */
    int port = h_free_port("tcp"), port2 = h_free_port("tcp"), port3 = h_free_port("tcp"), fd;
    char *hello = put("hello", "hello\n"), *welcome = put("welcome", "welcome\n"),
         *away = put("away", "go away\n");
    struct h_daemon *d;
    char buf[64];

    d = h_start(
        h_fmt("[global]\n[native-echo]\nlisten = tcp://127.0.0.1:%d\nbuiltin = echo\n", port), "-X",
        put("xinetd.conf", h_fmt("defaults\n{\n\tbanner = %s\n\tbanner_success = %s\n"
                                 "\tbanner_fail = %s\n}\n"
                                 "service relay\n{\n\ttype = UNLISTED\n\tsocket_type = stream\n"
                                 "\twait = no\n\tbind = 127.0.0.1\n\tport = %d\n"
                                 "\tredirect = 127.0.0.1 %d\n\tonly_from = localhost 10.0.0.0\n}\n"
                                 "service closed\n{\n\ttype = UNLISTED\n\tsocket_type = stream\n"
                                 "\twait = no\n\tbind = 127.0.0.1\n\tport = %d\n"
                                 "\tserver = /bin/cat\n\tonly_from = 10.0.0.0\n}\n",
                                 hello, welcome, away, port2, port, port3)),
        NULL);
    fd = h_connect(h_fmt("tcp://127.0.0.1:%d", port2));
    h_recv_exact(fd, buf, 14);
    T_ASSERT(memcmp(buf, "hello\nwelcome\n", 14) == 0);
    h_echo_roundtrip(fd, "through the redirect");
    close(fd);
    fd = h_connect(h_fmt("tcp://127.0.0.1:%d", port3));
    T_EQ_INT(h_recv_all(fd, buf, sizeof(buf)), 14);
    T_EQ_STR(buf, "hello\ngo away\n");
    close(fd);
    T_ASSERT(h_wait_log(d, "end=denied", 3000));
}

static void test_reload_rereads_every_file(void)
{
    /* Scenario: -X FILE with includedir DIR holding one service; a second
     * file is added to DIR and the first one's file changed, then SIGHUP.
     * Asserted: the new service listens and answers; the kept one still
     * echoes. */
    char *dir = h_fmt("%s/d", h_tmpdir());
    int port = h_free_port("tcp"), port2 = h_free_port("tcp"), fd;
    struct h_daemon *d;
    char buf[64];

    T_ASSERT(mkdir(dir, 0755) == 0);
    put("d/one", h_fmt("service echo\n{\ntype = INTERNAL UNLISTED\nsocket_type = stream\n"
                       "wait = no\nbind = 127.0.0.1\nport = %d\n}\n",
                       port));
    d = h_start("[global]\n", "-X", put("xinetd.conf", h_fmt("includedir %s\n", dir)), NULL);
    echo_roundtrip(h_fmt("tcp://127.0.0.1:%d", port), "before");
    put("d/two", h_fmt("service daytime\n{\ntype = INTERNAL UNLISTED\nsocket_type = stream\n"
                       "wait = no\nbind = 127.0.0.1\nport = %d\n}\n",
                       port2));
    h_kill(d, SIGHUP);
    if (!h_wait_log(d, h_fmt("listening service=daytime addr=tcp://127.0.0.1:%d", port2), 5000))
        T_FAIL("the reload did not add daytime:\n%s", h_log(d));
    fd = h_connect(h_fmt("tcp://127.0.0.1:%d", port2));
    T_EQ_INT(h_recv_all(fd, buf, sizeof(buf)), 26);
    close(fd);
    echo_roundtrip(h_fmt("tcp://127.0.0.1:%d", port), "after");
}

static void test_print_config_round_trip(void)
{
    /* Scenario: usherd -P with a usherd.conf, an inetd.conf (-I) and an
     * xinetd.conf (-X) at once.  Asserted: exit 0; every service is there
     * with a "# from" line naming its source; -t accepts the text; -P of
     * the text prints the same text. */
    char *conf = put("u.conf", "[global]\nshutdown_timeout = 3s\n[own]\nlisten = "
                               "tcp://127.0.0.1:0\nbuiltin = echo\n"),
         *inetd = put("inetd.conf", "17300 stream tcp nowait root /bin/cat cat -u\n"),
         *xinetd = put("x.conf", "service x\n{\ntype = UNLISTED\nport = 17301\n"
                                 "socket_type = stream\nwait = no\nserver = /bin/cat\n"
                                 "only_from = 127.0.0.0\ninstances = 5\n}\n"),
         *first, *second, *out;
    int code;

    code = h_usherd_run(NULL, &first, "-P", "-f", conf, "-I", inetd, "-X", xinetd, NULL);
    if (code != 0)
        T_FAIL("-P: exit %d:\n%s", code, first);
    T_CONTAINS(first, h_fmt("# from %s:3\n[own]\n", conf));
    T_CONTAINS(first, h_fmt("# from inetd.conf %s:1\n[17300-tcp]\n", inetd));
    T_CONTAINS(first, h_fmt("# from xinetd %s:1, service x\n[x]\nlisten = tcp://*:17301\n"
                            "exec = '/bin/cat'\nwait = no\nallow = 127.0.0.0/8\nmax_conns = 5\n",
                            xinetd));
    put("printed.conf", first);
    code = h_usherd_run(NULL, &out, "-t", "-f", h_fmt("%s/printed.conf", h_tmpdir()), NULL);
    if (code != 0)
        T_FAIL("-t of the printed text: exit %d:\n%s", code, out);
    code = h_usherd_run(NULL, &second, "-P", "-f", h_fmt("%s/printed.conf", h_tmpdir()), NULL);
    T_EQ_INT(code, 0);
    T_EQ_STR(second, first);
}

static void test_hostile_include_directories(void)
{
    /* Scenario: includedir of a thousand files (disabled services, and one
     * served); of a binary file; a symbolic link back to the file that
     * includes the directory; a FIFO; unbalanced braces.  Asserted: the
     * thousand load (-t, in time); each of the others is an error naming
     * its file and line, or for the FIFO a warning, never a crash or a
     * hang. */
    char *big = h_fmt("%s/big", h_tmpdir()), *bin = h_fmt("%s/bin", h_tmpdir()),
         *loop = h_fmt("%s/loop", h_tmpdir()), *out;
    int code;

    T_ASSERT(mkdir(big, 0755) == 0 && mkdir(bin, 0755) == 0 && mkdir(loop, 0755) == 0);
    for (int i = 0; i < 1000; i++)
        put(h_fmt("big/s%04d", i), h_fmt("service s%d\n{\ndisable = yes\nwhatever = x\n}\n", i));
    put("big/zz", "service echo\n{\nsocket_type = stream\nwait = no\ntype = INTERNAL UNLISTED\n"
                  "port = 0\nbind = 127.0.0.1\n}\n");
    T_ASSERT(mkfifo(h_fmt("%s/fifo", big), 0644) == 0);
    code = h_usherd_run("[global]\n", &out, "-t", "-X",
                        put("big.conf", h_fmt("includedir %s\n", big)), NULL);
    if (code != 0)
        T_FAIL("a thousand files: exit %d:\n%s", code, out);
    T_CONTAINS(out, "fifo is not a regular file: skipped");
    h_write_file(h_fmt("%s/blob", bin), "service a\n{\n");
    {
        FILE *f = fopen(h_fmt("%s/blob", bin), "ab");
        T_ASSERT(f != NULL &&
                 fwrite("\x7f"
                        "ELF\0\0\x01",
                        1, 7, f) == 7 &&
                 fclose(f) == 0);
    }
    code = h_usherd_run("[global]\n", &out, "-t", "-X",
                        put("bin.conf", h_fmt("includedir %s\n", bin)), NULL);
    T_EQ_INT(code, 2);
    T_CONTAINS(out, h_fmt("%s/blob:3: a NUL byte", bin));
    T_ASSERT(symlink(h_fmt("%s/loop.conf", h_tmpdir()), h_fmt("%s/back", loop)) == 0);
    code = h_usherd_run("[global]\n", &out, "-t", "-X",
                        put("loop.conf", h_fmt("includedir %s\n", loop)), NULL);
    T_EQ_INT(code, 2);
    T_CONTAINS(out, h_fmt("include loop: %s/back is already being read", loop));
    code = h_usherd_run("[global]\n", &out, "-t", "-X",
                        put("braces.conf", "service echo\n{\nwait = no\n{\n}\n}\n"), NULL);
    T_EQ_INT(code, 2);
    T_CONTAINS(out, "braces.conf:4: '{' inside the entry begun on line 1");
    T_CONTAINS(out, "braces.conf:6: '}' without an entry open");
}

static const struct t_case cases[] = {
    T_CASE_TIMEOUT(test_debian_files_served_service_by_service, 90),
    T_CASE(test_mysqlchk_health_check),
    T_CASE(test_ctf_challenge_in_chroot),
    T_CASE(test_per_source_refuses_a_second_connection),
    T_CASE(test_wait_yes_datagram_program),
    T_CASE(test_redirect_and_access_and_banners),
    T_CASE(test_reload_rereads_every_file),
    T_CASE(test_print_config_round_trip),
    T_CASE(test_hostile_include_directories),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
