/*
 * harness: what integration tests need to drive the real programs.
 *
 * Every function either succeeds or fails the current test (T_FAIL) with a
 * message saying what went wrong, so tests read as the scenario.  Waits
 * poll with a bound; nothing sleeps a fixed time hoping for the best.
 * Processes started here are in the test's process group, which the runner
 * kills when the case ends, whatever happened.  When a case ends, a report
 * of ASan, LSan or UBSan in the log of any usherd it started fails it.
 */
#ifndef USHER_HARNESS_H
#define USHER_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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
    int exit_status; /* after h_stop / h_wait_exit */
    char model[32];  /* the $USHER_TEST_MODEL applied to its config; "" if none */
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

/* Paths of the programs under test ($USHER_BUILD, default "build"). */
const char *h_usherd(void);
const char *h_usher(void);

/* A fresh private directory for this test, removed when the test ends. */
const char *h_tmpdir(void);

/* Write `text` to the file `path`. */
void h_write_file(const char *path, const char *text);

/*
 * Start usherd on `conf` (the text of a config file; "@DIR@" in it is
 * replaced by the daemon's directory) with extra arguments (NULL-ended),
 * and wait until it logs "ready".  Fails the test if it exits first.
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

/*
 * Start usherd like h_start, but return at once without waiting for
 * "ready" (for -q, where no such line comes; d->listens stays empty).
 */
struct h_daemon *h_spawn(const char *conf, ...) __attribute__((sentinel));

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

/* SIGUSR1, then the new "stats service=NAME ..." line (malloc'd).  Fails
 * the test if none comes within 5 s.  When the daemon runs under a
 * multi-process test model (d->model: prefork:N, workers:N), each of its N
 * processes logs a tagged line ("stats worker=K service=NAME ...", "stats
 * prefork=PID service=NAME ..."); they are awaited and summed field by
 * field into one untagged line of the same form. */
char *h_stats(const struct h_daemon *d, const char *service);

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
void h_send(int fd, const void *buf, size_t len);
void h_send_str(int fd, const char *s);
/* Read exactly `len` bytes (fails on EOF or timeout). */
void h_recv_exact(int fd, void *buf, size_t len);
/* Read until EOF (or `cap` bytes); returns the count.  NUL-terminates if room. */
size_t h_recv_all(int fd, char *buf, size_t cap);
/* Read one "\n"-ended line (without the "\n") into buf. */
void h_recv_line(int fd, char *buf, size_t cap);
/* True if the peer has closed (EOF or reset) within `ms`. */
bool h_wait_closed(int fd, int ms);
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

/* Milliseconds, monotonic. */
int64_t h_now_ms(void);

#endif
