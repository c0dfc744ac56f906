/*
 * conf: the configuration file, parsed and validated into plain data.
 *
 *   # comment            ; comment too
 *   [global]             optional, settings of the daemon as a whole
 *   key = value          lists are separated by blanks or commas
 *   [NAME]               one section per service
 *   listen = tcp://127.0.0.1:7 udp://[::1]:7 unix:/run/echo.sock
 *   builtin = echo
 *
 * Parsing is pure: no socket is opened and nothing is printed.  Host names,
 * service names, users and groups are resolved here, so that a successful
 * load is a configuration that can be applied.  Errors come back as
 * "FILE:LINE: message" lines.
 */
#ifndef USHER_CONF_H
#define USHER_CONF_H

#include "addr.h"
#include "log.h"

#include <stdbool.h>
#include <stdint.h>
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
    BUILTIN_COUNT,
};

/* "echo", ..., or NULL. */
const char *conf_builtin_name(enum builtin_id id);
/* BUILTIN_NONE when unknown. */
enum builtin_id conf_builtin_lookup(const char *name);

enum svc_model {
    MODEL_EVENT,
};

/* One address to listen on (a name may have given several). */
struct conf_listen {
    struct addr addr;
    char text[ADDR_TEXT_MAX]; /* as written */
    int line;
    bool optional; /* embedded default: skip if the address family is missing */
};

struct svc_conf {
    char name[64];
    int line; /* of the section header */
    struct conf_listen *listens;
    size_t nlistens;
    enum builtin_id builtin;
    enum svc_model model;
    int64_t idle_timeout_ms; /* 0: none */
    int backlog;
    int64_t keepalive_ms; /* 0: SO_KEEPALIVE off */
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
    char pidfile[256];  /* "" when not set */
    bool log_set;       /* `log` given: --daemon keeps it instead of syslog */
    struct log_target log;
    int log_facility;
    int umask; /* for --daemon */
    struct svc_conf *svcs;
    size_t nsvcs;
};

#define CONF_DEFAULT_NAME "(embedded default)"

/*
 * Load `path`.  Returns the configuration, or NULL with *errors set to a
 * malloc'd text of "FILE:LINE: message" lines (the caller frees it).
 */
struct conf *conf_load(const char *path, char **errors);

/* The same from text in memory; `name` stands for the file in messages. */
struct conf *conf_parse(const char *text, const char *name, char **errors);

/* The embedded default configuration. */
struct conf *conf_load_default(char **errors);
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
