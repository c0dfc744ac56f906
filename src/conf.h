/*
 * conf: the configuration file, parsed and validated into plain data.
 *
 *   # comment            ; comment too
 *   [global]             optional, settings of the daemon as a whole
 *   key = value          lists are separated by blanks or commas
 *   [NAME]               one section per service
 *   listen = tcp://127.0.0.1:7 udp://[::1]:7 unix:/run/echo.sock
 *   builtin = echo       or: exec = /usr/local/bin/prog --flag "two words"
 *
 * Parsing is pure: no socket is opened and nothing is printed.  Host names,
 * service names, users and groups are resolved here, so that a successful
 * load is a configuration that can be applied (and a child about to exec
 * needs no lookup).  Errors come back as "FILE:LINE: message" lines.
 */
#ifndef USHER_CONF_H
#define USHER_CONF_H

#include "addr.h"
#include "log.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

enum builtin_id {
    BUILTIN_NONE = -1,
    BUILTIN_ECHO,
    BUILTIN_DISCARD,
    BUILTIN_DAYTIME,
    BUILTIN_CHARGEN,
    BUILTIN_TIME,
    BUILTIN_SUM,
    BUILTIN_SUMBIN,
    BUILTIN_METRICS, /* HTTP: /metrics and /status */
    BUILTIN_COUNT,
};

/* "echo", ..., or NULL. */
const char *conf_builtin_name(enum builtin_id id);
/* BUILTIN_NONE when unknown. */
enum builtin_id conf_builtin_lookup(const char *name);

enum svc_model {
    MODEL_EVENT,
    MODEL_FORK,
    MODEL_PREFORK,
};

/* "N/s", "N/m": N events per period. */
struct conf_rate {
    unsigned count; /* 0: no limit */
    int64_t period_ms;
};

/* Access rules: a peer denied by any rule is refused; with allow rules, it must match one. */
struct conf_access {
    struct addr_prefix *allow, *deny;
    size_t nallow, ndeny;
};

/* One address to listen on (a name may have given several). */
struct conf_listen {
    struct addr addr;
    char text[ADDR_TEXT_MAX]; /* as written */
    const char *file;         /* where: the conf's path or inetd_path */
    int line;
    bool optional; /* embedded default: skip if the address family is missing */
};

enum stderr_target {
    STDERR_LOG,
    STDERR_SOCKET,
    STDERR_NULL,
};

/*
 * What a stop does to the service's running programs: term (SIGTERM to
 * their process groups at shutdown_timeout, SIGKILL 2 s later) or leave
 * (neither waited for nor signalled: they outlive usherd).
 */
enum on_stop {
    ON_STOP_TERM,
    ON_STOP_LEAVE,
};

/* The resource limits a child gets, in the order of the keys. */
enum {
    RLIM_CPU,
    RLIM_AS,
    RLIM_NOFILE,
    RLIM_NPROC,
    RLIM_FSIZE,
    RLIM_CORE,
    RLIM_DATA,
    RLIM_RSS,
    RLIM_STACK,
    RLIM_COUNT,
};

/* An exec service: what the child is and becomes. */
struct exec_conf {
    char **argv; /* NULL-ended; argv[0] as written */
    char *path;  /* the program: argv[0], found in PATH if it had no '/' */
    bool wait;   /* inetd's wait: the child gets the listening socket */
    bool user_set, group_set;
    uid_t uid;
    gid_t gid;
    gid_t *groups; /* supplementary groups (initgroups' list, looked up here) */
    int ngroups;
    char **user_env; /* user: its HOME, USER, LOGNAME, SHELL as "NAME=VALUE"; NULL-ended */
    char *chroot;
    char **env; /* "NAME=VALUE", NULL-ended */
    size_t nenv;
    enum stderr_target stderr_to;
    enum on_stop on_stop;
    bool rlimit_set[RLIM_COUNT];
    rlim_t rlimit[RLIM_COUNT];
    bool nice_set;
    int nice;
    bool umask_set; /* umask = MODE: the child's file creation mask */
    mode_t umask;
    char *argv0; /* argv0 = NAME, while the section is read: argv[0] apart from the program */
};

/*
 * The banners of a service (banner, banner_success, banner_fail): file
 * contents read at load, sent on stream listeners (see conf_banner.c).
 */
enum conf_banner_kind {
    BANNER_FIRST,   /* to every client, as soon as it is accepted */
    BANNER_SUCCESS, /* then to an admitted one, before the service starts */
    BANNER_FAIL,    /* or to a refused one, before it is closed */
    BANNER_COUNT,
};

#define CONF_BANNER_MAX 4096 /* bytes per banner: one non-blocking send to a new connection */

struct conf_banner {
    char *text; /* NULL: none */
    size_t len;
};

enum tls_verify {
    TLS_VERIFY_NONE,     /* no client certificate asked for */
    TLS_VERIFY_OPTIONAL, /* asked for; one that is sent must verify */
    TLS_VERIFY_REQUIRE,  /* a verified client certificate or no connection */
};

#define TLS_PAIRS_MAX 16 /* certificate and key pairs per service */

/* A file the TLS layer reads, and where the configuration named it. */
struct tls_file {
    char *path;
    int line;
};

/*
 * The TLS of a service's tls:// listeners.  The files are only named
 * here: the TLS engine reads them (at start and on every reload).
 */
struct tls_conf {
    const char *file; /* the configuration file, for FILE:LINE */
    struct tls_file cert[TLS_PAIRS_MAX], key[TLS_PAIRS_MAX];
    size_t ncert, nkey; /* equal once the section is checked */
    struct tls_file client_ca;
    enum tls_verify verify;
    int min_version;              /* 12 or 13 */
    char *ciphers, *ciphersuites; /* NULL: OpenSSL's defaults */
    int ciphers_line, ciphersuites_line;
    unsigned char *alpn; /* ALPN wire format: length-prefixed names, in preference order */
    size_t alpn_len;
    int64_t handshake_timeout_ms;
};

