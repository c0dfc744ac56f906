/*
 * fuzz_inetd: the inetd.conf reader (conf_inetd.c), on any text.
 *
 * The reader takes a path, as usherd does with -I or an `inetd` key: the
 * input is written to a memfd and read through /proc/self/fd/N by a
 * configuration holding only `inetd = /proc/self/fd/N`, so the whole path
 * of a real load is fuzzed (the file read, its NUL check, every line)
 * with nothing created on disk.  Sockets are refused (fuzz_no_sockets): a
 * host name fails at once.
 *
 * Properties: a configuration or errors, never both; each error names the
 * file (and a line, past the file's own errors); every service it makes
 * has a name ending in its proto and at least one listener; the same text
 * parses to the same services again.
 */
#include "conf.h"
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int memfd = -1;
static char conf_text[64], file[40];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    memfd = memfd_create("inetd.conf", MFD_CLOEXEC);
    if (memfd < 0) {
        perror("fuzz_inetd: memfd_create");
        abort();
    }
    snprintf(file, sizeof(file), "/proc/self/fd/%d", memfd);
    snprintf(conf_text, sizeof(conf_text), "[global]\ninetd = %s\n", file);
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
    size_t flen = strlen(file);

    fuzz_check(errors != NULL && errors[0] != '\0');
    for (const char *line = errors; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        fuzz_check(nl != NULL);
        fuzz_check(strncmp(line, file, flen) == 0 && line[flen] == ':');
        line = nl + 1;
    }
}

static void check_services(const struct conf *conf)
{
    for (size_t i = 0; i < conf->nsvcs; i++) {
        const struct svc_conf *svc = &conf->svcs[i];
        fuzz_check(svc->nlistens >= 1);
        fuzz_check(strchr(svc->name, '-') != NULL);
        fuzz_check((svc->builtin == BUILTIN_NONE) == (svc->exec != NULL));
        fuzz_check(svc->exec == NULL || (svc->exec->path != NULL && svc->exec->argv[0] != NULL));
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
