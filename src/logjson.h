/*
 * logjson: a log message as one JSON object, for log_format = json
 * (SPEC 15), and the JSON string escaping it rests on (RFC 8259).
 *
 *   {"time":"2026-11-03T09:14:07.123Z","level":"info",
 *    "msg":"listening service=echo addr=tcp://127.0.0.1:7",
 *    "service":"echo","addr":"tcp://127.0.0.1:7"}
 *
 * (one line).  `msg` is the message as the text format writes it, after
 * "usherd: " and the level word, so nothing is lost and `jq -r .msg`
 * gives back the text log; its key=value fields are members of their own
 * as well, every value a JSON string.
 *
 * Which words are fields.  Words are separated by spaces; a field is a
 * word KEY=VALUE whose KEY is a lowercase letter, then lowercase letters,
 * digits or '_'.  Fields are taken from the start of the message only:
 * after at most one first word that is not a field ("listening",
 * "stats"), each field up to the first word that is not one; a field
 * word that ends in ':' ("service=echo:") is the last, without its ':'.
 * The words after that are the message's prose (a program's stderr, an
 * error text) and are never taken as fields, whatever they look like.
 * A key given twice, and the keys time, level and msg, stay in msg only.
 * This holds because a field's value never holds a space: usherd's own
 * values are single words, bytes from outside are escaped (SPEC 9), and
 * the names a client chooses that could hold a space (the TLS server
 * name, a Unix datagram peer's socket path) have it escaped as \x20.
 *
 * Escaping: '"' and '\' with a backslash, bytes below 0x20 and DEL as
 * \u00XX, valid UTF-8 as it is, and each byte that is not part of valid
 * UTF-8 (a stray continuation byte, an overlong form, a surrogate, a
 * sequence cut short, past U+10FFFF) as \ufffd, the replacement
 * character: whatever the bytes, the result is valid JSON.  (The log's
 * messages are printable ASCII by the time they get here, SPEC 9's
 * escaping having been applied, so in practice only '"' and '\' are
 * escaped; the function is total all the same.)
 *
 * Pure; no state.
 */
#ifndef USHER_LOGJSON_H
#define USHER_LOGJSON_H

#include <stddef.h>

#define LOGJSON_FIELDS_MAX 32
#define LOGJSON_MIN        128 /* the smallest buffer logjson_line takes */

struct logjson_field {
    const char *key, *value; /* into the message, not NUL-ended */
    size_t key_len, value_len;
};

/*
 * The JSON string contents (no quotes) of src[0..len): at most `room`
 * bytes into dst (not NUL-ended), whole escapes and whole UTF-8
 * sequences only.  Returns the bytes written; *taken (if not NULL) says
 * how many bytes of src they stand for.  dst NULL: nothing is written,
 * and the result is the length of the whole escape when room is SIZE_MAX.
 */
size_t logjson_escape(char *dst, size_t room, const char *src, size_t len, size_t *taken);

/* The fields of `msg` (see above), at most `max` of them, in order: their count. */
size_t logjson_fields(const char *msg, struct logjson_field *out, size_t max);

/*
 * The object for one message, NUL-ended in dst (`size` >= LOGJSON_MIN),
 * complete and valid whatever fits: if the whole does not, fields are
 * left out from the last and msg is cut, ending in "...", at an escape's
 * boundary.  `time` and `level` are short texts of the caller's.
 * Returns the length.
 */
size_t logjson_line(char *dst, size_t size, const char *time, const char *level, const char *msg);

#endif
