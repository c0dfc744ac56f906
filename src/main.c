/*
 * usherd: options, start-up order, the signal switch.  Nothing else.
 *
 * Start-up: options; load and validate the configuration (errors reach the
 * terminal, exit 2); detach if asked (the parent waits for the outcome);
 * log target; pidfile lock; descriptor limit; listeners, bound or inherited
 * from systemd (exit 1 on failure, nothing left behind); signals; report
 * success to the waiting parent and to systemd; the loop.  At stop, the
 * loop ends once connections have finished or shutdown_timeout has passed.
 */
#include "conf.h"
#include "control.h"
#include "control_server.h"
#include "daemon.h"
#include "ev.h"
#include "log.h"
#include "metrics.h"
#include "pidfile.h"
#include "procs.h"
#include "sd.h"
#include "server.h"
#include "sig.h"
#include "tls.h"
#include "reaper.h"
#include "upgrade.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SYSTEM_CONF        "/etc/usherd.conf"
#define STOP_WAIT_EXTRA_MS 5000 /* -s stop: shutdown_timeout, and this much more */

#ifndef USHER_VERSION
#define USHER_VERSION "dev"
#endif

struct options {
    const char *conf_path; /* NULL: SYSTEM_CONF if present, else the default */
    const char *inetd;     /* -I: an inetd.conf to serve too */
    const char *xinetd;    /* -X: an xinetd.conf to serve too */
    bool print_config;     /* -P */
    const char *pidfile;   /* -p */
    const char *control;   /* -s */
    bool check_only;
    bool daemonize;
    int verbosity; /* -1 quiet, 0 normal, 1+ verbose */
};

/* What the running daemon needs to hand: its loop, server, pidfile. */
struct daemon_state {
    struct options opt;
    char conf_path[PATH_MAX];   /* absolute, for reloads after chdir("/"); "" for the default */
    char inetd_path[PATH_MAX];  /* -I, absolute; "" if none */
    char xinetd_path[PATH_MAX]; /* -X, absolute; "" if none */
    char pidfile_arg[PATH_MAX]; /* -p, absolute */
    struct ev_loop *loop;
    struct server srv;
    struct procs procs;      /* the worker, prefork and fork-model processes of srv */
    struct metrics *metrics; /* the counters, shared with every process it forks */
    struct pidfile pidfile;
    int report_fd; /* to the waiting parent (or predecessor), until start-up is over */
    struct control_server control; /* the control socket (fd -1 when none) */
    struct upgrade upgrade;        /* our successor, while it starts */
    struct upgrade_inherited from; /* what our predecessor handed us, if one did */
    const char *argv0;             /* our argv[0], the successor's too */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: usherd [-tPDvqhV] [-f FILE] [-I INETD.CONF] [-X XINETD.CONF]\n"
                 "              [-p PIDFILE] [-s reload|stop|stats|status|upgrade]\n"
                 "  -f FILE      configuration file (default: " SYSTEM_CONF " if it exists,\n"
                 "               else, without -I and -X, the embedded default: every\n"
                 "               builtin on loopback)\n"
                 "  -I FILE      also serve the services of a classic inetd.conf\n"
                 "  -X FILE      also serve the services of an xinetd.conf (and its includes)\n"
                 "  -t           check the configuration and exit\n"
                 "  -P, --print-config\n"
                 "               print the configuration in force as one usherd.conf and exit\n"
                 "  -D, --daemon detach and log to syslog\n"
                 "  -p PIDFILE   pidfile (overrides `pidfile` in [global])\n"
                 "  -s COMMAND   control the running instance: reload, stop, stats, status,\n"
                 "               upgrade (to the usherd binary now on disk)\n"
                 "  -v           more log detail (repeatable)\n"
                 "  -q           warnings and errors only\n"
                 "  -V, --version, -h, --help\n");
}

static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "usherd: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    usage(stderr);
    exit(2);
}

