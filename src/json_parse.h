/*
 * json_parse: a strict reader of JSON (RFC 8259) that comes from elsewhere,
 * such as a daemon's status document, into a tree that the caller walks.
 *
 * Strict: the grammar of RFC 8259 and nothing more (no comments, no
 * trailing commas, no leading zeros, no byte-order mark, no bare control
 * characters in strings), one value with only whitespace around it,
 * strings in well-formed UTF-8 (no overlong forms, no surrogates, nothing
 * past U+10FFFF), \u escapes of surrogates only as a high-low pair.
 * Bounded: nesting at most JSON_DEPTH_MAX arrays and objects deep, at most
 * JSON_VALUES_MAX values, so the input's length bounds the time and memory
 * the parse takes (the caller bounds the length).  Numbers of any size
 * parse as text; json_u64 and json_double say whether one fits.
 *
 * The tree is the doc's own (no pointer into the input is kept): values
 * in one array, strings decoded into one buffer, NUL-terminated.  Pure:
 * no I/O, nothing printed; failures come back with a message in the
 * caller's buffer ("offset 12: bad escape \q").
 */
#ifndef USHER_JSON_PARSE_H
#define USHER_JSON_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_DEPTH_MAX  64
#define JSON_VALUES_MAX (1u << 20)

enum json_type {
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
};

struct json_value {
    enum json_type type;
    bool boolean;     /* JSON_BOOL */
    const char *text; /* STRING: decoded, NUL-terminated; NUMBER: as written; else NULL */
    size_t len;       /* of text (a string may hold a NUL: \u0000) */
    const char *key;  /* the member's name when the parent is an object, else NULL */
    size_t key_len;   /* ... and its length */
    size_t count;     /* ARRAY, OBJECT: how many elements or members */
    uint32_t child;   /* first element or member (an index; 0: none) */
    uint32_t next;    /* next sibling (0: none) */
};

struct json_doc {
    struct json_value *values; /* values[0] is the document */
    size_t nvalues, cap;
    char *strings; /* every string and number text, one after another */
    size_t strings_len, strings_cap;
};

/*
 * Parse the `len` bytes of `text` into *doc.  Returns 0 (json_free the
 * doc), or -1 with a message in err (nothing to free); errno ENOMEM for
 * an allocation that failed, else EINVAL.
 */
int json_parse(const char *text, size_t len, struct json_doc *doc, char *err, size_t errlen);

/* Free what json_parse made (a zeroed doc is fine too). */
void json_free(struct json_doc *doc);

/* The document's top value. */
const struct json_value *json_root(const struct json_doc *doc);

/* The first element or member of an array or object, NULL if none (or v is neither). */
const struct json_value *json_first(const struct json_doc *doc, const struct json_value *v);

/* The element or member after v, NULL if v was the last. */
const struct json_value *json_next(const struct json_doc *doc, const struct json_value *v);

/*
 * The member `key` of the object `obj`.  Returns 0 with *out, or -1 with
 * errno: ENOENT (no such member), EEXIST (the name occurs more than once:
 * which one was meant is unknown), EINVAL (obj is not an object).
 */
int json_member(const struct json_doc *doc, const struct json_value *obj, const char *key,
                const struct json_value **out);

/*
 * A number that is a whole non-negative integer up to 2^64-1, written
 * without fraction or exponent ("42", not "42.0" or "4.2e1").  Returns 0
 * with *out, or -1 with errno EINVAL (not such a number) or ERANGE (too
 * large).
 */
int json_u64(const struct json_value *v, uint64_t *out);

/*
 * Any number, as the nearest double.  Returns 0 with *out, or -1 with
 * errno EINVAL (not a number) or ERANGE (its magnitude is past a double's).
 */
int json_double(const struct json_value *v, double *out);

#endif
