/*
 * fuzz_xinetd: the xinetd reader (conf_xinetd.c, conf_xinetd_keys.c), on
 * any text.
 *
 * As fuzz_inetd does, the input is written to a memfd and read through
 * /proc/self/fd/N by a configuration holding only `xinetd = /proc/self/fd/N`,
 * so the whole path of a real load is fuzzed: the file read, its text
 * check, the splitting, the operators, every attribute's meaning.  The
 * input may name other files (include, includedir, banner): the target is
 * linked with --wrap=open, and every open() of the modules but that of the
 * memfd fails with EACCES, so nothing the input names is opened (a FIFO
 * would block, a device act); `include` of the memfd itself is an include
 * loop to find.  Sockets are refused (fuzz_no_sockets): a host name fails
 * at once.
 *
 * Properties: a configuration or errors, never both; every error is a
 * whole line; every service made has at least one listener and exactly one
 * of builtin, exec, forward; the same text loads to the same services
 * again (a reload of an unchanged file changes nothing).
 */
#include "conf.h"
#include "fuzz.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int memfd = -1;
static char conf_text[64], file[40];

int __wrap_open(const char *path, int flags, ...);
int __real_open(const char *path, int flags, ...);

int __wrap_open(const char *path, int flags, ...)
{
    if (strcmp(path, file) == 0)
        return __real_open(path, flags);
    errno = EACCES;
    return -1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    memfd = memfd_create("xinetd.conf", MFD_CLOEXEC);
    if (memfd < 0) {
        perror("fuzz_xinetd: memfd_create");
        abort();
    }
    snprintf(file, sizeof(file), "/proc/self/fd/%d", memfd);
    snprintf(conf_text, sizeof(conf_text), "[global]\nxinetd = %s\n", file);
    fuzz_no_sockets();
    return 0;
}

static void put_input(const uint8_t *data, size_t size)
{
    fuzz_check(ftruncate(memfd, 0) == 0);
    for (size_t off = 0; off < size;) {
        ssize_t n = pwrite(memfd, data + off, size - off, (off_t)off);
        fuzz_check(n > 0);
        off += (size_t)n;
    }
}

static void check_errors(const char *errors)
{
    fuzz_check(errors != NULL && errors[0] != '\0');
    for (const char *line = errors; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        fuzz_check(nl != NULL && nl > line);
        line = nl + 1;
    }
}

static void check_services(const struct conf *conf)
{
    for (size_t i = 0; i < conf->nsvcs; i++) {
        const struct svc_conf *svc = &conf->svcs[i];
        int servers = (svc->builtin != BUILTIN_NONE) +
                      (svc->exec != NULL && svc->forward == NULL && svc->builtin == BUILTIN_NONE) +
                      (svc->forward != NULL);
        fuzz_check(svc->nlistens >= 1);
        fuzz_check(servers == 1);
        fuzz_check(svc->origin != NULL && strncmp(svc->origin, "xinetd ", 7) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *errors, *errors2;
    struct conf *conf, *again;

    if (size > 65536)
        return -1;
    put_input(data, size);
    conf = conf_parse(conf_text, "fuzz.conf", &errors);
    again = conf_parse(conf_text, "fuzz.conf", &errors2);
    if (conf == NULL) {
        check_errors(errors);
        fuzz_check(again == NULL && strcmp(errors, errors2) == 0);
    } else {
        fuzz_check(errors == NULL && again != NULL && errors2 == NULL);
        check_services(conf);
        fuzz_check(conf->nsvcs == again->nsvcs);
        for (size_t i = 0; i < conf->nsvcs; i++)
            fuzz_check(conf_svc_equal(&conf->svcs[i], &again->svcs[i]));
    }
    conf_unref(conf);
    conf_unref(again);
    free(errors);
    free(errors2);
    return 0;
}
