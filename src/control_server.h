/*
 * control_server: the daemon's end of the control socket, a Unix stream
 * socket (mode 0600) that `usherd -s` talks to.  It speaks the HTTP/1.1
 * of builtin = metrics (http.h):
 *
 *   GET|HEAD /metrics   the Prometheus text, as builtin = metrics serves it
 *   GET|HEAD /status    the JSON of /status
 *   GET|HEAD /stats     the counters, one line per service (as SIGUSR1 logs)
 *   POST /reload        reload now; 200 with the summary once applied, or
 *                       422 with the errors (the configuration in force stays)
 *   POST /stop          200, then the graceful stop begins
 *   POST /upgrade       answered once the new binary has taken over (200)
 *                       or has failed (500), with what happened
 *
 * Anything else is 404 (405 for a known path and another method).  The
 * work behind each POST is main's: it installs it as control_ops.
 *
 * Bounds: CONTROL_CONNS_MAX connections at once (more wait in the listen
 * backlog, not accepted, until one closes), each with one request's head
 * and CONTROL_IN_MAX bytes read ahead, answered one request at a time
 * (nothing more is read while an answer waits for the socket or for an
 * upgrade).  A request must be complete within CONTROL_IDLE_MS of the
 * connection or of the last answer, and a reader that takes nothing for
 * CONTROL_IDLE_MS is closed, unless an upgrade's answer is awaited.  Out
 * of descriptors or memory at accept, the socket rests 100 ms (logged at
 * most once a second) rather than spin on a readable backlog.
 *
 * The socket file is made under another name and renamed into place, so a
 * successor can take the name over from a running usherd without a moment
 * when connecting to it fails; it is removed at close only while the file
 * at the name is still the one this process made.
 */
#ifndef USHER_CONTROL_SERVER_H
#define USHER_CONTROL_SERVER_H

#include "ev.h"
#include "log.h"
#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CONTROL_CONNS_MAX 16
#define CONTROL_IN_MAX    4096
#define CONTROL_IDLE_MS   10000

struct metrics;
struct control_conn;

/* What the requests do, installed by main. */
struct control_ops {
    /* POST /reload: reload; the summary or the errors into `answer`.  True if applied. */
    bool (*reload)(void *arg, struct strbuf *answer);
    /* GET /stats: the counters table into `answer`. */
    void (*stats)(void *arg, struct strbuf *answer);
    /* POST /stop: begin the graceful stop (called once the answer is sent). */
    void (*stop)(void *arg);
    /*
     * POST /upgrade: begin it.  True if begun (the answer follows later,
     * through control_server_answer); false with the reason in `answer`.
     */
    bool (*upgrade)(void *arg, struct strbuf *answer);
    void *arg;
};

struct control_server {
    struct ev_loop *loop;
    struct metrics *metrics;
    struct control_ops ops;
    int fd;         /* the listening socket, or -1 */
    char path[108]; /* its name */
    dev_t dev;      /* the file we made at that name */
    ino_t ino;
    struct control_conn *conns; /* open connections */
    unsigned nconns;
    struct control_conn *waiting; /* the connection an upgrade's answer is for */
    struct ev_timer resume;       /* accepting again after running out of descriptors */
    struct log_ratelimit accept_rl;
};

/*
 * Make the socket `path` and serve it in `loop`.  What is at the name may
 * be replaced only if it is a socket nobody answers on, or, with
 * `takeover` (an upgrade's successor), our predecessor's: never another
 * kind of file, nor another usherd's socket.  Returns 0, or -1 with errno
 * and a message naming the path in err (nothing left behind).
 */
int control_server_open(struct control_server *cs, struct ev_loop *loop, const char *path,
                        bool takeover, struct metrics *metrics, const struct control_ops *ops,
                        char *err, size_t errlen);

/*
 * Stop accepting: the listening socket closes (its file removed if it is
 * still ours); open connections go on until answered.
 */
void control_server_close(struct control_server *cs);

/*
 * After a failed upgrade: if the name no longer leads to our socket (the
 * successor renamed its own over it, then died), make a new one there.
 * Returns 0, or -1 with a message in err (then there is none).
 */
int control_server_reclaim(struct control_server *cs, char *err, size_t errlen);

/* The answer to the awaited POST /upgrade (dropped if its client has gone). */
void control_server_answer(struct control_server *cs, int status, const char *body);

/*
 * Close everything, after the loop; an awaited upgrade's client is told
 * (500) that usherd stopped first.
 */
void control_server_free(struct control_server *cs);

#endif
