/*
 * harness: what integration tests need to drive the real programs.
 *
 * Every function either succeeds or fails the current test (T_FAIL) with a
 * message saying what went wrong, so tests read as the scenario.  Waits
 * poll with a bound; nothing sleeps a fixed time hoping for the best.
 * Processes started here are in the test's process group, which the runner
 * kills when the case ends, whatever happened; the exec children of a
 * daemon (sessions of their own) are killed with their process groups
 * when the case ends normally.  When a case ends, a report of ASan, LSan
 * or UBSan in the log of any usherd it started fails it.
 */
#ifndef USHER_HARNESS_H
#define USHER_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define H_MAX_LISTENS 64

struct h_daemon {
    pid_t pid;
    char dir[256];       /* private temporary directory */
    char conf_path[320]; /* dir/usherd.conf */
    char log_path[320];  /* dir/usherd.log: the daemon's stderr */
    int nlistens;
    struct {
        char service[64];
        char addr[160]; /* as logged: "tcp://127.0.0.1:43567", "unix:/..." */
    } listens[H_MAX_LISTENS];
    int exit_status;   /* after h_stop / h_wait_exit */
    bool detached;     /* started by h_start_detached */
    char pidfile[320]; /* h_start_detached: where the daemon keeps its pid */
    char model[32];    /* the $USHER_TEST_MODEL applied to its config; "" if none */
};

/*
 * The concurrency model the tests run under: $USHER_TEST_MODEL, one of
 * "event" (the default, also when unset), "fork", "prefork:N", "workers:N".
 * h_start, h_spawn and h_start_wrapped rewrite the config text for it:
 * "model = fork" / "model = prefork:N" goes into every service section that
 * has a `builtin =` line and no `model =` line; "workers = N" goes into
 * [global] (made if missing) unless it has a `workers =` line.  A NULL conf
 * (the embedded default) and h_usherd_run are left alone.  So the wire
 * tests of the builtins run unchanged under every model (tests/run.sh
 * --model=X).
 */
const char *h_model(void);
/* How many processes serve a builtin service under h_model(): N for
 * prefork:N and workers:N, else 1. */
unsigned h_model_procs(void);

/* Paths of the programs under test ($USHER_BUILD, default "build"), made
 * absolute (tests may change directory). */
const char *h_usherd(void);
const char *h_usher(void);

/* A fresh private directory for this test, removed when the test ends. */
const char *h_tmpdir(void);

/* printf into a new string (malloc'd); fails the test if out of memory. */
char *h_fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

/* Write `text` to the file `path`. */
void h_write_file(const char *path, const char *text);

/*
 * Every usherd the harness starts has grace periods of h_grace_ms() (from
 * SIGTERM to SIGKILL at max_time and at stop, a closing connection's
 * linger, a pool's crash window and respawn pause), set through
 * USHER_TEST_GRACE_MS, rather than the compiled-in 1 and 2 s: H_GRACE_MS
 * times $T_SCALE.  Tests that time those graces assert against it.
 */
#define H_GRACE_MS 200
int h_grace_ms(void);

/*
 * Start usherd on `conf` (the text of a config file; "@DIR@" in it is
 * replaced by the daemon's directory, "@SYSLOG@" by a syslog target whose
 * messages a collector appends to the daemon's log, as h_start_detached
 * describes) with extra arguments (NULL-ended), and wait until it logs
 * "ready".  Fails the test if it exits first.
 * A NULL `conf` passes no -f: usherd chooses (/etc/usherd.conf or its
 * embedded default).  The same holds for h_spawn and h_usherd_run.
 */
struct h_daemon *h_start(const char *conf, ...) __attribute__((sentinel));

/*
 * Start usherd like h_start (no extra arguments) under a wrapper command,
 * `wrapper` being its argv, NULL-ended and looked up on PATH:
 * {"valgrind", "--leak-check=full", NULL} runs "valgrind --leak-check=full
 * usherd -f CONF".  d->pid is the wrapper's pid.
 */
struct h_daemon *h_start_wrapped(const char *conf, const char *const wrapper[]);

/* h_start_wrapped, but returning at once (see h_wait_ready). */
struct h_daemon *h_spawn_wrapped(const char *conf, const char *const wrapper[]);

/*
 * Start usherd like h_start, but return at once without waiting for
 * "ready" (for -q, where no such line comes; d->listens stays empty).
 */
struct h_daemon *h_spawn(const char *conf, ...) __attribute__((sentinel));

