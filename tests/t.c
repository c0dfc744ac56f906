/*
 * t: the test runner (see t.h).
 */
#include "t.h"

#include <errno.h>
#include <ftw.h>
#include <glob.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define T_EXIT_SKIP       77
#define T_DEFAULT_TIMEOUT 30

static const char *current_case = "?";
static void (*end_hooks[16])(void);
static int nend_hooks;

void t_at_end(void (*fn)(void))
{
    if (nend_hooks < (int)(sizeof(end_hooks) / sizeof(end_hooks[0])))
        end_hooks[nend_hooks++] = fn;
}

/* Leave the case: hooks in reverse order, then _exit. */
static void __attribute__((noreturn)) end_case(int code)
{
    fflush(stdout);
    fflush(stderr);
    while (nend_hooks > 0)
        end_hooks[--nend_hooks]();
    _exit(code);
}

unsigned t_scale(void)
{
    const char *env = getenv("T_SCALE");
    char *end;
    unsigned long scale;

    if (env == NULL)
        return 1;
    scale = strtoul(env, &end, 10);
    return *end == '\0' && scale > 0 && scale <= 20 ? (unsigned)scale : 1;
}

void t_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fprintf(stderr, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    end_case(1);
}

void t_skip(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fprintf(stderr, "    skipped: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    end_case(T_EXIT_SKIP);
}

void t_note(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "    %s: ", current_case);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static double elapsed_ms(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) * 1e3 +
           (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

/* The case's own timeout, or the default, times $T_SCALE. */
static unsigned case_timeout(const struct t_case *c)
{
    return (c->timeout_s ? c->timeout_s : T_DEFAULT_TIMEOUT) * t_scale();
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* Temporary directories of a case that timed out (see h_tmpdir). */
static void sweep_tmpdirs(pid_t pgid)
{
    char pattern[64];
    glob_t g;

    snprintf(pattern, sizeof(pattern), "/tmp/usher-t%ld-*", (long)pgid);
    if (glob(pattern, GLOB_NOSORT, NULL, &g) != 0)
        return;
    for (size_t i = 0; i < g.gl_pathc; i++)
        nftw(g.gl_pathv[i], remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    globfree(&g);
}

/* Run one case in its own process group; returns its wait status. */
static int run_case(const struct t_case *c)
{
    pid_t pid;
    int status;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        perror("t: fork");
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        current_case = c->name;
        alarm(case_timeout(c));
        c->fn();
        end_case(0);
    }
    setpgid(pid, pid); /* as the child does: whichever runs first */
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            perror("t: waitpid");
            return -1;
        }
    }
    /* Whatever the case started and left behind goes with its group. */
    kill(-pid, SIGKILL);
    sweep_tmpdirs(pid);
    return status;
}

int t_main(int argc, char **argv, const struct t_case *cases, size_t n)
{
    const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    const char *model = getenv("USHER_TEST_MODEL");
    const char *filter = argc > 1 ? argv[1] : NULL;
    char suite[256];
    unsigned passed = 0, failed = 0, skipped = 0;

    struct sigaction sa = {.sa_handler = SIG_IGN};

    /* Under a test model (see harness.h), the suite says which: "11_x[model=fork]". */
    if (model != NULL && model[0] != '\0' && strcmp(model, "event") != 0)
        snprintf(suite, sizeof(suite), "%s[model=%s]", base, model);
    else
        snprintf(suite, sizeof(suite), "%s", base);

    sigaction(SIGPIPE, &sa, NULL); /* tests check EPIPE themselves */
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t i = 0; i < n; i++) {
        struct timespec start;
        int status;

        if (filter != NULL && strstr(cases[i].name, filter) == NULL)
            continue;
        clock_gettime(CLOCK_MONOTONIC, &start);
        status = run_case(&cases[i]);
        if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            printf("ok   %s/%s (%.0f ms)\n", suite, cases[i].name, elapsed_ms(&start));
            passed++;
        } else if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == T_EXIT_SKIP) {
            printf("skip %s/%s\n", suite, cases[i].name);
            skipped++;
        } else {
            if (status >= 0 && WIFSIGNALED(status))
                printf("FAIL %s/%s: %s%s (%.0f ms)\n", suite, cases[i].name,
                       WTERMSIG(status) == SIGALRM ? "timed out" : "killed by signal ",
                       WTERMSIG(status) == SIGALRM ? "" : strsignal(WTERMSIG(status)),
                       elapsed_ms(&start));
            else
                printf("FAIL %s/%s (%.0f ms)\n", suite, cases[i].name, elapsed_ms(&start));
            failed++;
        }
    }
    printf("# %s: %u passed, %u failed, %u skipped\n", suite, passed, failed, skipped);
    return failed ? 1 : 0;
}
