/*
 * usherd: options, start-up order, the signal switch.  Nothing else.
 *
 * Start-up: options; load and validate the configuration (errors reach the
 * terminal, exit 2); raise the descriptor limit; bind every listener (exit 1
 * on failure, nothing left behind); signals; the loop.  At stop, the loop
 * ends once connections have finished or shutdown_timeout has passed.
 */
#include "conf.h"
#include "ev.h"
#include "log.h"
#include "service.h"
#include "sig.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define SYSTEM_CONF "/etc/usherd.conf"

#ifndef USHER_VERSION
#define USHER_VERSION "dev"
#endif

struct options {
    const char *conf_path; /* NULL: SYSTEM_CONF if present, else the default */
    bool check_only;
    int verbosity; /* -1 quiet, 0 normal, 1+ verbose */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: usherd [-tvqhV] [-f FILE]\n"
                 "  -f FILE      configuration file (default: " SYSTEM_CONF " if it exists,\n"
                 "               else the embedded default: every builtin on loopback)\n"
                 "  -t           check the configuration and exit\n"
                 "  -v           more log detail (repeatable)\n"
                 "  -q           warnings and errors only\n"
                 "  -V, --version, -h, --help\n");
}

static void parse_options(int argc, char **argv, struct options *opt)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    memset(opt, 0, sizeof(*opt));
    while ((ch = getopt_long(argc, argv, "f:tvqhV", longopts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            opt->conf_path = optarg;
            break;
        case 't':
            opt->check_only = true;
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
    if (optind != argc) {
        fprintf(stderr, "usherd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        exit(2);
    }
}

static struct conf *load_config(const struct options *opt)
{
    struct conf *conf;
    char *errors = NULL;

    if (opt->conf_path != NULL)
        conf = conf_load(opt->conf_path, &errors);
    else if (access(SYSTEM_CONF, F_OK) == 0)
        conf = conf_load(SYSTEM_CONF, &errors);
    else
        conf = conf_load_default(&errors);
    if (conf == NULL) {
        fputs(errors ? errors : "usherd: unable to load the configuration\n", stderr);
        free(errors);
        exit(2);
    }
    return conf;
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

static void on_signal(int signo, void *arg)
{
    struct server *srv = arg;

    switch (signo) {
    case SIGTERM:
    case SIGINT:
        server_stop(srv, false);
        break;
    case SIGUSR1:
        server_log_stats(srv);
        break;
    case SIGHUP:
        log_warnx("SIGHUP: configuration reload is not supported by this build; ignored");
        break;
    }
}

int main(int argc, char **argv)
{
    static const int signals[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, 0};
    struct options opt;
    struct server srv;
    struct conf *conf;
    struct ev_loop *loop;
    char err[512];

    parse_options(argc, argv, &opt);
    log_init("usherd");
    log_set_level(opt.verbosity < 0   ? LOG_LVL_WARN
                  : opt.verbosity > 0 ? LOG_LVL_DEBUG
                                      : LOG_LVL_INFO);
    conf = load_config(&opt);
    if (opt.check_only) {
        printf("configuration ok\n");
        conf_free(conf);
        return 0;
    }
    raise_fd_limit();
    loop = ev_loop_new();
    if (loop == NULL) {
        log_err("unable to create the event loop");
        return 1;
    }
    log_info("usherd %s starting, configuration %s", USHER_VERSION, conf->path);
    if (server_start(&srv, loop, conf, err, sizeof(err)) < 0) {
        log_errx("%s", err);
        conf_free(conf);
        ev_loop_free(loop);
        return 1;
    }
    if (sig_init(loop, signals, on_signal, &srv) < 0) {
        log_err("unable to set up signal handling");
        server_free(&srv);
        ev_loop_free(loop);
        return 1;
    }
    log_info("ready: %zu services, %zu listeners", srv.nsvcs, srv.nbound);
    if (ev_run(loop) < 0)
        log_err("event loop failed");
    server_free(&srv);
    sig_shutdown(loop);
    ev_loop_free(loop);
    log_info("stopped");
    return 0;
}
