/*
 * fuzz_conf: conf_parse() on any text.
 *
 * Properties: a text parses to a configuration or to errors, never both;
 * every error line names the file (or is the inetd.conf's open error); parsing the same text again
 * gives the same services (conf_svc_equal), so a reload of an unchanged file is a no-op.
 *
 * conf_parse is pure, but an `inetd = PATH` key reads PATH, and this
 * process may be root: it must not open what the input names (a FIFO
 * blocks, a device may act on open).  The target is linked with
 * --wrap=open, so the modules' open() fails with EACCES (the error path is
 * what gets fuzzed here; fuzz_inetd has the reader).  Sockets are refused
 * too (fuzz_no_sockets), so host names fail at once.
 */
#include "conf.h"
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

int __wrap_open(const char *path, int flags, ...);

int __wrap_open(const char *path, int flags, ...)
{
    (void)path, (void)flags;
    errno = EACCES;
    return -1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_no_sockets();
    return 0;
}

#define OPEN_DENIED ": unable to open: Permission denied"

static void check_errors(const char *errors)
{
    size_t dlen = strlen(OPEN_DENIED);

    fuzz_check(errors != NULL && errors[0] != '\0');
    for (const char *line = errors; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        fuzz_check(nl != NULL);
        /* The file's own lines, or the inetd.conf it names, which cannot be opened here. */
        fuzz_check(strncmp(line, "fuzz.conf:", 10) == 0 ||
                   ((size_t)(nl - line) > dlen && strncmp(nl - dlen, OPEN_DENIED, dlen) == 0));
        line = nl + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *errors, *errors2;
    struct conf *conf, *again;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* a NUL inside ends the text early: still a text */
    conf = conf_parse(text, "fuzz.conf", &errors);
    again = conf_parse(text, "fuzz.conf", &errors2);
    if (conf == NULL) {
        check_errors(errors);
        fuzz_check(again == NULL && strcmp(errors, errors2) == 0);
    } else {
        fuzz_check(errors == NULL && again != NULL && errors2 == NULL);
        fuzz_check(conf->nsvcs == again->nsvcs);
        for (size_t i = 0; i < conf->nsvcs; i++) {
            fuzz_check(conf_svc_equal(&conf->svcs[i], &again->svcs[i]));
            fuzz_check(conf_find(conf, conf->svcs[i].name) == &conf->svcs[i]);
        }
    }
    conf_unref(conf);
    conf_unref(again);
    free(errors);
    free(errors2);
    free(text);
    return 0;
}
