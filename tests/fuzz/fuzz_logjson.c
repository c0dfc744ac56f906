/*
 * fuzz_logjson: a log message of any bytes, in a buffer of any size, as
 * one JSON object (logjson_line).
 *
 * The first two bytes choose the buffer's size (from LOGJSON_MIN up), the
 * rest is the message (up to its first NUL).  Properties: the result fits
 * the buffer and is as long as it says; it is one JSON object by RFC
 * 8259's grammar (checked here strictly: string members only, known
 * escapes, no raw control byte, valid UTF-8, nothing after the '}'); and
 * every field logjson_fields finds has a key of lowercase letters, digits
 * and '_' and a value without a space, both inside the message.
 */
#include "fuzz.h"
#include "logjson.h"

#include <stdbool.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    return 0;
}

/* The length of the UTF-8 sequence at s (RFC 3629), or 0. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;

    if (s[0] < 0xc2 || s[0] > 0xf4)
        return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

static bool json_string(const char **p)
{
    const unsigned char *s = (const unsigned char *)*p;

    if (*s++ != '"')
        return false;
    while (*s != '"') {
        size_t n;
        if (*s < 0x20)
            return false;
        if (*s == '\\') {
            s++;
            if (*s == 'u' && strspn((const char *)s + 1, "0123456789abcdef") >= 4)
                s += 5;
            else if (*s != '\0' && strchr("\"\\/bfnrt", *s) != NULL)
                s++;
            else
                return false;
        } else if (*s < 0x80) {
            s++;
        } else if ((n = utf8_len(s)) != 0) {
            s += n;
        } else {
            return false;
        }
    }
    *p = (const char *)s + 1;
    return true;
}

static bool json_object(const char *p)
{
    if (*p++ != '{')
        return false;
    for (bool first = true; *p != '}'; first = false) {
        if (!first && *p++ != ',')
            return false;
        if (!json_string(&p) || *p++ != ':' || !json_string(&p))
            return false;
    }
    return p[1] == '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char msg[8192], out[LOGJSON_MIN + 4096];
    struct logjson_field f[LOGJSON_FIELDS_MAX];
    size_t room, len, n;

    if (size < 2)
        return 0;
    room = LOGJSON_MIN + (((size_t)data[0] << 8 | data[1]) % 4096);
    len = size - 2 < sizeof(msg) - 1 ? size - 2 : sizeof(msg) - 1;
    memcpy(msg, data + 2, len);
    msg[len] = '\0';
    n = logjson_line(out, room, "2026-01-01T00:00:00.000Z", "info", msg);
    fuzz_check(n < room && strlen(out) == n);
    fuzz_check(json_object(out));
    n = logjson_fields(msg, f, LOGJSON_FIELDS_MAX);
    for (size_t i = 0; i < n; i++) {
        fuzz_check(f[i].key >= msg && f[i].value + f[i].value_len <= msg + strlen(msg));
        fuzz_check(f[i].key_len > 0 &&
                   strspn(f[i].key, "abcdefghijklmnopqrstuvwxyz0123456789_") == f[i].key_len);
        fuzz_check(memchr(f[i].value, ' ', f[i].value_len) == NULL);
    }
    return 0;
}
