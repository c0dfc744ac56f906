/*
 * usher: the client's command line.  Options and dispatch, nothing else;
 * the work is in client.c.
 *
 *   usher [-u] [-n] [-w SEC] [-r N] [TLS options] ADDRESS | HOST PORT     copy stdin <-> server
 *   usher sum|sumbin|time [-u] [-w SEC] [-r N] [TLS options] ADDRESS | HOST PORT
 *   usher status [--watch] [--json] [-i SEC] [-w SEC] [TLS options] ADDRESS | HOST PORT
 *
 * The TLS options (--ca, --insecure, --cert, --key, --servername, --alpn)
 * go with a tls:// address only; --cert and --key go together.  --watch,
 * --json and -i go with the status command only, which takes a stream
 * address (tcp://, tls://, unix:).  The work of status is client_status.c's.
 *
 * Options may come before the command word, after it, or both; they end at
 * the first operand (POSIX order), so a `-` inside an address is never
 * taken for an option.  A command word always wins over a HOST of that
 * name: `usher time 37` is the time command; write tcp://time:37 for the
 * host.  `usher bench ...` is the load generator (bench.c), with options of
 * its own.
 *
 * Exit status: 0 ok, 1 runtime failure (one line on stderr), 2 usage.
 */
#include "bench.h"
#include "client.h"
#include "client_status.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef USHER_VERSION
#define USHER_VERSION "dev"
#endif

#define EXIT_USAGE 2

static void usage(FILE *out)
{
    fprintf(out,
            "usage: usher [-u] [-n] [-w SEC] [-r N] [TLS options] ADDRESS | HOST PORT\n"
            "       usher sum|sumbin|time [-u] [-w SEC] [-r N] [TLS options] ADDRESS | HOST PORT\n"
            "       usher status [--watch] [--json] [-i SEC] [-w SEC] [TLS options] ADDRESS\n"
            "       usher bench [-c CONNS] [-d SEC | -n COUNT] [-s SIZE] [--reset] [--json]\n"
            "                   connect|pingpong|bulk|udp ADDRESS   (usher bench -h)\n"
            "       usher -h | -V\n"
            "ADDRESS: tcp://HOST:PORT tls://HOST:PORT udp://HOST:PORT unix:PATH unixgram:PATH\n"
            "         (unix:@NAME: abstract)\n"
            "  -u      HOST PORT means UDP, not TCP\n"
            "  -w SEC  streams: bound on connect and on idle time; datagrams: reply\n"
            "          timeout (default 2).  2, 0.5, 500ms, 1m\n"
            "  -r N    datagrams: resend up to N times after a timeout (default 0)\n"
            "  -n, --no-reply  datagrams: send each line and wait for no reply\n"
            "  sum     send each stdin line \"A B\", print each sum\n"
            "  sumbin  the same over the binary (XDR) protocol\n"
            "  time    print the server's time (RFC 868) as ISO 8601 UTC\n"
            "  status  usherd's status from a `builtin = metrics` listener, as a table of two\n"
            "          samples -i apart, with rates (-w default 5)\n"
            "    --watch  a sample every -i, the table redrawn on a terminal, until Ctrl-C\n"
            "    --json   the status as usherd sends it (with --watch: one per sample)\n"
            "    -i SEC   time between samples (default 1)\n"
            "TLS options (tls:// only; the server is verified against the system's CAs):\n"
            "  --ca FILE          verify against the CAs in FILE instead\n"
            "  --insecure         do not verify the server at all\n"
            "  --cert FILE --key FILE  present this client certificate (PEM)\n"
            "  --servername NAME  send NAME as SNI and check the certificate for it\n"
            "  --alpn LIST        offer these protocols (h2,http/1.1)\n"
            "Exit status: 0 ok, 1 failure (sum: or an error reply), 2 usage.\n");
}

static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("usher: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    usage(stderr);
    exit(EXIT_USAGE);
}

/* What the command line says. */
struct cli {
    struct client_target t;
    struct client_status_opts status;
    bool status_opts; /* --watch, --json or -i given */
    bool udp;         /* -u */
};

enum {
    OPT_WATCH = CLIENT_TLS_OPT_ALPN + 1,
    OPT_JSON,
};

static void set_wait(int64_t *ms, const char *opt, const char *arg)
{
    if (client_parse_wait(arg, ms) < 0)
        usage_error("%s '%s': expected a time above zero, like 2, 0.5 or 500ms", opt, arg);
}

static void set_retries(struct client_target *t, const char *arg)
{
    int64_t n;

    if (parse_i64(arg, 0, CLIENT_RETRIES_MAX, &n) < 0)
        usage_error("-r '%s': expected a number of resends from 0 to %d", arg, CLIENT_RETRIES_MAX);
    t->tries = (unsigned)n + 1;
}

static void set_status_opt(struct cli *c, int ch, const char *arg)
{
    c->status_opts = true;
    if (ch == OPT_WATCH)
        c->status.watch = true;
    else if (ch == OPT_JSON)
        c->status.json = true;
    else
        set_wait(&c->status.interval_ms, "-i", arg);
}

/*
 * Parse options up to the first operand of argv (argv[0] being the program
 * or the command word).  Returns the index of that operand.
 */