/*
 * Wait until the daemon logs "ready" ("usherd: ready" on stderr, or
 * "usherd[PID]: ready" from syslog, or a JSON line whose msg is "ready:
 * ..." with log_format = json), then read its listening addresses;
 * fails the test if it exits first or takes more than 10 s.  For h_spawn
 * and h_spawn_activated, which return at once.  Returns d.
 */
struct h_daemon *h_wait_ready(struct h_daemon *d);

/*
 * Read d->listens again from the daemon's log: every "listening
 * service=NAME addr=ADDR" line so far, text or JSON, in order (after a reload that
 * opened listeners, say).  h_addr returns the first match, so a service
 * whose listener was reopened on another port needs a name of its own.
 */
void h_parse_listens(struct h_daemon *d);

/*
 * Start usherd as systemd socket activation does, and return at once:
 * fds[i] becomes descriptor 3 + i in usherd (the caller keeps its own
 * copies), LISTEN_FDS = nfds, LISTEN_FDNAMES = names unless NULL, and
 * LISTEN_PID = usherd's own pid, or `listen_pid` if it is not 0 (sockets
 * meant for another process).  Then h_wait_ready, or h_wait_exit for a
 * start-up that must fail.
 */
struct h_daemon *h_spawn_activated(const char *conf, const int *fds, int nfds, const char *names,
                                   pid_t listen_pid);

/*
 * Detached daemons.  h_start_detached runs `usherd -f CONF -D extra...` as
 * an operator would and waits (10 s bound) for that front process to exit;
 * *front gets its exit code and its stdout and stderr (h_result_free it).
 * `pidfile` (may contain "@DIR@") is where the daemon keeps its pid: the
 * test passes -p or writes `pidfile =`; the harness adds neither.  "@DIR@"
 * is replaced in the extra arguments too.
 *
 * "@SYSLOG@" in `conf` stands for a syslog target ("syslog:unix:DIR/
 * syslog.sock") served by a collector (h_syslog_start) that appends each
 * message to d->log_path, which is then the daemon's log for h_wait_log,
 * h_log_line and the like; h_wait_ready(d) waits for its "ready" line and
 * reads the listening addresses from it.  (The daemon's stderr is
 * /dev/null, so without @SYSLOG@ the log stays empty.)
 *
 * On exit 0, d->pid is the daemon's pid, the holder of the pidfile's lock.
 * The test process is made a child subreaper, so once the front process
 * has exited the daemon is the test's child: h_alive, h_kill, h_wait_exit
 * and h_stop work on it as on any other, and the end of the case kills it.
 * It has left the test's process group, which the runner kills after a
 * timeout; so on a timeout (SIGALRM) the harness kills every registered
 * detached daemon, and the holder of every registered pidfile's lock,
 * before the case dies.  Sanitizer reports of a detached daemon (whose
 * stderr is /dev/null) go to files in its directory and fail the case
 * like those in a log.  On a failed start d->pid is 0.
 */
struct h_result;
struct h_daemon *h_start_detached(const char *conf, const char *pidfile, struct h_result *front,
                                  ...) __attribute__((sentinel));

/*
 * Kill the process holding the lock of `path` (a pidfile) when the case
 * times out, as for h_start_detached (at most 8 files; `path` is copied).
 */
void h_guard_pidfile(const char *path);

/*
 * A syslog server for tests: a socket at `addr` ("unix:PATH", a datagram
 * socket, the file replaced if stale; or "udp://127.0.0.1:0", the port
 * chosen by the kernel) and a collector process that appends each
 * datagram, followed by "\n", to the file `file`.  The socket is bound when
 * this returns.  The collector is killed at the end of the case.
 */
struct h_syslog {
    pid_t pid;        /* the collector, 0 once stopped */
    char addr[200];   /* as bound: "unix:/tmp/x/log.sock", "udp://127.0.0.1:40514" */
    char target[220]; /* the `log =` value for it: "syslog:" + addr */
    char file[320];
};
struct h_syslog *h_syslog_start(const char *addr, const char *file);
/* Kill the collector; a Unix socket's file is removed (the target is gone). */
void h_syslog_stop(struct h_syslog *s);

/* Files: the text of `path` (malloc'd; "" if it cannot be read); how
 * often `needle` occurs in it; wait up to `ms` (scaled) until it occurs at
 * least `n` times; the last complete line containing it (malloc'd, without
 * its "\n", or NULL).  The h_*_log functions are these on a daemon's log. */