#define FORWARD_BACKENDS_MAX 16

/* A forward service: the backends, tried in order, and how to reach them. */
struct forward_conf {
    struct addr backend[FORWARD_BACKENDS_MAX]; /* resolved at load */
    char text[FORWARD_BACKENDS_MAX][ADDR_TEXT_MAX];
    size_t n;
    int proxy_version;          /* forward_proxy_protocol: 0 (no), 1 or 2 */
    int64_t connect_timeout_ms; /* per backend */
};

struct svc_conf {
    char name[64];
    int line;     /* of the section header */
    char *canon;  /* the section's keys and values as parsed: equal text, same service */
    char *origin; /* where it came from ("FILE:LINE", "xinetd FILE:LINE, service NAME"), for -P */
    struct conf_banner banner[BANNER_COUNT];
    struct conf_listen *listens;
    size_t nlistens;
    enum builtin_id builtin;        /* BUILTIN_NONE for an exec service */
    struct exec_conf *exec;         /* NULL for a builtin */
    struct tls_conf *tls;           /* NULL without tls:// listeners */
    struct forward_conf *forward;   /* NULL but for a forward service */
    int proxy_protocol;             /* 0 (no), 1 (v1), 2 (v2), 3 (any): proxy.h's modes */
    struct addr_prefix *proxy_from; /* the balancers trusted to send the header */
    size_t nproxy_from;
    int64_t proxy_timeout_ms; /* for the whole header */
    enum svc_model model;
    unsigned prefork;        /* workers of model = prefork:N */
    int64_t idle_timeout_ms; /* 0: none */
    int64_t max_time_ms;     /* 0: none */
    unsigned max_conns;      /* 0: no limit */
    unsigned max_per_ip;     /* per address, IPv6 per /64; 0: no limit */
    struct conf_rate rate, rate_per_ip;
    struct conf_access access;
    int backlog;
    int64_t keepalive_ms;     /* 0: SO_KEEPALIVE off */
    enum log_conns log_conns; /* which connection lines are written */
    /* Unix socket files: -1 when not set. */
    int sock_mode;
    uid_t sock_owner;
    gid_t sock_group;
    bool sock_owner_set, sock_group_set;
};

struct conf {
    unsigned refs; /* see conf_ref */
    char *path;    /* the file, or "(embedded default)" */
    bool embedded;
    int64_t shutdown_timeout_ms;
    unsigned max_conns; /* all services together; 0: no limit */
    unsigned workers;   /* event-loop processes */
    char pidfile[256];  /* "" when not set */
    char control[108];  /* the control socket: "" when not set (beside the pidfile), or "none" */
    char inetd[256];    /* an inetd.conf to serve too, "" when not set */
    char *inetd_path;   /* the inetd.conf read (-I or `inetd`), or NULL */
    char xinetd[256];   /* an xinetd.conf to serve too, "" when not set */
    char **files;       /* the names of the xinetd files read (listeners point at them) */
    size_t nfiles;
    char *global_canon; /* the [global] keys and values as parsed, but inetd and xinetd (-P) */
    char *warnings;     /* "FILE:LINE: warning: ..." lines of a successful load, or NULL */
    bool log_set;       /* `log` given: --daemon keeps it instead of syslog */
    struct log_target log;
    int log_facility;
    enum log_format log_format;
    enum log_ip log_ip; /* how client addresses are logged */
    int umask;          /* for --daemon */
    struct svc_conf *svcs;
    size_t nsvcs;
};

#define CONF_DEFAULT_NAME "(embedded default)"

/*
 * Load `path`, and the inetd.conf `inetd` too unless NULL (services of
 * both are served).  Returns the configuration, or NULL with *errors set to
 * a malloc'd text of "FILE:LINE: message" lines (the caller frees it).
 */
struct conf *conf_load(const char *path, const char *inetd, char **errors);

/*
 * Where a configuration comes from: a usherd.conf (NULL: none), an
 * inetd.conf (-I) and an xinetd.conf (-X), each NULL when not given.  With
 * none of the three, the embedded default is loaded.
 */
struct conf_sources {
    const char *path, *inetd, *xinetd;
};

/* Load every source of `src` into one configuration; NULL with *errors as conf_load. */
struct conf *conf_load_sources(const struct conf_sources *src, char **errors);

/*
 * The configuration as one usherd.conf text (malloc'd; NULL when out of
 * memory): [global], then every service with a comment line saying where
 * it came from.  Loading the text gives the same configuration, and
 * printing that gives the same text.
 */
char *conf_print(const struct conf *conf);

/* The same from text in memory; `name` stands for the file in messages. */
struct conf *conf_parse(const char *text, const char *name, char **errors);

/* The embedded default configuration (plus `inetd` unless NULL). */
struct conf *conf_load_default(const char *inetd, char **errors);
extern const char conf_default_text[];

/*
 * A configuration is shared by the services built from it, which may
 * outlive a reload: conf_ref adds a holder, conf_unref drops one and frees
 * the configuration with the last.  A loaded configuration has one holder.
 */
struct conf *conf_ref(struct conf *conf);
void conf_unref(struct conf *conf);

/* Do two service definitions say the same thing (line numbers aside)? */
bool conf_svc_equal(const struct svc_conf *a, const struct svc_conf *b);

/* The service called `name`, or NULL. */
const struct svc_conf *conf_find(const struct conf *conf, const char *name);

#endif
