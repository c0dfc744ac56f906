/*
 * Unit tests: the environment of an exec child (spawn_child_env), a pure
 * function of what the parent knows of the connection: no socket, no child.
 */
#include "addr.h"
#include "conf.h"
#include "spawn_child.h"
#include "harness.h"
#include "t.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>

static struct conf *conf;

static const struct svc_conf *service(const char *extra)
{
    char text[512], *errors = NULL;

    snprintf(text, sizeof(text), "[prog]\nlisten = tcp://127.0.0.1:0\nexec = /bin/true\n%s", extra);
    conf = conf_parse(text, "test.conf", &errors);
    if (conf == NULL)
        T_FAIL("parse: %s", errors ? errors : "?");
    return &conf->svcs[0];
}

/* The value of `name` in `env`, or NULL. */
static const char *get(char **env, const char *name)
{
    size_t n = strlen(name);

    for (; *env != NULL; env++)
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
            return *env + n + 1;
    return NULL;
}

static size_t count(char **env)
{
    size_t n = 0;

    while (env[n] != NULL)
        n++;
    return n;
}

/* Each row: the variables wanted (NULL value: absent) for one kind of connection. */
struct want {
    const char *name, *value;
};

static void check(char **env, const struct want *w, size_t n)
{
    T_ASSERT(env != NULL);
    for (size_t i = 0; i < n; i++) {
        const char *got = get(env, w[i].name);
        if (w[i].value == NULL && got != NULL)
            T_FAIL("%s: got \"%s\", want it absent", w[i].name, got);
        if (w[i].value != NULL)
            T_EQ_STR(got, w[i].value);
    }
}

static void test_tcp4_connection(void)
{
    struct sockaddr_storage peer = h_sockaddr("192.0.2.7", 40123),
                            local = h_sockaddr("127.0.0.1", 7000);
    struct spawn_env e = {
        .sc = service(""), .kind = ADDR_TCP, .connected = true, .peer = &peer, .local = &local};
    static const struct want w[] = {
        {"PATH", "/usr/local/bin:/usr/bin:/bin"},
        {"PROTO", "TCP"},
        {"TCPREMOTEIP", "192.0.2.7"},
        {"TCPREMOTEPORT", "40123"},
        {"TCPLOCALIP", "127.0.0.1"},
        {"TCPLOCALPORT", "7000"},
        {"REMOTE_ADDR", "192.0.2.7"},
        {"REMOTE_PORT", "40123"},
        {"USHER_SERVICE", "prog"},
        {"TCP6REMOTEIP", NULL},
        {"IPCREMOTEPID", NULL},
    };
    char **env = spawn_child_env(&e);

    check(env, w, ARRAY_LEN(w));
    T_EQ_INT(count(env), 9);
}

static void test_tcp6_connection_has_both_sets(void)
{
    struct sockaddr_storage peer = h_sockaddr("2001:db8::1", 5555), local = h_sockaddr("::1", 80);
    struct spawn_env e = {
        .sc = service(""), .kind = ADDR_TCP, .connected = true, .peer = &peer, .local = &local};
    static const struct want w[] = {
        {"PROTO", "TCP6"},          {"TCPREMOTEIP", "2001:db8::1"}, {"TCP6REMOTEIP", "2001:db8::1"},
        {"TCP6REMOTEPORT", "5555"}, {"TCP6LOCALIP", "::1"},         {"TCP6LOCALPORT", "80"},
        {"TCPLOCALPORT", "80"},     {"REMOTE_ADDR", "2001:db8::1"}, {"REMOTE_PORT", "5555"},
    };

    check(spawn_child_env(&e), w, ARRAY_LEN(w));
}

static void test_tcp_local_unknown(void)
{
    /* getsockname failed: the local variables are there, empty and 0. */
    struct sockaddr_storage peer = h_sockaddr("192.0.2.7", 1);
    struct spawn_env e = {.sc = service(""), .kind = ADDR_TCP, .connected = true, .peer = &peer};
    static const struct want w[] = {{"TCPLOCALIP", ""}, {"TCPLOCALPORT", "0"}};

    check(spawn_child_env(&e), w, ARRAY_LEN(w));
}

static void test_listener_handed_over(void)
{
    /* wait = yes: no peer; PROTO only, by the listener's kind. */
    static const struct {
        int kind;
        const char *proto;
    } rows[] = {{ADDR_TCP, "TCP"}, {ADDR_UDP, "UDP"}, {ADDR_UNIX, "UNIX"}};

    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        struct spawn_env e = {.sc = service(""), .kind = rows[i].kind, .connected = false};
        const struct want w[] = {{"PROTO", rows[i].proto},
                                 {"TCPREMOTEIP", NULL},
                                 {"REMOTE_ADDR", NULL},
                                 {"IPCREMOTEEUID", NULL},
                                 {"USHER_SERVICE", "prog"}};
        char **env = spawn_child_env(&e);
        check(env, w, ARRAY_LEN(w));
        T_EQ_INT(count(env), 3);
    }
}

