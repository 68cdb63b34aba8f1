/*
 * json.h -- the runtime's one JSON text writer (json.c): the kernel metadata documents
 * (catalog.c) and the native-memory snapshot (buffer.c) are both written with it, so every
 * string is escaped the same way. Internal to libncs.
 */
#ifndef NCS_JSON_H
#define NCS_JSON_H

#include <stddef.h>
#include <stdint.h>

/** A growing text. Start from {0}; after an allocation failure every write does nothing and
 *  `failed` stays set. `text` is NUL-terminated once anything was written. */
typedef struct ncs_json {
    char *text;
    size_t length; /* without the NUL */
    size_t capacity;
    int failed;
} ncs_json;

/** Appends `n` bytes as they are (JSON punctuation, numbers, literals). */
void ncs_json_raw(ncs_json *j, const char *s, size_t n);
/** Appends the NUL-terminated `s` as it is. */
void ncs_json_lit(ncs_json *j, const char *s);
/** Appends a JSON string literal of `s` (NULL is written as ""): '"' and '\' escaped, \b \f \n
 *  \r \t by name, other control characters and DEL as \u00XX; every other byte as it is (so
 *  UTF-8 passes through). */
void ncs_json_string(ncs_json *j, const char *s);
/** Appends a decimal integer. */
void ncs_json_int(ncs_json *j, long long value);
/** Appends a decimal unsigned integer. */
void ncs_json_uint(ncs_json *j, uint64_t value);
/** Destructor, handing the text over: returns it (the caller frees it; "" when nothing was
 *  written), or NULL after an allocation failure (the text is freed). */
char *ncs_json_take(ncs_json *j);

#endif /* NCS_JSON_H */