char *h_read_file(const char *path);
int h_count_file(const char *path, const char *needle);
bool h_wait_file(const char *path, const char *needle, int n, int ms);
char *h_file_line(const char *path, const char *needle);

/*
 * Run usherd to completion (for -t, bad configs, start-up failures) with
 * a 10 s bound.  Returns the exit status; *output (malloc'd) has stdout and
 * stderr together.
 */
int h_usherd_run(const char *conf, char **output, ...) __attribute__((sentinel));

/* Send `sig` to the daemon; fails the test if it is no longer running. */
void h_kill(const struct h_daemon *d, int sig);

/* True while the daemon runs; once it has exited, false with d->exit_status set. */
bool h_alive(struct h_daemon *d);

/* The address `service` listens on whose text starts with `prefix`
 * ("tcp://127", "udp://[", "unix:").  Fails the test if there is none. */
const char *h_addr(const struct h_daemon *d, const char *service, const char *prefix);

/* The daemon's log so far (malloc'd). */
char *h_log(const struct h_daemon *d);

/* Wait up to `ms` for `needle` to appear in the log; true if it did. */
bool h_wait_log(const struct h_daemon *d, const char *needle, int ms);

/* Count occurrences of `needle` in the log. */
int h_count_log(const struct h_daemon *d, const char *needle);

/* Wait up to `ms` until `needle` occurs at least `n` times; true if it did. */
bool h_wait_log_count(const struct h_daemon *d, const char *needle, int n, int ms);

/* The last complete log line containing `needle`, without its "\n"
 * (malloc'd), or NULL if there is none. */
char *h_log_line(const struct h_daemon *d, const char *needle);

/* Wait up to `ms` (scaled) until the last connection line of service `svc`
 * ("usherd: service=SVC proto=...", logged as a connection or an exec
 * child's run ends) contains `what` ("end=exit:0"); returns that line
 * (malloc'd).  Fails the test, showing the log, if it does not. */
char *h_wait_conn_line(const struct h_daemon *d, const char *svc, const char *what, int ms);

/* SIGUSR1, then the new "stats service=NAME ..." line (malloc'd).  Fails
 * the test if none comes within 5 s.  When the daemon runs under a
 * multi-process test model (d->model: prefork:N, workers:N), each of its N
 * processes logs a tagged line ("stats worker=K service=NAME ...", "stats
 * prefork=PID service=NAME ..."); they are awaited and summed field by
 * field into one untagged line of the same form. */
char *h_stats(const struct h_daemon *d, const char *service);

/*
 * h_stats until its `field` is `want` (at most 1 s, scaled), the last line
 * either way.  The counters are shared by all of usherd's processes: a
 * worker's or prefork process's count lands a moment after its reply, so
 * a client that has the reply may ask before it is counted.
 */
char *h_stats_settled(const struct h_daemon *d, const char *service, const char *field,
                      long long want);

/* The text just after the first `key` in `text`; fails the test if `key`
 * is not in it. */
const char *h_after(const char *text, const char *key);

/* The number after " NAME=" in a log line ("... in=5 out=5 ...", a stats
 * line from h_stats); fails the test if the line has no " NAME=". */
long long h_log_field(const char *line, const char *name);

/* The port of an address as logged ("tcp://127.0.0.1:7", "udp://[::1]:53", wildcards too). */
int h_port(const char *addr);

/* SIGTERM, wait up to 15 s for the exit; returns the exit status (fails on a signal). */
int h_stop(struct h_daemon *d);

/* Wait up to `ms` for the daemon to exit on its own; true if it did. */
bool h_wait_exit(struct h_daemon *d, int ms);

/*
 * Sockets (blocking, 10 s send/receive timeouts).  h_connect takes any
 * address usherd logs ("*" means loopback).  h_connect_raw returns -1 with
 * errno instead of failing.  A UDP client socket never gets an ephemeral
 * port that a daemon of the test serves UDP on (over the other address):
 * usherd rightly never answers such a port (SPEC 4), and a test would see
 * a lost reply once in a few thousand sockets.  So for h_connect_from.
 */
int h_connect(const char *addr);
int h_connect_raw(const char *addr);
/* A socket bound to `local` ("udp://127.0.0.2:1000", "unixgram:/tmp/x")
 * and connected to `remote`, of the same kind; -1 with errno on failure. */
int h_connect_from(const char *local, const char *remote);
/* The local port of the IPv4 or IPv6 socket `fd` (a client's ephemeral port,
 * as the daemon logs it in peer=); fails the test for another kind of
 * socket or if getsockname fails. */
