/*
 * usher: the client's command line.  Options and dispatch, nothing else;
 * the work is in client.c.
 *
 *   usher [-u] [-w SEC] [-r N] [TLS options] ADDRESS | HOST PORT     copy stdin <-> server
 *   usher sum|sumbin|time [-u] [-w SEC] [-r N] [TLS options] ADDRESS | HOST PORT
 *
 * The TLS options (--ca, --insecure, --cert, --key, --servername, --alpn)
 * go with a tls:// address only; --cert and --key go together.
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
            "usage: usher [-u] [-w SEC] [-r N] [TLS options] ADDRESS | HOST PORT\n"
            "       usher sum|sumbin|time [-u] [-w SEC] [-r N] [TLS options] ADDRESS | HOST PORT\n"
            "       usher bench [-c CONNS] [-d SEC | -n COUNT] [-s SIZE] [--reset] [--json]\n"
            "                   connect|pingpong|bulk|udp ADDRESS   (usher bench -h)\n"
            "       usher -h | -V\n"
            "ADDRESS: tcp://HOST:PORT tls://HOST:PORT udp://HOST:PORT unix:PATH unixgram:PATH\n"
            "         (unix:@NAME: abstract)\n"
            "  -u      HOST PORT means UDP, not TCP\n"
            "  -w SEC  streams: bound on connect and on idle time; datagrams: reply\n"
            "          timeout (default 2).  2, 0.5, 500ms, 1m\n"
            "  -r N    datagrams: resend up to N times after a timeout (default 0)\n"
            "  sum     send each stdin line \"A B\", print each sum\n"
            "  sumbin  the same over the binary (XDR) protocol\n"
            "  time    print the server's time (RFC 868) as ISO 8601 UTC\n"
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

static void set_wait(struct client_target *t, const char *arg)
{
    if (client_parse_wait(arg, &t->wait_ms) < 0)
        usage_error("-w '%s': expected a time above zero, like 2, 0.5 or 500ms", arg);
}

static void set_retries(struct client_target *t, const char *arg)
{
    int64_t n;

    if (parse_i64(arg, 0, CLIENT_RETRIES_MAX, &n) < 0)
        usage_error("-r '%s': expected a number of resends from 0 to %d", arg, CLIENT_RETRIES_MAX);
    t->tries = (unsigned)n + 1;
}

/*
 * Parse options up to the first operand of argv (argv[0] being the program
 * or the command word).  Returns the index of that operand.
 */
static int parse_options(int argc, char **argv, struct client_target *t, bool *udp)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        CLIENT_TLS_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int ch;

    opterr = 0;
    optind = 0; /* glibc: start afresh, on this argv */
    while ((ch = getopt_long(argc, argv, "+:hVuw:r:", longopts, NULL)) != -1) {
        if (client_tls_opt_set(&t->tls, ch, optarg))
            continue;
        switch (ch) {
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("usher %s\n", USHER_VERSION);
            exit(0);
        case 'u':
            *udp = true;
            break;
        case 'w':
            set_wait(t, optarg);
            break;
        case 'r':
            set_retries(t, optarg);
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

static int run_copy(const struct client_target *t, unsigned *errors, char *err, size_t errlen)
{
    (void)errors;
    return client_copy(t, err, errlen);
}

static int run_sum(const struct client_target *t, unsigned *errors, char *err, size_t errlen)
{
    return client_sum(t, false, errors, err, errlen);
}

static int run_sumbin(const struct client_target *t, unsigned *errors, char *err, size_t errlen)
{
    return client_sum(t, true, errors, err, errlen);
}

static int run_time(const struct client_target *t, unsigned *errors, char *err, size_t errlen)
{
    (void)errors;
    return client_time(t, err, errlen);
}

typedef int run_fn(const struct client_target *t, unsigned *errors, char *err, size_t errlen);

static const struct command {
    const char *name;
    run_fn *run;
} commands[] = {
    {"sum", run_sum},
    {"sumbin", run_sumbin},
    {"time", run_time},

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

int main(int argc, char **argv)
{
    struct client_target t = {.wait_ms = -1, .tries = 1};
    const struct command *cmd = NULL;
    run_fn *run = run_copy;
    unsigned errors = 0;
    char err[512];
    bool udp = false;
    int first;

    if (open_std_fds() < 0) {
        fprintf(stderr, "usher: unable to open /dev/null: %s\n", strerror(errno));
        return 1;
    }
    ignore_sigpipe();
    /* The load generator has options of its own. */
    if (argc > 1 && strcmp(argv[1], "bench") == 0)
        return bench_main(argc - 1, argv + 1);
    first = parse_options(argc, argv, &t, &udp);
    if (first < argc && (cmd = find_command(argv[first])) != NULL) {
        run = cmd->run;
        first += parse_options(argc - first, argv + first, &t, &udp);
    }
    if (client_target_parse(argc - first, argv + first, udp, &t, err, sizeof(err)) < 0 ||
        client_tls_opts_check(&t.tls, err, sizeof(err)) < 0)
        usage_error("%s", err);
    if (client_tls_opts_given(&t.tls) && !t.spec.tls)
        usage_error("the TLS options go with a tls:// address, not %s", t.name);
    if (run(&t, &errors, err, sizeof(err)) < 0) {
        fprintf(stderr, "usher: %s\n", err);
        return 1;
    }
    return errors > 0 ? 1 : 0;
}
