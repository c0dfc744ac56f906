/*
 * Files usherd creates, attacked (SPEC 7, 8.2): a pidfile name that is a
 * symbolic link (to a victim file, dangling, or reached by a relative
 * path), a pidfile that belongs to another user or is a FIFO, and Unix
 * socket names that hold a symbolic link.  usherd must refuse each with a
 * message naming the file, write nothing through it, and remove nothing
 * that is not its own; a socket file whose owner cannot be set is not left
 * behind.
 */
#include "harness.h"
#include "t.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char conf_echo[] = "[echo]\nlisten = tcp://127.0.0.1:0\nbuiltin = echo\n";

/* A file with known content, and a check that it still has it. */
static char *victim(const char *name)
{
    char *path = h_fmt("%s/%s", h_tmpdir(), name);

    h_write_file(path, "precious data\n");
    return path;
}

static void expect_untouched(const char *path)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        T_FAIL("%s is gone: %s", path, strerror(errno));
    T_EQ_STR(h_read_file(path), "precious data\n");
}

static void test_symlinked_pidfile_is_refused(void)
{
    /* Scenario: -p LINK where LINK -> a victim file of ours.  Asserted: exit
     * 1 with "pidfile LINK is a symbolic link: refused"; the victim keeps its
     * content and is not removed; the link is left as it was. */
    char *target = victim("victim.txt"), *link = h_fmt("%s/usherd.pid", h_tmpdir()), *out;
    char buf[512];
    ssize_t n;

    T_EQ_INT(symlink(target, link), 0);
    T_EQ_INT(h_usherd_run(conf_echo, &out, "-p", link, NULL), 1);
    T_CONTAINS(out, h_fmt("pidfile %s is a symbolic link: refused", link));
    expect_untouched(target);
    n = readlink(link, buf, sizeof(buf) - 1);
    T_ASSERT(n > 0);
    buf[n] = '\0';
    T_EQ_STR(buf, target);
}

static void test_dangling_symlink_pidfile_creates_nothing(void)
{
    /* Scenario: -p LINK where LINK -> a file that does not exist.  Asserted:
     * refused (exit 1), and no file was created at the link's target. */
    char *target = h_fmt("%s/created-by-usherd", h_tmpdir());
    char *link = h_fmt("%s/usherd.pid", h_tmpdir()), *out;

    T_EQ_INT(symlink(target, link), 0);
    T_EQ_INT(h_usherd_run(conf_echo, &out, "-p", link, NULL), 1);
    T_CONTAINS(out, "is a symbolic link: refused");
    T_ASSERT(access(target, F_OK) < 0 && errno == ENOENT);
}

static void test_relative_symlinked_pidfile_is_refused(void)
{
    /* Scenario: -p with a relative name that is a symbolic link (usherd makes
     * names absolute for after chdir("/"), and must not resolve them doing
     * so).  Asserted: refused; the victim untouched. */
    char *target = victim("victim.txt"), *out;
    char cwd[4096];

    T_ASSERT(getcwd(cwd, sizeof(cwd)) != NULL);
    T_EQ_INT(chdir(h_tmpdir()), 0);
    T_EQ_INT(symlink("victim.txt", "rel.pid"), 0);
    T_EQ_INT(h_usherd_run(conf_echo, &out, "-p", "rel.pid", NULL), 1);
    T_EQ_INT(chdir(cwd), 0);
    T_CONTAINS(out, "rel.pid is a symbolic link: refused");
    expect_untouched(target);
}

static void test_pidfile_of_another_user_is_refused(void)
{
    /* Scenario (root only): the pidfile exists and belongs to another user
     * (nobody).  Asserted: refused with "belongs to another user"; its
     * content unchanged and the file still there. */
    char *path = victim("usherd.pid"), *out;

    if (geteuid() != 0)
        t_skip("needs root to give a file to another user");
    T_EQ_INT(chown(path, 65534, 65534), 0);
    T_EQ_INT(h_usherd_run(conf_echo, &out, "-p", path, NULL), 1);
    T_CONTAINS(out, h_fmt("pidfile %s belongs to another user: refused", path));
    expect_untouched(path);
}

static void test_fifo_pidfile_is_refused_at_once(void)
{
    /* Scenario: the pidfile name holds a FIFO with no writer.  Asserted:
     * usherd does not block in open(2): it exits 1 at once, "is not a
     * regular file: refused", and the FIFO stays. */
    char *path = h_fmt("%s/usherd.pid", h_tmpdir()), *out;
    struct stat st;

    T_EQ_INT(mkfifo(path, 0644), 0);
    T_EQ_INT(h_usherd_run(conf_echo, &out, "-p", path, NULL), 1);
    T_CONTAINS(out, "is not a regular file: refused");
    T_ASSERT(lstat(path, &st) == 0 && S_ISFIFO(st.st_mode));
}