int h_local_port(int fd);
void h_send(int fd, const void *buf, size_t len);
void h_send_str(int fd, const char *s);
/* Read exactly `len` bytes (fails on EOF or timeout). */
void h_recv_exact(int fd, void *buf, size_t len);
/* An echo round trip on the open stream socket `fd`: send `msg`, read as
 * many bytes back.  Fails the test on EOF or timeout (as h_recv_exact) or if
 * what comes back is not `msg`, showing it. */
void h_echo_roundtrip(int fd, const char *msg);
/* Read until EOF (or `cap` bytes); returns the count.  NUL-terminates if room. */
size_t h_recv_all(int fd, char *buf, size_t cap);
/* Read one "\n"-ended line (without the "\n") into buf. */
void h_recv_line(int fd, char *buf, size_t cap);
/* True if the peer has closed (EOF or reset) within `ms`. */
bool h_wait_closed(int fd, int ms);
/* Wait up to `ms` (scaled) until connecting to `addr` is refused
 * (ECONNREFUSED, or ENOENT for a Unix socket whose file is gone): its
 * listener is closed.  A connection taken, or reset as the listener closes,
 * does not count.  Fails the test if `addr` still takes connections after
 * that, `after` saying since when ("the reload"). */
void h_wait_refused(const char *addr, int ms, const char *after);
/* Set SO_RCVTIMEO in ms. */
void h_set_timeout(int fd, int ms);
/* One recv, waiting up to `ms` for something to read; -1 if nothing came. */
ssize_t h_recv_within(int fd, void *buf, size_t cap, int ms);
/*
 * On a stream socket: send `len` bytes while reading whatever comes back,
 * half-close once all is sent, and read until EOF.  Returns the count read
 * into `out` (NUL-terminated if room).  Fails the test if that takes longer
 * than `ms`, if more than `cap` bytes come back, or on an error.
 */
size_t h_stream_exchange(int fd, const void *data, size_t len, char *out, size_t cap, int ms);

/*
 * Datagram exchange: send `req`, wait up to `ms` for one reply.
 * Returns the reply length, or -1 on timeout.
 */
ssize_t h_dgram_exchange(const char *addr, const void *req, size_t len, void *reply, size_t cap,
                         int ms);

/* Running any program with stdin data, capturing its output, bounded. */
struct h_result {
    int status;      /* wait status */
    int exit_code;   /* -1 if it did not exit normally */
    char *out, *err; /* malloc'd, NUL-terminated */
    size_t out_len, err_len;
};

/* argv NULL-ended; `input` may be NULL (stdin from /dev/null).  Fails the
 * test if the program outlives `timeout_ms`. */
void h_run(struct h_result *r, const char *input, size_t input_len, int timeout_ms,
           const char *const argv[]);
void h_result_free(struct h_result *r);

/* Is `prog` on PATH? */
bool h_have(const char *prog);

/*
 * Make sure `prog` is on PATH: if it is not, and we are root with apt-get
 * and $USHER_NO_INSTALL is unset, install the Debian `package` (bounded by
 * the time the case has left).  Skips the test, saying why, if it is still
 * missing.
 */
void h_need(const char *prog, const char *package);

/* The children of `parent` (from /proc/PID/stat): their count; the first
 * `max` pids into `pids` (may be NULL). */
int h_children(pid_t parent, pid_t *pids, int max);

/* The daemon's children now, at most `max` of them into `pids`; fails the
 * test if it has more. */
int h_daemon_children(const struct h_daemon *d, pid_t *pids, int max);

/* Wait up to `ms` (scaled) until the daemon has exactly `n` children (into
 * `pids`, room for `max`), each settled in its loop (h_proc_settled) if
 * `settled`; fails the test, showing the log, if that does not happen. */
int h_wait_children(const struct h_daemon *d, int n, bool settled, pid_t *pids, int max, int ms);

/* Is `pid` one of the `n` pids? */
bool h_pid_among(pid_t pid, const pid_t *pids, int n);

/* A socket address of "IPv4", "IPv6" (a ':' in it) or "unix" (family only), port in host order. */
struct sockaddr_storage h_sockaddr(const char *ip, unsigned port);

/* How many processes user `uid` has now. */
int h_processes_of(uid_t uid);

/*
 * Has usherd process `pid` settled in its loop: asleep (in epoll_wait) with
 * its SIGUSR1 handler installed?  A worker or prefork process signalled
 * between its fork and its signal set-up loses the signal (the handler it
 * inherited swallows it) or dies of it (at SIG_DFL); tests that signal new
 * processes wait for this first.
 */
