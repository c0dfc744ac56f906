/*
 * fuzz_client: what `usher` makes of a server's bytes (client.c).
 *
 * Byte 0 picks the parser, the rest is the server's reply:
 *   0  time: 4 bytes, shown by client_format_time, which must succeed and
 *      read back (strptime, timegm) as rfc868_to_unix of the value;
 *   1  sumbin: 12 bytes, shown by client_sumbin_text: the sum as decimal
 *      that reads back as the sum, or the overflow line, or an error for
 *      any other status;
 *   2  reply lines, through client_lines_next on a memfd, which must give
 *      exactly the lines of the input ("\n" included) that hold at most
 *      CLIENT_LINE_MAX bytes, and one EMSGSIZE for each longer one.  In
 *      the input a byte 0xff followed by K stands for K * 1024 bytes of
 *      'x', so that short inputs reach the long lines.
 */
#include "client.h"
#include "fuzz.h"
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RUN_BYTE 0xff
#define RUN_UNIT 1024

static int memfd = -1;
static struct client_lines lines;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    memfd = memfd_create("replies", MFD_CLOEXEC);
    if (memfd < 0) {
        perror("fuzz_client: memfd_create");
        abort();
    }
    return 0;
}

static void fuzz_time(const uint8_t *p, size_t n)
{
    char text[32];
    struct tm tm = {0};
    const char *end;

    if (n < 4)
        return;
    fuzz_check(client_format_time(get_be32(p), text, sizeof(text)) == 0);
    end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fuzz_check(end != NULL && *end == '\0');
    fuzz_check((int64_t)timegm(&tm) == rfc868_to_unix(get_be32(p)));
}

static void fuzz_sumbin(const uint8_t *p, size_t n)
{
    char text[SUM_REPLY_MAX], *end;
    uint32_t status;
    long long sum;
    int rc;

    if (n < SUMBIN_REPLY)
        return;
    rc = client_sumbin_text(p, text, &status);
    fuzz_check(status == get_be32(p));
    if (status == SUMBIN_OVERFLOW) {
        fuzz_check(rc == 0 && strcmp(text, sum_error_text(SUM_ERR_OVERFLOW)) == 0);
        return;
    }
    if (status != SUMBIN_OK) {
        fuzz_check(rc == -1);
        return;
    }
    fuzz_check(rc == 0);
    errno = 0;
    sum = strtoll(text, &end, 10);
    fuzz_check(errno == 0 && strcmp(end, "\n") == 0 && sum == (long long)get_be64(p + 4));
}

/* The input with its runs written out. */
static char *expand(const uint8_t *p, size_t n, size_t *len)
{
    size_t size = 0, off = 0;
    char *text;

    for (size_t i = 0; i < n; i++)
        size += p[i] == RUN_BYTE && i + 1 < n ? (size_t)p[++i] * RUN_UNIT : 1;
    text = malloc(size + 1);
    fuzz_check(text != NULL);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == RUN_BYTE && i + 1 < n) {
            memset(text + off, 'x', (size_t)p[i + 1] * RUN_UNIT);
            off += (size_t)p[++i] * RUN_UNIT;
        } else {
            text[off++] = (char)p[i];
        }
    }
    *len = size;
    return text;
}

static void fuzz_lines(const uint8_t *p, size_t n)
{
    size_t len, at = 0;
    char *text = expand(p, n, &len);

    fuzz_check(ftruncate(memfd, 0) == 0);
    fuzz_check(len == 0 || pwrite(memfd, text, len, 0) == (ssize_t)len);
    fuzz_check(lseek(memfd, 0, SEEK_SET) == 0);
    client_lines_init(&lines, memfd);
    while (at < len) {
        const char *nl = memchr(text + at, '\n', len - at), *line;
        size_t want = nl ? (size_t)(nl - (text + at)) + 1 : len - at, got;
        int rc = client_lines_next(&lines, -1, &line, &got);
        if (want <= CLIENT_LINE_MAX) {
            if (rc != 1 || got != want || memcmp(line, text + at, want) != 0) {
                fprintf(stderr, "fuzz_client: a line of %zu bytes at %zu: rc %d (%s), %zu bytes\n",
                        want, at, rc, rc < 0 ? strerror(errno) : "", rc == 1 ? got : 0);
                abort();
            }
        } else {
            fuzz_check(rc == -1 && errno == EMSGSIZE);
        }
        at += want;
    }
    fuzz_check(client_lines_next(&lines, -1, &(const char *){0}, &len) == 0);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_time(data + 1, size - 1);
        break;
    case 1:
        fuzz_sumbin(data + 1, size - 1);
        break;
    default:
        fuzz_lines(data + 1, size - 1);
        break;
    }
    return 0;
}