static void test_unix_connection_credentials(void)
{
    struct ucred cred = {.pid = 4242, .uid = 1000, .gid = 100};
    struct spawn_env e = {.sc = service(""), .kind = ADDR_UNIX, .connected = true, .cred = &cred};
    static const struct want w[] = {{"PROTO", "UNIX"},
                                    {"IPCREMOTEEUID", "1000"},
                                    {"IPCREMOTEEGID", "100"},
                                    {"IPCREMOTEPID", "4242"},
                                    {"REMOTE_ADDR", NULL}};

    check(spawn_child_env(&e), w, ARRAY_LEN(w));
}

static void test_unix_credentials_unknown(void)
{
    struct spawn_env e = {.sc = service(""), .kind = ADDR_UNIX, .connected = true};
    static const struct want w[] = {{"PROTO", "UNIX"}, {"IPCREMOTEPID", NULL}};

    check(spawn_child_env(&e), w, ARRAY_LEN(w));
}

static void test_env_overrides_win(void)
{
    /* The service's env comes last: a later setting of a name replaces the earlier one. */
    struct sockaddr_storage peer = h_sockaddr("192.0.2.7", 9);
    struct spawn_env e = {
        .sc = service("env = FOO=1\nenv = FOO=two words\nenv = EMPTY=\nenv = PATH=/opt/bin\n"
                      "env = PROTO=mine\nenv = USHER_SERVICE=other\n"),
        .kind = ADDR_TCP,
        .connected = true,
        .peer = &peer};
    static const struct want w[] = {{"FOO", "two words"},
                                    {"EMPTY", ""},
                                    {"PATH", "/opt/bin"},
                                    {"PROTO", "mine"},
                                    {"USHER_SERVICE", "other"}};
    char **env = spawn_child_env(&e);
    size_t foos = 0;

    check(env, w, ARRAY_LEN(w));
    for (char **p = env; *p != NULL; p++)
        foos += strncmp(*p, "FOO=", 4) == 0;
    T_EQ_INT(foos, 1);
}

static void test_buffer_reused_between_calls(void)
{
    /* A second call gives a fresh environment, nothing left of the first. */
    struct sockaddr_storage peer = h_sockaddr("192.0.2.7", 9);
    struct spawn_env a = {
        .sc = service("env = ONLY_A=1\n"), .kind = ADDR_TCP, .connected = true, .peer = &peer};
    struct spawn_env b = {.sc = a.sc, .kind = ADDR_UDP, .connected = false};
    static const struct want w[] = {{"PROTO", "UDP"}, {"TCPREMOTEIP", NULL}};
    char **env;

    T_ASSERT(spawn_child_env(&a) != NULL);
    env = spawn_child_env(&b);
    check(env, w, ARRAY_LEN(w));
    T_EQ_STR(get(env, "ONLY_A"), "1"); /* its own service's env, still */
    T_EQ_INT(count(env), 4);
}

static void test_user_gets_its_login_variables(void)
{
    /* user = nobody: HOME, USER, LOGNAME and SHELL from its password entry;
     * env = sets one of them over that; without user, none is set. */
    const struct passwd *pw = getpwnam("nobody");
    char dir[256], name[64], shell[256];
    struct spawn_env e = {.kind = ADDR_UDP, .connected = false};

    if (pw == NULL)
        t_skip("no user nobody here");
    snprintf(dir, sizeof(dir), "%s", pw->pw_dir);
    snprintf(name, sizeof(name), "%s", pw->pw_name);
    snprintf(shell, sizeof(shell), "%s", pw->pw_shell[0] ? pw->pw_shell : "/bin/sh");
    {
        const struct want w[] = {
            {"HOME", dir}, {"USER", name}, {"LOGNAME", name}, {"SHELL", shell}};
        e.sc = service("user = nobody\n");
        check(spawn_child_env(&e), w, ARRAY_LEN(w));
        T_EQ_INT(count(spawn_child_env(&e)), 3 + 4);
    }
    {
        const struct want w[] = {{"HOME", "/srv/mine"}, {"USER", name}, {"SHELL", "/bin/false"}};
        char **env;
        size_t homes = 0;
        e.sc = service("user = nobody\nenv = HOME=/srv/mine\nenv = SHELL=/bin/false\n");
        env = spawn_child_env(&e);
        check(env, w, ARRAY_LEN(w));
        for (char **p = env; *p != NULL; p++)
            homes += strncmp(*p, "HOME=", 5) == 0;
        T_EQ_INT(homes, 1);
    }
    {
        const struct want w[] = {
            {"HOME", NULL}, {"USER", NULL}, {"LOGNAME", NULL}, {"SHELL", NULL}};
        e.sc = service("");
        check(spawn_child_env(&e), w, ARRAY_LEN(w));
    }
}

static const struct t_case cases[] = {
    T_CASE(test_tcp4_connection),
    T_CASE(test_user_gets_its_login_variables),
    T_CASE(test_tcp6_connection_has_both_sets),
    T_CASE(test_tcp_local_unknown),
    T_CASE(test_listener_handed_over),
    T_CASE(test_unix_connection_credentials),
    T_CASE(test_unix_credentials_unknown),
    T_CASE(test_env_overrides_win),
    T_CASE(test_buffer_reused_between_calls),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
