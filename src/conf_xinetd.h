/*
 * conf_xinetd: serving an xinetd configuration (SPEC 16).  Not for the rest
 * of the daemon: conf.c calls conf_read_xinetd (conf_parse.h); the parts
 * here are apart so that they can be tested alone.
 *
 *   conf_xinetd.c       the syntax: a file's entries and directives
 *                       (xinetd_split), the files (include, includedir),
 *                       and each attribute's operators (xinetd_merge_*)
 *   conf_xinetd_keys.c  the meaning: a merged service as usherd keys
 *
 * Splitting and merging are pure: no file is opened, nothing resolved.
 */
#ifndef USHER_CONF_XINETD_H
#define USHER_CONF_XINETD_H

#include "conf_parse.h"

#include <stdbool.h>
#include <stddef.h>

enum xi_op { XI_SET, XI_ADD, XI_REMOVE }; /* =, +=, -= */

/* One attribute line: NAME OP VALUE... (values split at blanks, as xinetd splits them). */
struct xi_attr {
    char *name;
    enum xi_op op;
    char **values; /* NULL-ended */
    size_t nvalues;
    int line;
};

enum xi_item_kind { XI_DEFAULTS, XI_SERVICE, XI_INCLUDE, XI_INCLUDEDIR };

/* An entry (defaults, service NAME) with its attributes, or a directive. */
struct xi_item {
    enum xi_item_kind kind;
    char *name; /* the service's name, or the path of include / includedir */
    int line;   /* of the keyword */
    struct xi_attr *attrs;
    size_t nattrs;
};

/* One file, split. */
struct xi_file {
    const char *path; /* a name the configuration keeps */
    char *text;       /* the file's text, which the items point into (owned) */
    struct xi_item *items;
    size_t nitems;
};

#define XI_VALUES_MAX 1024 /* values on one attribute line */

/*
 * Split `text` (malloc'd; the file takes it) into f's items.  Errors are
 * noted at their lines of p->file: braces that do not balance, a line that
 * is no entry, directive or attribute.  An entry with an error in its
 * header is skipped up to its '}'.
 */
void xinetd_split(struct parser *p, char *text, struct xi_file *f);
void xinetd_file_free(struct xi_file *f);

/* The attributes, by what they mean; names in the table of conf_xinetd.c. */
enum xi_attr_id {
    XA_SOCKET_TYPE,
    XA_PROTOCOL,
    XA_WAIT,
    XA_USER,
    XA_GROUP,
    XA_SERVER,
    XA_SERVER_ARGS,
    XA_INSTANCES,
    XA_PER_SOURCE,
    XA_CPS,
    XA_ONLY_FROM,
    XA_NO_ACCESS,
    XA_TYPE,
    XA_ID,
    XA_ENV,
    XA_PASSENV,
    XA_PORT,
    XA_FLAGS,
    XA_NICE,
    XA_REDIRECT,
    XA_BANNER,
    XA_BANNER_SUCCESS,
    XA_BANNER_FAIL,
    XA_BIND,
    XA_DISABLE,
    XA_UMASK,
    XA_V6ONLY,
    XA_RLIMIT_AS,
    XA_RLIMIT_CPU,
    XA_RLIMIT_DATA,
    XA_RLIMIT_RSS,
    XA_RLIMIT_STACK,
    XA_RLIMIT_FILES,
    XA_DISABLED, /* defaults: ids not served */
    XA_ENABLED,  /* defaults: the only ids served */
    XA_LOG_TYPE, /* accepted with a warning, from here on */
    XA_LOG_ON_SUCCESS,
    XA_LOG_ON_FAILURE,
    XA_MDNS,
    XA_GROUPS,
    XA_LIBWRAP,
    XA_DENY_TIME,
    XA_MAX_LOAD,
    XA_ACCESS_TIMES, /* errors, from here on */
    XA_RPC_VERSION,
    XA_RPC_NUMBER,
    XA_COUNT,
};

/* An attribute after its operators, defaults applied. */
struct xi_value {
    const char *file; /* where it was last set (the defaults' file if inherited) */
    int line;         /* 0: not set */
    bool inherited;   /* from defaults, not set in the service itself */
    char **v;         /* the values, pointing into the files' texts */
    size_t n, cap;
};

struct xi_service {
    const char *name; /* as after `service` */
    const char *file;
    int line;
    struct xi_value val[XA_COUNT];
};

/*
 * The attributes of the defaults entry `it` of `file` into `out` ('='
 * adds to a list there, as xinetd has it).  Errors: an attribute that is
 * not allowed in defaults, a wrong count of values or operator.
 */
void xinetd_merge_defaults(struct parser *p, const struct xi_item *it, const char *file,
                           struct xi_service *out);

/*
 * The service `it` of `file` into `out`, over `defaults` (NULL: none).
 * `after_defaults`: the defaults entry came first, so that the lists and
 * banners of the defaults are the service's starting values, which '='
 * replaces and '+=' extends (xinetd takes the rest of the defaults in any
 * case).  Errors: an unknown or unsupported attribute, a wrong count of
 * values, an operator the attribute does not take, an attribute set twice.
 * The ignored attributes are reported through `ignored`, each at its line.
 */
void xinetd_merge_service(struct parser *p, const struct xi_service *defaults, bool after_defaults,
                          const struct xi_item *it, const char *file, struct xi_service *out,
                          void (*ignored)(void *arg, enum xi_attr_id id, int line), void *arg);

void xinetd_service_free(struct xi_service *s);

/* The name of an attribute; what usherd does instead of an ignored one (NULL if not ignored). */
const char *xinetd_attr_name(enum xi_attr_id id);
const char *xinetd_attr_ignored(enum xi_attr_id id);

/*
 * Is the entry `it` disabled by its own `disable = yes`?  (Then nothing but
 * its syntax is checked.)  A value other than yes or no is an error.
 */
bool xinetd_self_disabled(struct parser *p, const struct xi_item *it);

/* The value of `id`'s one value, or NULL when unset (or set without a value). */
const char *xinetd_value(const struct xi_service *s, enum xi_attr_id id);

/* Does the set attribute `id` (a list: type, flags) hold `word`? */
bool xinetd_has(const struct xi_service *s, enum xi_attr_id id, const char *word);

/*
 * Turn the merged service `s` into a usherd service of p->conf (see
 * conf_xinetd_keys.c).  `taken`: the services converted so far, for the
 * rule that a second service of the same id and address is xinetd's
 * duplicate (skipped with a warning).
 */
struct xi_done {
    char id[64];
    char listen[400];
    const char *file;
    int line;
};
void xinetd_add_service(struct parser *p, const struct xi_service *s, struct xi_done **done,
                        size_t *ndone);

#endif