static int parse_options(int argc, char **argv, struct cli *c)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"watch", no_argument, NULL, OPT_WATCH},
        {"json", no_argument, NULL, OPT_JSON},
        {"no-reply", no_argument, NULL, 'n'},
        CLIENT_TLS_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int ch;

    opterr = 0;
    optind = 0; /* glibc: start afresh, on this argv */
    while ((ch = getopt_long(argc, argv, "+:hVunw:r:i:", longopts, NULL)) != -1) {
        if (client_tls_opt_set(&c->t.tls, ch, optarg))
            continue;
        switch (ch) {
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("usher %s\n", USHER_VERSION);
            exit(0);
        case 'u':
            c->udp = true;
            break;
        case 'n':
            c->t.no_reply = true;
            break;
        case 'w':
            set_wait(&c->t.wait_ms, "-w", optarg);
            break;
        case 'r':
            set_retries(&c->t, optarg);
            break;
        case 'i':
        case OPT_WATCH:
        case OPT_JSON:
            set_status_opt(c, ch, optarg);
            break;
        case ':':
            if (optopt >= CLIENT_TLS_OPT_CA)
                usage_error("option %s needs a value", argv[optind - 1]);
            usage_error("option -%c needs a value", optopt);
        default:
            if (optopt != 0)
                usage_error("unknown option -%c", optopt);
            usage_error("unknown option %s", argv[optind - 1]);
        }
    }
    return optind;
}

static int run_copy(const struct cli *c, unsigned *errors, char *err, size_t errlen)
{
    (void)errors;
    return client_copy(&c->t, err, errlen);
}

static int run_sum(const struct cli *c, unsigned *errors, char *err, size_t errlen)
{
    return client_sum(&c->t, false, errors, err, errlen);
}

static int run_sumbin(const struct cli *c, unsigned *errors, char *err, size_t errlen)
{
    return client_sum(&c->t, true, errors, err, errlen);
}

static int run_time(const struct cli *c, unsigned *errors, char *err, size_t errlen)
{
    (void)errors;
    return client_time(&c->t, err, errlen);
}

static int run_status(const struct cli *c, unsigned *errors, char *err, size_t errlen)
{
    (void)errors;
    return client_status(&c->t, &c->status, err, errlen);
}

typedef int run_fn(const struct cli *c, unsigned *errors, char *err, size_t errlen);

static const struct command {
    const char *name;
    run_fn *run;
} commands[] = {
    {"sum", run_sum},
    {"sumbin", run_sumbin},
    {"time", run_time},
    {"status", run_status},
};

static const struct command *find_command(const char *word)
{
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, word) == 0)
            return &commands[i];
    return NULL;
}

static void ignore_sigpipe(void)
{
    struct sigaction sa = {.sa_handler = SIG_IGN};

    /* A closed socket or stdout reader shows up as EPIPE where we write. */
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPIPE, &sa, NULL) < 0) {
        fprintf(stderr, "usher: unable to ignore SIGPIPE: %s\n", strerror(errno));
        exit(1);
    }
}

/* The status command's own rules, as usage errors. */
static void check_status_usage(const struct cli *c, bool is_status)
{
    if (!is_status) {
        if (c->status_opts)
            usage_error("--watch, --json and -i go with usher status");
        return;
    }
    if (c->udp || addr_kind_socktype(c->t.spec.kind) != SOCK_STREAM)
        usage_error("status speaks HTTP: it needs a stream address (tcp://, tls://, unix:), "
                    "not %s",
                    c->t.name);
}

int main(int argc, char **argv)
{
    struct cli c = {.t = {.wait_ms = -1, .tries = 1},
                    .status = {.interval_ms = CLIENT_STATUS_INTERVAL_MS}};
    const struct command *cmd = NULL;
    run_fn *run = run_copy;
    unsigned errors = 0;
    char err[512];
    int first;

    if (open_std_fds() < 0) {
        fprintf(stderr, "usher: unable to open /dev/null: %s\n", strerror(errno));
        return 1;
    }
    ignore_sigpipe();
    /* The load generator has options of its own. */
    if (argc > 1 && strcmp(argv[1], "bench") == 0)
        return bench_main(argc - 1, argv + 1);
    first = parse_options(argc, argv, &c);
    if (first < argc && (cmd = find_command(argv[first])) != NULL) {
        run = cmd->run;
        first += parse_options(argc - first, argv + first, &c);
    }
    if (client_target_parse(argc - first, argv + first, c.udp && run != run_status, &c.t, err,
                            sizeof(err)) < 0 ||
        client_tls_opts_check(&c.t.tls, err, sizeof(err)) < 0)
        usage_error("%s", err);
    if (client_tls_opts_given(&c.t.tls) && !c.t.spec.tls)
        usage_error("the TLS options go with a tls:// address, not %s", c.t.name);
    check_status_usage(&c, run == run_status);
    if (c.t.no_reply && cmd != NULL)
        usage_error("-n goes with the plain copy, not usher %s", cmd->name);
    if (c.t.no_reply && addr_kind_socktype(c.t.spec.kind) != SOCK_DGRAM)
        usage_error("-n goes with a datagram address (udp://, unixgram:), not %s", c.t.name);
    if (run(&c, &errors, err, sizeof(err)) < 0) {
        fprintf(stderr, "usher: %s\n", err);
        return 1;
    }
    return errors > 0 ? 1 : 0;
}
