/*
 * Unit tests: the client's TLS options (client_tls.c): which combinations
 * the command line may give, and a plain client_conn moving bytes, its
 * half-close and its errors, over a socketpair.
 */
#include "client_tls.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct {
    struct client_tls_opts o;
    int rc;
    const char *msg; /* in the error, if rc is -1 */
} opts_cases[] = {
    {{0}, 0, NULL},
    {{.ca = "ca.pem", .servername = "a.test", .alpn = "h2,http/1.1"}, 0, NULL},
    {{.cert = "c.pem", .key = "k.pem"}, 0, NULL},
    {{.insecure = true, .alpn = "x"}, 0, NULL},
    {{.cert = "c.pem"}, -1, "--cert needs --key"},
    {{.key = "k.pem"}, -1, "--key needs --cert"},
    {{.alpn = ""}, -1, "--alpn ''"},
    {{.alpn = "h2,"}, -1, "names of 1 to 255 bytes"},
    {{.alpn = ",h2"}, -1, "names of 1 to 255 bytes"},
    {{.servername = ""}, -1, "--servername"},
};

static void test_opts_check(void)
{
    for (size_t i = 0; i < ARRAY_LEN(opts_cases); i++) {
        char err[256] = "";
        int rc = client_tls_opts_check(&opts_cases[i].o, err, sizeof(err));
        if (rc != opts_cases[i].rc)
            T_FAIL("case %zu: got %d (%s), want %d", i, rc, err, opts_cases[i].rc);
        if (opts_cases[i].msg != NULL)
            T_CONTAINS(err, opts_cases[i].msg);
    }
}

static void test_opts_given(void)
{
    struct client_tls_opts none = {0}, insecure = {.insecure = true}, ca = {.ca = "x"};

    T_ASSERT(!client_tls_opts_given(&none));
    T_ASSERT(client_tls_opts_given(&insecure));
    T_ASSERT(client_tls_opts_given(&ca));
}

static void test_alpn_name_bound(void)
{
    /* A name of 255 bytes is the most ALPN's length byte can say. */
    char name[257];
    struct client_tls_opts o = {.alpn = name};
    char err[512];

    memset(name, 'a', 255);
    name[255] = '\0';
    T_EQ_INT(client_tls_opts_check(&o, err, sizeof(err)), 0);
    name[255] = 'a';
    name[256] = '\0';
    T_EQ_INT(client_tls_opts_check(&o, err, sizeof(err)), -1);
}

static void test_plain_conn(void)
{
    /* Scenario: a plain conn over one end of a socketpair.  Asserted: send
     * and recv move bytes, an empty socket is EAGAIN waiting for POLLIN,
     * the half-close is the peer's EOF, and close closes the socket. */
    int sv[2];
    struct client_conn c;
    char buf[16];

    T_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    client_conn_init(&c, sv[0]);
    T_EQ_INT(client_conn_send(&c, "ping", 4), 4);
    T_EQ_INT(read(sv[1], buf, sizeof(buf)), 4);
    T_EQ_INT(client_conn_recv(&c, buf, sizeof(buf)), -1);
    T_EQ_INT(errno, EAGAIN);
    T_EQ_INT(c.read_want, POLLIN);
    T_ASSERT(!client_conn_pending(&c));
    T_EQ_INT(write(sv[1], "pong", 4), 4);
    T_EQ_INT(client_conn_recv_wait(&c, buf, sizeof(buf), now_ms() + 1000), 4);
    T_EQ_MEM(buf, "pong", 4);
    T_EQ_INT(client_conn_shutdown(&c), 0);
    T_EQ_INT(read(sv[1], buf, sizeof(buf)), 0);
    client_conn_close(&c);
    T_EQ_INT(c.fd, -1);
    T_EQ_INT(write(sv[1], "x", 1), -1); /* our end is gone: EPIPE (the runner ignores SIGPIPE) */
    T_EQ_INT(errno, EPIPE);
    close(sv[1]);
}

static const struct t_case cases[] = {
    T_CASE(test_opts_check),
    T_CASE(test_opts_given),
    T_CASE(test_alpn_name_bound),
    T_CASE(test_plain_conn),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
