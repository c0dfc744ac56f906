/*
 * fuzz_status: what `usher status` makes of a server's bytes (json_parse.c,
 * status.c, client_http.c).
 *
 * Byte 0 picks the reader, the rest is the server's:
 *   0  json_parse: any input is parsed or refused with a message; a
 *      parsed tree's counts match its links, and every string is
 *      NUL-terminated at its length;
 *   1  status_decode, then the table (with rates against itself and
 *      without), which must print only printable ASCII and newlines;
 *   2  an HTTP reply, fed whole and then in pieces whose sizes byte 1
 *      picks: both ways must agree (result, status, body), and a body
 *      is never larger than its bound.
 */
#include "client_http.h"
#include "fuzz.h"
#include "json_parse.h"
#include "status.h"

#include <stdlib.h>
#include <string.h>

static void check_tree(const struct json_doc *d, const struct json_value *v, unsigned depth)
{
    size_t n = 0;

    fuzz_check(depth <= JSON_DEPTH_MAX);
    if (v->type == JSON_STRING || v->type == JSON_NUMBER)
        fuzz_check(v->text != NULL && v->text[v->len] == '\0');
    for (const struct json_value *c = json_first(d, v); c != NULL; c = json_next(d, c), n++) {
        fuzz_check((v->type == JSON_OBJECT) == (c->key != NULL));
        check_tree(d, c, depth + 1);
    }
    fuzz_check(n == (v->type == JSON_ARRAY || v->type == JSON_OBJECT ? v->count : 0));
}

static void fuzz_json(const uint8_t *p, size_t n)
{
    struct json_doc d;
    char err[256] = "";

    if (json_parse((const char *)p, n, &d, err, sizeof(err)) < 0) {
        fuzz_check(err[0] != '\0');
        return;
    }
    check_tree(&d, json_root(&d), 0);
    json_free(&d);
}

static void fuzz_table(const uint8_t *p, size_t n)
{
    struct status st;
    struct status_rate *rates;
    char err[256], *out = NULL;
    size_t len = 0;
    FILE *f;

    if (status_decode((const char *)p, n, &st, err, sizeof(err)) < 0)
        return;
    rates = calloc(st.nservices + 1, sizeof(*rates));
    fuzz_check(rates != NULL);
    status_rates(&st, &st, 1000, rates);
    f = open_memstream(&out, &len);
    fuzz_check(f != NULL);
    struct status_view v = {.rates = rates, .now = 1700000000, .max_conns = 5, .eol = "\n"};
    fuzz_check(status_format(f, &st, &v) > 0);
    v.rates = NULL;
    fuzz_check(status_format(f, &st, &v) > 0);
    fuzz_check(fclose(f) == 0);
    for (size_t i = 0; i < len; i++)
        fuzz_check(out[i] == '\n' || (out[i] >= 0x20 && out[i] < 0x7f));
    free(out);
    free(rates);
    status_free(&st);
}

/* Feed p in pieces of `step`; the result of the last feed. */
static int feed(struct client_http_reply *r, const uint8_t *p, size_t n, size_t step)
{
    char err[256];
    size_t off = 0;
    int rc = 0;

    client_http_reply_init(r);
    while (off < n && rc == 0) {
        char *room;
        size_t size, k;
        if (client_http_room(r, &room, &size, err, sizeof(err)) < 0)
            return -1;
        k = n - off < step ? n - off : step;
        k = k < size ? k : size;
        memcpy(room, p + off, k);
        off += k;
        rc = client_http_feed(r, k, false, err, sizeof(err));
    }
    if (rc == 0)
        rc = client_http_feed(r, 0, true, err, sizeof(err));
    return rc;
}

static void fuzz_http(const uint8_t *p, size_t n)
{
    struct client_http_reply whole, pieces;
    int a, b;

    if (n < 1)
        return;
    a = feed(&whole, p + 1, n - 1, n);
    b = feed(&pieces, p + 1, n - 1, (size_t)p[0] % 17 + 1);
    fuzz_check(a == b);
    if (a == 1) {
        fuzz_check(whole.code == pieces.code);
        fuzz_check(strcmp(whole.reason, pieces.reason) == 0);
        fuzz_check(whole.body_len == pieces.body_len);
        fuzz_check(whole.body_len <= CLIENT_HTTP_BODY_MAX);
        fuzz_check(
            memcmp(whole.buf + whole.head_len, pieces.buf + pieces.head_len, whole.body_len) == 0);
    }
    client_http_reply_free(&whole);
    client_http_reply_free(&pieces);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_json(data + 1, size - 1);
        break;
    case 1:
        fuzz_table(data + 1, size - 1);
        break;
    default:
        fuzz_http(data + 1, size - 1);
        break;
    }
    return 0;
}