bool h_proc_settled(pid_t pid);

/* CPU time (user + system) a process has used so far, in ms; -1 if it is gone. */
long h_cpu_ms(pid_t pid);

/* How long ago a process started, in ms; -1 if it is gone. */
long h_proc_age_ms(pid_t pid);

/*
 * Which of the processes `pids[0..n)` holds the daemon's end of our TCP
 * connection `fd` (over IPv4 or IPv6), found through /proc/net/tcp* and
 * /proc/PID/fd; 0 if none does.
 */
pid_t h_socket_owner(int fd, const pid_t *pids, int n);

/* /proc figures for a process. */
long h_rss_kb(pid_t pid);
int h_count_fds(pid_t pid);

/* What /proc/PID/fd/FD points to ("socket:[123]", "/dev/null"), in buf;
 * false if there is no such descriptor. */
bool h_fd_link(pid_t pid, int fd, char *buf, size_t cap);

/*
 * A socket bound to `addr` ("tcp://127.0.0.1:0", "udp://127.0.0.1:0",
 * "unix:PATH", "unixgram:PATH"), listening if it is a stream socket, close-
 * on-exec.  SO_REUSEADDR is not set: the address is taken while it is open.
 * The bound address is written to `bound` (as usherd would log it) if not
 * NULL.  Fails the test on error.
 */
int h_listen_socket(const char *addr, char *bound, size_t cap);

/* The inode of the IPv4 TCP socket listening on `port` (any local
 * address), from /proc/net/tcp; 0 if there is none. */
unsigned long h_tcp_listen_inode(int port);

/* The pid of the process holding a write lock (fcntl) on the file
 * `path`; 0 if none does or there is no file.  For an open file
 * description's lock (usherd's), which has no pid, the pid in the file. */
pid_t h_lock_holder(const char *path);

/* A TCP or UDP port (`kind` "tcp" or "udp") on 127.0.0.1 that was free a
 * moment ago: for configurations that must name their port in advance. */
int h_free_port(const char *kind);

/* A pid that was alive a moment ago and is not any more (a child forked,
 * exited and reaped here), for stale pidfiles; fails the test if fork does. */
pid_t h_dead_pid(void);

/* Children of `parent` that have exited and not been reaped: zombies. */
int h_count_zombies(pid_t parent);

/*
 * Compile the C program `src` (a path from the top of the source tree,
 * where tests run: "tests/lib/exec_probe.c") with $CC (default cc) into
 * h_tmpdir()/`name`, with extra `flags` (NULL-ended, or NULL; e.g.
 * {"-static", NULL} for a program to run in a chroot), bounded.  No
 * sanitizer and no project flags: the program is a tool of the test, not
 * under test.  Returns its path (malloc'd), or NULL if the compiler failed
 * (its messages are noted).  Skips the test if there is no compiler.
 */
const char *h_compile(const char *src, const char *name, const char *const flags[]);

/*
 * Move the current test into a network namespace of its own, with only the
 * loopback interface, up (127.0.0.1 and ::1): it may then bind well-known
 * ports (echo 7, daytime 13, ...) without meeting other tests or services.
 * Call it first, before starting anything.  Skips the test if that is not
 * permitted (not root, no network namespaces).
 */
void h_private_net(void);

/*
 * tests/lib/exec_probe.c, compiled for this test (once per test and kind):
 * the program exec-service tests run under usherd to see what it was given
 * (see that file).  `static_link`: for a chroot; NULL if static linking is
 * not available here (the caller skips).
 */
const char *h_exec_probe(bool static_link);

/*
 * In a text of "KEY VALUE" lines (such as exec_probe's report): the VALUE
 * of the first line whose first word is `key` (malloc'd), or NULL.
 */
char *h_line_value(const char *text, const char *key);

/*
 * exec_probe's report, read until EOF from `fd`, or from a new connection to
 * `addr` (closed afterwards); malloc'd.  Fails the test unless the report is
 * complete (its last line is "end").
 */
char *h_probe_report_fd(int fd);
char *h_probe_report(const char *addr);

/* The VALUE of a report's "KEY VALUE" line (malloc'd), as h_line_value, but
 * failing the test, showing the report, if there is none. */
char *h_probe_value(const char *report, const char *key);

/* Milliseconds, monotonic. */
int64_t h_now_ms(void);

#endif