static void parse_options(int argc, char **argv, struct options *opt)
{
    static const struct option longopts[] = {
        {"daemon", no_argument, NULL, 'D'},
        {"print-config", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    memset(opt, 0, sizeof(*opt));
    while ((ch = getopt_long(argc, argv, "f:I:X:p:s:tPDvqhV", longopts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            opt->conf_path = optarg;
            break;
        case 'I':
            opt->inetd = optarg;
            break;
        case 'X':
            opt->xinetd = optarg;
            break;
        case 'P':
            opt->print_config = true;
            break;
        case 'p':
            opt->pidfile = optarg;
            break;
        case 's':
            opt->control = optarg;
            break;
        case 't':
            opt->check_only = true;
            break;
        case 'D':
            opt->daemonize = true;
            break;
        case 'v':
            opt->verbosity = opt->verbosity < 0 ? 1 : opt->verbosity + 1;
            break;
        case 'q':
            opt->verbosity = -1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("usherd %s\n", USHER_VERSION);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind != argc)
        usage_error("unexpected argument '%s'", argv[optind]);
}

/*
 * `path` made absolute in `out` ("" if NULL), so that after chdir("/") a
 * reload reads, and a clean exit removes, the same name.  Only the working
 * directory is put in front: nothing is resolved (no realpath), so a
 * symbolic link is seen for what it is where the file is opened, and a
 * pidfile is never written through one.
 */
static void absolute(const char *path, char *out, size_t size)
{
    char cwd[PATH_MAX];

    out[0] = '\0';
    if (path == NULL)
        return;
    if (path[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL &&
        snprintf(out, size, "%s/%s", cwd, path) < (int)size)
        return;
    str_copy(out, size, path);
}

/*
 * The file to read: -f, else the system file if there is one, else ""
 * (none: the embedded default, or only what -I and -X name).
 */
static void choose_conf_path(const struct options *opt, char *path, size_t size)
{
    const char *chosen = opt->conf_path;

    if (chosen == NULL && access(SYSTEM_CONF, F_OK) == 0)
        chosen = SYSTEM_CONF;
    absolute(chosen, path, size);
}

/*
 * -t: every certificate and key pair loads and matches (an error, exit 2);
 * expiry within 14 days and keys others may read are warnings only.
 */
static int check_tls(const struct conf *conf)
{
    int rc = 0;

    for (size_t i = 0; i < conf->nsvcs; i++) {
        const struct svc_conf *sc = &conf->svcs[i];
        char warn[4096], err[1024];
        if (sc->tls == NULL)
            continue;
        if (tls_check(sc->tls, sc->name, (int64_t)time(NULL), warn, sizeof(warn), err,
                      sizeof(err)) < 0) {
            fprintf(stderr, "usherd: %s\n", err);
            rc = -1;
            continue;
        }
        fputs(warn, stderr);
    }
    return rc;
}

/*
 * -t: wait = yes on a stream listener is right only for a program that
 * accepts its connections itself; a nowait program set up that way loops
 * (the server holds it back, but it never serves).
 */
static void warn_wait_streams(const struct conf *conf)
{
    for (size_t i = 0; i < conf->nsvcs; i++) {
        const struct svc_conf *sc = &conf->svcs[i];
        if (sc->exec == NULL || !sc->exec->wait)
            continue;
        for (size_t j = 0; j < sc->nlistens; j++) {
            const struct conf_listen *l = &sc->listens[j];
            if (addr_kind_socktype(l->addr.kind) != SOCK_STREAM)
                continue;
            fprintf(stderr,
                    "%s:%d: warning: [%s]: wait = yes on %s: the program must accept its "
                    "connections itself\n",
                    l->file, l->line, sc->name, l->text);
            break; /* once a service */
        }
    }
}

/*
 * Load the sources: `path`, `inetd` and `xinetd` ("" = none each; none at
 * all: the embedded default).  NULL with *errors.
 */
static struct conf *load_conf(const struct daemon_state *ds, char **errors)
{
    struct conf_sources src = {
        .path = ds->conf_path[0] ? ds->conf_path : NULL,
        .inetd = ds->inetd_path[0] ? ds->inetd_path : NULL,
        .xinetd = ds->xinetd_path[0] ? ds->xinetd_path : NULL,
    };

    return conf_load_sources(&src, errors);
}

/*
 * Start-up: the errors, or the warnings, reach the terminal (and an
 * upgrade's predecessor, which waits for our word).
 */
static struct conf *load_or_exit(const struct daemon_state *ds)
{
    char *errors = NULL;
    struct conf *conf = load_conf(ds, &errors);

    if (conf == NULL) {
        const char *text = errors ? errors : "usherd: unable to load the configuration\n";
        fputs(text, stderr);
        if (ds->report_fd >= 0)
            daemon_report(ds->report_fd, 2, text);
        free(errors);
        exit(2);
    }
    if (conf->warnings != NULL)
        fputs(conf->warnings, stderr);
    return conf;
}

/* A reload's warnings, a log line each. */
static void log_conf_warnings(const struct conf *conf)
{
    char *copy = conf->warnings ? strdup(conf->warnings) : NULL, *save = NULL;

    for (char *line = copy ? strtok_r(copy, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save))
        log_warnx("%s", line);
    free(copy);
}

/* -P: the configuration as one usherd.conf on stdout. */
static int print_config(const struct conf *conf)
{
    char *text = conf_print(conf);

    if (text == NULL) {
        fprintf(stderr, "usherd: out of memory\n");
        return 1;
    }
    if (fputs(text, stdout) == EOF || fflush(stdout) == EOF) {
        fprintf(stderr, "usherd: unable to write the configuration: %s\n", strerror(errno));
        free(text);
        return 1;
    }
    free(text);
    return 0;
}

/*
 * A start-up failure, in the words "usherd: MESSAGE": told to the waiting
 * parent (which prints it and exits with `status`) or printed here, and
 * logged too when the log is not the terminal.
 */
static void __attribute__((noreturn, format(printf, 3, 4)))
startup_fail(struct daemon_state *ds, int status, const char *fmt, ...)
{
    char msg[768], line[800];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(line, sizeof(line), "usherd: %s", msg);
    if (!log_is_stderr())
        log_errx("%s", msg);
    if (ds->report_fd >= 0)
        daemon_report(ds->report_fd, status, line);
    else
        log_stderr_fatal(msg);
    /*
     * Nothing left behind: a pidfile naming a process that never served is
     * a lie.  But an upgrade's successor holds its predecessor's pidfile,
     * which goes on serving: let go of it, leave the file.
     */
    if (ds->from.upgrading)
        pidfile_disown(&ds->pidfile);
    else
        pidfile_release(&ds->pidfile);
    exit(status);
}

static const char *pidfile_path(const struct daemon_state *ds, const struct conf *conf, char *buf,
                                size_t size)
{
    if (ds->opt.pidfile != NULL)
        return ds->opt.pidfile;
    if (conf->pidfile[0] != '\0')
        return conf->pidfile;
    if (!ds->opt.daemonize)
        return NULL; /* a foreground usherd takes a pidfile only when told to */
    pidfile_default(buf, size);
    return buf;
}

/*
 * The control socket: `setting` (control = of [global]) when set, else
 * beside the pidfile, its name with ".sock" for ".pid"; none with
 * control = none, without a pidfile, or (a warning) past a Unix socket
 * name's length.
 */
static const char *control_path(const char *pidfile, const char *setting, char *buf, size_t size)
{
    size_t len;

    if (strcmp(setting, "none") == 0)
        return NULL;
    if (setting[0] != '\0')
        return setting;
    if (pidfile == NULL)
        return NULL;
    len = strlen(pidfile);
    if (len > 4 && strcmp(pidfile + len - 4, ".pid") == 0)
        len -= 4;
    snprintf(buf, size, "%.*s.sock", (int)len, pidfile);
    return buf;
}

/*
 * -t: the control socket's name holds nothing, or a socket: usherd never
 * puts one in place of another kind of file.
 */
static int check_control(const struct daemon_state *ds, const struct conf *conf)
{
    char pbuf[PATH_MAX], cbuf[PATH_MAX];
    const char *path =
        control_path(pidfile_path(ds, conf, pbuf, sizeof(pbuf)), conf->control, cbuf, sizeof(cbuf));
    struct stat st;

    if (path == NULL || lstat(path, &st) < 0 || S_ISSOCK(st.st_mode))
        return 0;
    fprintf(stderr, "usherd: control socket %s: a file that is not a socket is there\n", path);
    return -1;
}

/* An upgrade's successor: the pidfile through the descriptor its predecessor handed over. */
static void adopt_pidfile(struct daemon_state *ds, const char *path)
{
    char shown[PATH_MAX];

    if (path == NULL) {
        close_quietly(ds->from.pidfile_fd);
        startup_fail(ds, 1, "the configuration names no pidfile now: the upgrade needs one");
    }
    if (pidfile_adopt(&ds->pidfile, ds->from.pidfile_fd, path) == 0)
        return;
    str_escape(shown, sizeof(shown), path, strlen(path));
    startup_fail(ds, 1, "unable to take over the pidfile %s: %s (was it renamed?)", shown,
                 strerror(errno));
}

static void take_pidfile(struct daemon_state *ds, const struct conf *conf)
{
    char buf[PATH_MAX], shown[PATH_MAX];
    const char *path = pidfile_path(ds, conf, buf, sizeof(buf));
    pid_t holder = 0;

    if (ds->from.pidfile_fd >= 0) {
        adopt_pidfile(ds, path);
        return;
    }
    if (path == NULL)
        return;
    if (pidfile_take(&ds->pidfile, path, &holder) == 0)
        return;
    /* The name came from outside (-p, the configuration): escaped in messages. */
    str_escape(shown, sizeof(shown), path, strlen(path));
    path = shown;
    if (errno == EWOULDBLOCK)
        startup_fail(ds, 1, "already running (pid %ld, %s)", (long)holder, path);
    if (errno == ELOOP)
        startup_fail(ds, 1, "pidfile %s is a symbolic link: refused (it is never followed)", path);
    if (errno == EPERM)
        startup_fail(ds, 1, "pidfile %s belongs to another user: refused", path);
    if (errno == EINVAL)
        startup_fail(ds, 1, "pidfile %s is not a regular file: refused", path);
    startup_fail(ds, 1, "unable to take the pidfile %s: %s", path, strerror(errno));
}

static void set_log_target(struct daemon_state *ds, const struct conf *conf)
{
    struct log_target syslog_target;
    const struct log_target *target = &conf->log;
    char err[256];

    /* --daemon has no terminal: syslog, unless the configuration says otherwise. */
    if (ds->opt.daemonize && !conf->log_set) {
        log_target_parse("syslog", &syslog_target, err, sizeof(err));
        target = &syslog_target;
    }
    if (log_use(target, conf->log_facility) == -1)
        log_stderr_warnx("log target %s unreachable: %s; messages are lost until it is back",
                         target->text, strerror(errno));
}

/*
 * log_format and log_ip, before anything is forked: every process of the
 * daemon inherits them and the key of the address hashes.  A reload that
 * changes them says so, in the new format.
 */
static void set_log_options(const struct conf *conf, bool reloading)
{
    enum log_format was_format = log_get_format();
    enum log_ip was_ip = log_get_ip();

    log_set_format(conf->log_format);
    if (log_set_ip(conf->log_ip) < 0)
        log_warn("log_ip = hash: no random key for the hashes; client addresses are logged as -");
    if (reloading && (was_format != conf->log_format || was_ip != conf->log_ip))
        log_info("log: log_format=%s log_ip=%s", log_format_name(conf->log_format),
                 logip_name(conf->log_ip));
}

/* Connections are descriptors: take every one the hard limit allows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        log_warn("unable to raise the descriptor limit");
}

static void notify_status(const char *state)
{
    char buf[256];
    struct timespec ts;

    if (strcmp(state, "RELOADING=1") == 0 && clock_gettime(CLOCK_MONOTONIC, &ts) == 0) {
        /* systemd's notify-reload protocol wants the time of the request. */
        snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%lld",
                 (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000);
        sd_notify_state(buf);
        return;
    }
    sd_notify_state(state);
}

static void log_conf_errors(const char *errors)
{
    char *copy = strdup(errors ? errors : "unable to load the configuration\n"), *save = NULL;

    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        log_errx("%s", line);
    free(copy);
}

/* The pidfile is the instance's identity: it does not move under a running daemon. */
static void warn_pidfile_change(const struct daemon_state *ds, const struct conf *conf)
{
    char buf[PATH_MAX];
    const char *wanted = pidfile_path(ds, conf, buf, sizeof(buf));
    const char *held = ds->pidfile.fd >= 0 ? ds->pidfile.path : NULL;

    if ((wanted == NULL) != (held == NULL) || (wanted && strcmp(wanted, held) != 0))
        log_warnx("pidfile: the change takes effect at the next start; %s stays in use",
                  held ? held : "none");
}

/*
 * Reload, asked by `how` ("SIGHUP", "control socket").  The summary line,
 * or the errors with the configuration in force staying, into `answer`
 * (unless NULL).  True if the new configuration is in force.
 */
static bool reload(struct daemon_state *ds, const char *how, struct strbuf *answer)
{
    char *errors = NULL, msg[512];
    struct conf *conf;
    bool applied = false;

    notify_status("RELOADING=1");
    log_info("%s: reloading %s", how, ds->conf_path[0] ? ds->conf_path : CONF_DEFAULT_NAME);
    conf = load_conf(ds, &errors);
    if (conf == NULL) {
        log_errx("reload failed: the configuration in force stays");
        log_conf_errors(errors);
        if (answer != NULL)
            strbuf_printf(answer, "%sreload failed: the configuration in force stays\n",
                          errors ? errors : "unable to load the configuration\n");
        free(errors);
        metrics_reloaded(ds->metrics, false);
    } else if (server_reload(&ds->srv, conf, msg, sizeof(msg)) < 0) {
        log_errx("reload failed: %s; the configuration in force stays", msg);
        if (answer != NULL)
            strbuf_printf(answer, "reload failed: %s; the configuration in force stays\n", msg);
        metrics_reloaded(ds->metrics, false);
    } else {
        applied = true;
        if (answer != NULL)
            strbuf_printf(answer, "%s%s\n", conf->warnings ? conf->warnings : "", msg);
        metrics_reloaded(ds->metrics, true);
        set_log_options(conf, true);
        set_log_target(ds, conf);
        log_conf_warnings(conf);
        warn_pidfile_change(ds, conf);
        procs_reload(&ds->procs);
    }
    conf_unref(conf);
    notify_status("READY=1\nSTATUS=serving");
    return applied;
}

static void begin_stop(struct daemon_state *ds)
{
    upgrade_abort(&ds->upgrade, "stopping"); /* a stop wins over an upgrade under way */
    if (!ds->srv.stopping && ds->upgrade.handed_to == 0)
        notify_status("STOPPING=1"); /* after an upgrade, the successor is systemd's service */
    server_stop(&ds->srv, false);
}

/* The successor's command line: what ours said, with every path made absolute. */
static void successor_argv(const struct daemon_state *ds, char **argv, size_t max)
{
    size_t n = 0;

    argv[n++] = (char *)ds->argv0; /* as ps and pgrep -f knew it */
    if (ds->conf_path[0] != '\0') {
        argv[n++] = (char *)"-f";
        argv[n++] = (char *)ds->conf_path;
    }
    if (ds->inetd_path[0] != '\0') {
        argv[n++] = (char *)"-I";
        argv[n++] = (char *)ds->inetd_path;
    }
    if (ds->xinetd_path[0] != '\0') {
        argv[n++] = (char *)"-X";
        argv[n++] = (char *)ds->xinetd_path;
    }
    if (ds->opt.pidfile != NULL) {
        argv[n++] = (char *)"-p";
        argv[n++] = (char *)ds->opt.pidfile;
    }
    if (ds->opt.daemonize)
        argv[n++] = (char *)"-D";
    if (ds->opt.verbosity < 0)
        argv[n++] = (char *)"-q";
    for (int v = 0; v < ds->opt.verbosity && n + 1 < max; v++)
        argv[n++] = (char *)"-v";
    argv[n] = NULL;
}

/* Start the successor (SIGUSR2, POST /upgrade).  Returns 0, or -1 with the reason in err. */
static int begin_upgrade(struct daemon_state *ds, char *err, size_t errlen)
{
    size_t max = ds->srv.nbound;
    char *argv[32];
    int *fds = calloc(max + 1, sizeof(*fds));
    const char **names = calloc(max + 1, sizeof(*names));
    bool *owned = calloc(max + 1, sizeof(*owned));
    struct upgrade_spec spec = {.argv = argv, .fds = fds, .names = names, .owned = owned};
    int rc = -1;

    if (ds->srv.stopping)
        snprintf(err, errlen, "stopping: no upgrade now");
    else if (upgrade_running(&ds->upgrade))
        snprintf(err, errlen, "an upgrade is already under way (pid %ld)", (long)ds->upgrade.pid);
    else if (fds == NULL || names == NULL || owned == NULL)
        snprintf(err, errlen, "out of memory");
    else {
        successor_argv(ds, argv, ARRAY_LEN(argv));
        spec.nfds = server_listening(&ds->srv, fds, names, owned, max);
        spec.pidfile_fd = ds->pidfile.fd;
        rc = upgrade_start(&ds->upgrade, &spec, err, errlen);
    }
    free(fds);
    free(names);
    free(owned);
    return rc;
}

/* The successor is ready (stop as at SIGTERM, leaving it every name), or it failed. */
static void on_upgrade_done(void *arg, pid_t pid, bool ok, const char *msg)
{
    struct daemon_state *ds = arg;
    char text[1200], err[640];

    if (!ok) {
        const char *then = ds->srv.stopping ? "stops" : "goes on serving";
        log_errx("upgrade failed: %s; this usherd (pid %ld) %s", msg, (long)getpid(), then);
        /* The successor may have written its pid before it failed. */
        if (ds->pidfile.fd >= 0 && pidfile_write(&ds->pidfile, getpid()) < 0)
            log_warn("unable to write the pidfile %s", ds->pidfile.path);
        snprintf(text, sizeof(text), "upgrade failed: %s; pid %ld %s\n", msg, (long)getpid(), then);
        /* A successor that renamed its control socket over ours and then died: take it back. */
        if (control_server_reclaim(&ds->control, err, sizeof(err)) < 0)
            log_warnx("%s; usherd -s uses signals instead", err);
        control_server_answer(&ds->control, 500, text);
        return;
    }
    log_info("upgrade: pid %ld has taken over; stopping as at SIGTERM", (long)pid);
    server_hand_over(&ds->srv);
    control_server_close(&ds->control);
    pidfile_disown(&ds->pidfile);
    snprintf(text, sizeof(text), "MAINPID=%ld\nREADY=1\nSTATUS=serving", (long)pid);
    sd_notify_state(text);
    snprintf(text, sizeof(text), "upgraded: pid %ld -> %ld\n", (long)getpid(), (long)pid);
    control_server_answer(&ds->control, 200, text);
    begin_stop(ds);
}

/* The control socket's requests. */

static bool control_reload(void *arg, struct strbuf *answer)
{
    struct daemon_state *ds = arg;

    if (ds->srv.stopping) {
        strbuf_printf(answer, "stopping: no reload now\n");
        return false;
    }
    if (upgrade_running(&ds->upgrade)) {
        strbuf_printf(answer, "an upgrade is under way (pid %ld): reload once it is done\n",
                      (long)ds->upgrade.pid);
        return false;
    }
    return reload(ds, "control socket", answer);
}

static void control_stats(void *arg, struct strbuf *answer)
{
    struct daemon_state *ds = arg;

    server_stats_table(&ds->srv, answer);
}

static void control_stop(void *arg)
{
    begin_stop(arg);
}

static bool control_upgrade(void *arg, struct strbuf *answer)
{
    char err[512];

    if (begin_upgrade(arg, err, sizeof(err)) == 0)
        return true;
    log_errx("upgrade not started: %s", err);
    strbuf_printf(answer, "upgrade not started: %s\n", err);
    return false;
}

/* The control socket, once everything else is up (workers forked before it never see it). */
static void open_control(struct daemon_state *ds, const struct conf *conf)
{
    static const struct control_ops ops = {
        .reload = control_reload,
        .stats = control_stats,
        .stop = control_stop,
        .upgrade = control_upgrade,
    };
    struct control_ops mine = ops;
    char buf[PATH_MAX], err[640];
    const char *path = control_path(ds->pidfile.fd >= 0 ? ds->pidfile.path : NULL, conf->control,
                                    buf, sizeof(buf));

    if (path == NULL)
        return;
    mine.arg = ds;
    if (control_server_open(&ds->control, ds->loop, path, ds->from.upgrading, ds->metrics, &mine,
                            err, sizeof(err)) == 0) {
        log_info("control socket %s", path);
        return;
    }
    if (conf->control[0] != '\0')
        startup_fail(ds, 1, "%s", err);
    log_warnx("%s; usherd -s uses signals instead", err);
}

static void on_signal(int signo, void *arg)
{
    struct daemon_state *ds = arg;

    switch (signo) {
    case SIGTERM:
    case SIGINT:
        begin_stop(ds);
        break;
    case SIGUSR1:
        server_log_stats(&ds->srv);
        break;
    case SIGHUP:
        /*
         * Not while a successor starts: it reads the file itself, and a
         * listener we bound or closed now would be taken from under it.
         */
        if (upgrade_running(&ds->upgrade))
            log_warnx("SIGHUP: an upgrade is under way (pid %ld): not reloaded",
                      (long)ds->upgrade.pid);
        else if (!ds->srv.stopping)
            reload(ds, "SIGHUP", NULL);
        break;
    case SIGUSR2: {
        char err[512];
        if (begin_upgrade(ds, err, sizeof(err)) < 0)
            log_errx("SIGUSR2: upgrade not started: %s", err);
        break;
    }
    case SIGCHLD:
        reaper_reap(&ds->srv.reaper);
        break;
    }
}

static void inherit_sockets(struct daemon_state *ds, struct inherited *inh)
{
    const char *fds = getenv("LISTEN_FDS");
    char fds_text[32];

    str_copy(fds_text, sizeof(fds_text), fds ? fds : "");
    inh->n = sd_listen_fds_take(&inh->names);
    if (inh->n < 0 && errno == EBADF)
        startup_fail(ds, 1,
                     "LISTEN_FDS=%s: the descriptors from 3 on that it counts are not all open",
                     fds_text);
    if (inh->n < 0)
        startup_fail(ds, 1, "LISTEN_PID and LISTEN_FDS must be numbers: a pid, and 0 to %d sockets",
                     SD_LISTEN_FDS_MAX);
    inh->fds = calloc((size_t)inh->n + 1, sizeof(*inh->fds));
    if (inh->fds == NULL)
        startup_fail(ds, 1, "out of memory");
    for (int i = 0; i < inh->n; i++)
        inh->fds[i] = 3 + i;
}

static void free_inherited(struct inherited *inh)
{
    for (int i = 0; inh->names != NULL && i < inh->n; i++)
        free(inh->names[i]);
    free(inh->names);
    free(inh->fds);
}

/* An upgrade's successor: the Unix socket files of the sockets handed over are ours now. */
static void own_handed_paths(struct daemon_state *ds, int ninherited)
{
    int fds[64];
    size_t n = 0;

    for (size_t i = 0; i < ds->from.nowned; i++) {
        if ((int)ds->from.owned[i] < ninherited)
            fds[n++] = 3 + (int)ds->from.owned[i];
        if (n == ARRAY_LEN(fds) || i + 1 == ds->from.nowned) {
            server_own_paths(&ds->srv, fds, n);
            n = 0;
        }
    }
}

/* Everything up to serving; exits on any failure. */
static void start(struct daemon_state *ds, struct conf *conf)
{
    static const int signals[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD, 0};
    struct inherited inh = {0};
    char err[512];

    inh.spare_ok = ds->from.upgrading;
    inherit_sockets(ds, &inh);
    if (ds->opt.daemonize && !ds->from.upgrading) {
        umask(0);
        if ((ds->report_fd = daemon_detach(inh.n)) < 0)
            startup_fail(ds, 1, "unable to detach: %s", strerror(errno));
        umask((mode_t)conf->umask);
    } else if (ds->opt.daemonize) {
        umask((mode_t)conf->umask); /* detached already, but the umask is the new file's */
    }
    set_log_target(ds, conf);
    if (!log_is_stderr())
        log_conf_warnings(conf); /* the terminal had them; the log has them too */
    log_stderr_nonblocking();
    take_pidfile(ds, conf);
    raise_fd_limit();
    if ((ds->loop = ev_loop_new()) == NULL)
        startup_fail(ds, 1, "unable to create the event loop: %s", strerror(errno));
    log_info("usherd %s starting, configuration %s", USHER_VERSION, conf->path);
    /* The counters: made now, by the process that stays the master, before any fork. */
    if ((ds->metrics = metrics_new(conf->path)) == NULL)
        startup_fail(ds, 1, "unable to map the counters: %s", strerror(errno));
    metrics_proc_self(ds->metrics, METRICS_ROLE_MASTER);
    log_share_lost(&ds->metrics->log_lines_dropped);
    if (server_start(&ds->srv, ds->loop, conf, ds->metrics, &inh, err, sizeof(err)) < 0)
        startup_fail(ds, 1, "%s", err);
    own_handed_paths(ds, inh.n);
    free_inherited(&inh);
    upgrade_init(&ds->upgrade, ds->loop, &ds->srv.reaper, on_upgrade_done, ds);
    procs_init(&ds->procs, &ds->srv);
    /* Children's exits are reaped in batches, at the loop's wake-ups (sig_hold). */
    if (sig_init(ds->loop, signals, on_signal, ds) < 0 ||
        sig_hold(ds->loop, SIGCHLD, reaper_watching, &ds->srv.reaper) < 0)
        startup_fail(ds, 1, "unable to set up signal handling: %s", strerror(errno));
    if (procs_start(&ds->procs) < 0)
        startup_fail(ds, 1, "unable to start the worker processes: %s", strerror(errno));
    /* An upgrade's successor: the pidfile names us once we serve, before the control socket. */
    if (ds->from.upgrading && ds->pidfile.fd >= 0 && pidfile_write(&ds->pidfile, getpid()) < 0)
        startup_fail(ds, 1, "unable to write the pidfile: %s", strerror(errno));
    open_control(ds, conf);
    if (ds->opt.daemonize && daemon_settle() < 0)
        startup_fail(ds, 1, "unable to detach from the terminal: %s", strerror(errno));
    daemon_report(ds->report_fd, 0, NULL);
    ds->report_fd = -1;
}

static int control(const struct options *opt)
{
    char buf[PATH_MAX], sock[PATH_MAX];
    const char *pidfile = opt->pidfile, *socket_path;
    int64_t wait_ms = 10000 + STOP_WAIT_EXTRA_MS;
    struct conf *conf = NULL;
    int rc;

    /*
     * The pidfile comes from -p, else the configuration; the stop wait from
     * the configuration.  A configuration named with -f is always read (and
     * must be valid); without -f and with -p, none is needed.
     */
    if (pidfile == NULL || opt->conf_path != NULL) {
        struct daemon_state ds = {0};
        choose_conf_path(opt, ds.conf_path, sizeof(ds.conf_path));
        conf = load_or_exit(&ds);
        wait_ms = conf->shutdown_timeout_ms + STOP_WAIT_EXTRA_MS;
        if (pidfile == NULL)
            pidfile = conf->pidfile;
    }
    if (pidfile[0] == '\0') {
        pidfile_default(buf, sizeof(buf));
        pidfile = buf;
    }
    socket_path = control_path(pidfile, conf ? conf->control : "", sock, sizeof(sock));
    rc = control_run(opt->control, pidfile, socket_path, wait_ms);
    conf_unref(conf);
    return rc;
}

int main(int argc, char **argv)
{
    struct daemon_state ds = {.report_fd = -1, .pidfile.fd = -1, .control.fd = -1};
    struct conf *conf;

    parse_options(argc, argv, &ds.opt);
    ds.argv0 = argv[0] != NULL ? argv[0] : "usherd";
    grace_init();
    if (open_std_fds() < 0) {
        fprintf(stderr, "usherd: unable to open /dev/null: %s\n", strerror(errno));
        return 1;
    }
    log_init("usherd");
    log_set_level(ds.opt.verbosity < 0   ? LOG_LVL_WARN
                  : ds.opt.verbosity > 0 ? LOG_LVL_DEBUG
                                         : LOG_LVL_INFO);
    if (ds.opt.control != NULL)
        return control(&ds.opt);
    /* An upgrade's successor: its predecessor waits for our word from now on. */
    if (upgrade_take_env(&ds.from) < 0) {
        fprintf(stderr, "usherd: %s: not a valid hand-over\n", UPGRADE_ENV);
        return 1;
    }
    ds.report_fd = ds.from.report_fd;
    choose_conf_path(&ds.opt, ds.conf_path, sizeof(ds.conf_path));
    absolute(ds.opt.inetd, ds.inetd_path, sizeof(ds.inetd_path));
    absolute(ds.opt.xinetd, ds.xinetd_path, sizeof(ds.xinetd_path));
    if (ds.opt.pidfile != NULL) {
        absolute(ds.opt.pidfile, ds.pidfile_arg, sizeof(ds.pidfile_arg));
        ds.opt.pidfile = ds.pidfile_arg;
    }
    conf = load_or_exit(&ds);
    if (ds.opt.print_config) {
        int rc = print_config(conf);
        conf_unref(conf);
        return rc;
    }
    if (ds.opt.check_only) {
        warn_wait_streams(conf);
        if (check_tls(conf) < 0 || check_control(&ds, conf) < 0) {
            conf_unref(conf);
            return 2;
        }
        printf("configuration ok\n");
        conf_unref(conf);
        return 0;
    }
    set_log_options(conf, false); /* start-up failures are lines of the log too */
    start(&ds, conf);
    conf_unref(conf); /* the server holds its own reference */
    log_info("ready: %zu services, %zu listeners", ds.srv.set.nsvcs, ds.srv.nbound);
    if (ds.from.upgrading)
        log_info("upgrade: took over from pid %ld", (long)ds.from.predecessor);
    else
        notify_status("READY=1\nSTATUS=serving"); /* after an upgrade the predecessor says it */
    upgrade_inherited_free(&ds.from);
    if (ev_run(ds.loop) < 0)
        log_err("event loop failed");
    reaper_reap(&ds.srv.reaper);
    control_server_free(&ds.control);
    procs_free(&ds.procs);
    server_free(&ds.srv);
    sig_shutdown(ds.loop);
    ev_loop_free(ds.loop);
    pidfile_release(&ds.pidfile);
    log_share_lost(NULL);
    metrics_free(ds.metrics);
    log_info("stopped");
    log_close();
    return 0;
}
