/*
 * usherd under valgrind: a run that serves every transport and stops
 * cleanly has no leak and no memory error.  Skipped in the sanitizer build
 * (ASan and valgrind do not mix) and where valgrind is missing.
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char conf[] = "[echo]\n"
                           "listen = tcp://127.0.0.1:0 udp://127.0.0.1:0 unix:@DIR@/e.sock\n"
                           "builtin = echo\n"
                           "[sum]\n"
                           "listen = tcp://[::1]:0 unixgram:@DIR@/s.dgram\n"
                           "builtin = sum\n"
                           "[chargen]\n"
                           "listen = tcp://127.0.0.1:0\n"
                           "builtin = chargen\n"
                           "[daytime]\n"
                           "listen = tcp://127.0.0.1:0\n"
                           "builtin = daytime\n";

static void exercise(struct h_daemon *d)
{
    char buf[8192];
    int fd;

    fd = h_connect(h_addr(d, "echo", "tcp://"));
    h_send_str(fd, "hello\n");
    h_recv_exact(fd, buf, 6);
    close(fd);
    fd = h_connect(h_addr(d, "echo", "unix:"));
    h_send_str(fd, "x");
    h_recv_exact(fd, buf, 1);
    close(fd);
    T_EQ_INT(h_dgram_exchange(h_addr(d, "echo", "udp://"), "u", 1, buf, sizeof(buf), 5000), 1);
    fd = h_connect(h_addr(d, "sum", "tcp://"));
    h_send_str(fd, "1 2\nx");
    shutdown(fd, SHUT_WR);
    T_EQ_INT(h_recv_all(fd, buf, sizeof(buf)), strlen("3\nerror: input\n"));
    close(fd);
    T_EQ_INT(h_dgram_exchange(h_addr(d, "sum", "unixgram:"), "2 2", 3, buf, sizeof(buf), 5000), 2);
    fd = h_connect(h_addr(d, "chargen", "tcp://"));
    h_recv_exact(fd, buf, sizeof(buf));
    close(fd);
    fd = h_connect(h_addr(d, "daytime", "tcp://"));
    T_ASSERT(h_recv_all(fd, buf, sizeof(buf)) > 20);
    close(fd);
    /* One connection still open at stop: closed by the shutdown, freed too. */
    fd = h_connect(h_addr(d, "echo", "tcp://"));
    h_send_str(fd, "y");
    h_recv_exact(fd, buf, 1);
}

static void test_no_leaks_after_serving(void)
{
    /* Scenario: serve TCP, UDP, unix stream and datagram, then SIGTERM.
     * Asserted: exit 0, valgrind finds no error and no leak. */
    char log_opt[512], *report;
    struct h_daemon *d;
    FILE *f;
    size_t n;

    if (getenv("SANITIZE") != NULL && strcmp(getenv("SANITIZE"), "1") == 0)
        t_skip("sanitizer build");
    if (!h_have("valgrind"))
        t_skip("valgrind is not installed");
    snprintf(log_opt, sizeof(log_opt), "--log-file=%s/valgrind.log", h_tmpdir());
    d = h_start_wrapped(
        conf, (const char *[]){"valgrind", "--leak-check=full", "--show-leak-kinds=all",
                               "--errors-for-leak-kinds=all", "--error-exitcode=3", log_opt, NULL});
    exercise(d);
    T_EQ_INT(h_stop(d), 0);
    snprintf(log_opt, sizeof(log_opt), "%s/valgrind.log", h_tmpdir());
    f = fopen(log_opt, "r");
    T_ASSERT(f != NULL);
    report = calloc(1, 1 << 20);
    n = fread(report, 1, (1 << 20) - 1, f);
    fclose(f);
    report[n] = '\0';
    if (strstr(report, "ERROR SUMMARY: 0 errors") == NULL)
        T_FAIL("valgrind report:\n%s", report);
    T_CONTAINS(report, "All heap blocks were freed");
    free(report);
}

static const struct t_case cases[] = {
    T_CASE_TIMEOUT(test_no_leaks_after_serving, 120),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