static void test_status_does_not_follow_symlinked_pidfile(void)
{
    /* Scenario: usherd -s status -p LINK, LINK -> a file.  Asserted: exit 1
     * and a message saying the pidfile is a symbolic link (never read
     * through). */
    char *target = victim("victim.txt"), *link = h_fmt("%s/usherd.pid", h_tmpdir());
    const char *argv[] = {h_usherd(), "-s", "status", "-p", link, NULL};
    struct h_result r;

    T_EQ_INT(symlink(target, link), 0);
    h_run(&r, NULL, 0, 5000, argv);
    T_EQ_INT(r.exit_code, 1);
    T_CONTAINS(r.err, "is a symbolic link: refused");
    expect_untouched(target);
    h_result_free(&r);
}

static void test_symlink_at_socket_path_is_refused(void)
{
    /* Scenario: the Unix socket's name holds a symbolic link to a victim file.
     * Asserted: exit 1 naming the path; neither the link nor the victim is
     * removed or changed. */
    char *target = victim("victim.txt"), *link = h_fmt("%s/echo.sock", h_tmpdir()), *out;
    struct stat st;

    T_EQ_INT(symlink(target, link), 0);
    T_EQ_INT(h_usherd_run(h_fmt("[echo]\nlisten = unix:%s\nbuiltin = echo\n", link), &out, NULL),
             1);
    T_CONTAINS(out, link);
    T_CONTAINS(out, "not a socket");
    T_ASSERT(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    expect_untouched(target);
}

static void test_failed_owner_leaves_no_socket_file(void)
{
    /* Scenario (root only, usherd run as nobody): `owner = root` on a Unix
     * listener, which nobody cannot give away.  Asserted: exit 1 with
     * "unable to set the owner and group of unix:PATH" (not "unable to
     * bind"), and no socket file left behind at PATH. */
    char *sock = h_fmt("%s/echo.sock", h_tmpdir());
    char *conf = h_fmt("%s/usherd.conf", h_tmpdir());
    const char *argv[] = {
        "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", h_usherd(), "-f", conf,
        NULL};
    struct h_result r;

    if (geteuid() != 0)
        t_skip("needs root to run usherd as another user");
    h_need("setpriv", "util-linux");
    h_write_file(conf, h_fmt("[echo]\nlisten = unix:%s\nbuiltin = echo\nowner = root\n", sock));
    T_EQ_INT(chmod(h_tmpdir(), 0777), 0);
    T_EQ_INT(chmod(conf, 0644), 0);
    h_run(&r, NULL, 0, 5000, argv);
    if (strstr(r.err, "Permission denied") != NULL && strstr(r.err, "usherd.conf") != NULL)
        t_skip("nobody cannot read the test directory's parents here");
    T_EQ_INT(r.exit_code, 1);
    T_CONTAINS(r.err, h_fmt("unable to set the owner and group of unix:%s", sock));
    T_ASSERT(access(sock, F_OK) < 0 && errno == ENOENT);
    h_result_free(&r);
}

static void test_hostile_pidfile_name_is_escaped(void)
{
    /* Scenario: -p names a symbolic link whose name holds ESC and CR.
     * Asserted: refused, and the message shows the name escaped ("\x1b",
     * "\x0d"): no raw control byte reaches the terminal. */
    char *target = victim("victim.txt");
    char *link = h_fmt("%s/bad\x1b[2J\rname.pid", h_tmpdir()), *out;

    T_EQ_INT(symlink(target, link), 0);
    T_EQ_INT(h_usherd_run(conf_echo, &out, "-p", link, NULL), 1);
    T_CONTAINS(out, "/bad\\x1b[2J\\x0dname.pid is a symbolic link: refused");
    T_ASSERT(strchr(out, '\x1b') == NULL && strchr(out, '\r') == NULL);
    expect_untouched(target);
}

static const struct t_case cases[] = {
    T_CASE(test_symlinked_pidfile_is_refused),
    T_CASE(test_dangling_symlink_pidfile_creates_nothing),
    T_CASE(test_relative_symlinked_pidfile_is_refused),
    T_CASE(test_pidfile_of_another_user_is_refused),
    T_CASE(test_fifo_pidfile_is_refused_at_once),
    T_CASE(test_hostile_pidfile_name_is_escaped),
    T_CASE(test_status_does_not_follow_symlinked_pidfile),
    T_CASE(test_symlink_at_socket_path_is_refused),
    T_CASE(test_failed_owner_leaves_no_socket_file),
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, cases, ARRAY_LEN(cases));
}
