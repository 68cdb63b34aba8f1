/*
 * fuzz_common.h -- helpers shared by the libFuzzer targets: a reader that turns the fuzzer's
 * bytes into choices, a check that aborts (libFuzzer then saves the input as a crash), strict
 * JSON and UTF-8 validators, and a reader for the library's counters.
 */
#ifndef NCS_FUZZ_COMMON_H
#define NCS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncs/ncs.h"

/* A broken invariant: print what and where, then abort so libFuzzer records the input. */
#define FZ_CHECK(cond, ...)                                                              \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/* ---- the fuzzer's bytes as a stream of choices ------------------------------------------ */

typedef struct fz_in {
    const uint8_t *p;
    size_t n;
} fz_in;

/* Next byte; 0 once the input is used up (so every input decodes to a finite program). */
static inline uint8_t fz_u8(fz_in *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static inline uint16_t fz_u16(fz_in *in)
{
    uint16_t lo = fz_u8(in);
    return (uint16_t)(lo | (uint16_t)fz_u8(in) << 8);
}

static inline uint32_t fz_u32(fz_in *in)
{
    uint32_t lo = fz_u16(in);
    return lo | (uint32_t)fz_u16(in) << 16;
}

static inline uint64_t fz_u64(fz_in *in)
{
    uint64_t lo = fz_u32(in);
    return lo | (uint64_t)fz_u32(in) << 32;
}

/* Copies up to n bytes of input into dst and zero-fills the rest. */
static inline void fz_bytes(fz_in *in, void *dst, size_t n)
{
    size_t take = n < in->n ? n : in->n;
    memcpy(dst, in->p, take);
    memset((char *)dst + take, 0, n - take);
    in->p += take;
    in->n -= take;
}

/* A NUL-terminated string of 0 to cap-1 input bytes (an embedded NUL shortens it). */
static inline const char *fz_string(fz_in *in, char *buf, size_t cap)
{
    size_t len = fz_u8(in) % cap;
    fz_bytes(in, buf, len);
    buf[len] = '\0';
    return buf;
}

/* ---- the library's counters --------------------------------------------------------------- */

static inline void fz_stats(uint64_t out[NCS_STAT_COUNT])
{
    FZ_CHECK(ncs_stats_read(out, NCS_STAT_COUNT) == NCS_STAT_COUNT, "short read");
}

static inline uint64_t fz_stat(int which)
{
    uint64_t values[NCS_STAT_COUNT];
    fz_stats(values);
    return values[which];
}

/* ---- UTF-8 and JSON ------------------------------------------------------------------------- */

/* 1 when s[0..n) is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
static inline int fz_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned min;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, min = 0x80, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, min = 0x800, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, min = 0x10000, cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

/* A strict RFC 8259 parser that only validates (and decodes strings for the callers that need
   them). Depth is bounded to keep it simple; the library's documents are shallow. */
typedef struct fz_json {
    const char *s;
    size_t at;
    int depth;
} fz_json;

static inline void fz_json_ws(fz_json *j)
{
    while (j->s[j->at] == ' ' || j->s[j->at] == '\t' || j->s[j->at] == '\n' || j->s[j->at] == '\r')
        j->at++;
}

static inline int fz_json_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A string at j->at (the opening quote). Decodes it into out[0..cap) when out is not NULL
   (\uXXXX below 0x80 as one byte; others are only validated) and its length into *len.
   Returns 0 when malformed: raw control characters, bad escapes, missing quote. */
static inline int fz_json_string(fz_json *j, char *out, size_t cap, size_t *len)
{
    if (j->s[j->at] != '"')
        return 0;
    j->at++;
    size_t n = 0;
    for (;;) {
        unsigned char c = (unsigned char)j->s[j->at];
        if (c == '\0' || c < 0x20)
            return 0;
        j->at++;
        if (c == '"')
            break;
        if (c == '\\') {
            char e = j->s[j->at++];
            switch (e) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                unsigned v = 0;
                for (int k = 0; k < 4; k++) {
                    int h = fz_json_hex(j->s[j->at]);
                    if (h < 0)
                        return 0;
                    v = v << 4 | (unsigned)h;
                    j->at++;
                }
                if (v >= 0x80)
                    return 0; /* the library escapes only control characters */
                c = (unsigned char)v;
                break;
            }
            default: return 0;
            }
        }
        if (out != NULL) {
            if (n + 1 >= cap)
                return 0;
            out[n] = (char)c;
        }
        n++;
    }
    if (out != NULL)
        out[n] = '\0';
    if (len != NULL)
        *len = n;
    return 1;
}

static inline int fz_json_number(fz_json *j)
{
    const char *s = j->s;
    size_t at = j->at;
    if (s[at] == '-')
        at++;
    if (s[at] == '0') {
        at++;
    } else if (s[at] >= '1' && s[at] <= '9') {
        while (s[at] >= '0' && s[at] <= '9')
            at++;
    } else {
        return 0;
    }
    if (s[at] == '.') {
        at++;
        if (!(s[at] >= '0' && s[at] <= '9'))
            return 0;
        while (s[at] >= '0' && s[at] <= '9')
            at++;
    }
    if (s[at] == 'e' || s[at] == 'E') {
        at++;
        if (s[at] == '+' || s[at] == '-')
            at++;
        if (!(s[at] >= '0' && s[at] <= '9'))
            return 0;
        while (s[at] >= '0' && s[at] <= '9')
            at++;
    }
    j->at = at;
    return 1;
}

static inline int fz_json_value(fz_json *j);

static inline int fz_json_literal(fz_json *j, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(j->s + j->at, word, n) != 0)
        return 0;
    j->at += n;
    return 1;
}

static inline int fz_json_value(fz_json *j)
{
    fz_json_ws(j);
    char c = j->s[j->at];
    if (c == '"')
        return fz_json_string(j, NULL, 0, NULL);
    if (c == 't')
        return fz_json_literal(j, "true");
    if (c == 'f')
        return fz_json_literal(j, "false");
    if (c == 'n')
        return fz_json_literal(j, "null");
    if (c == '[' || c == '{') {
        if (++j->depth > 32)
            return 0;
        char close = c == '[' ? ']' : '}';
        j->at++;
        fz_json_ws(j);
        if (j->s[j->at] == close) {
            j->at++;
            j->depth--;
            return 1;
        }
        for (;;) {
            if (c == '{') {
                fz_json_ws(j);
                if (!fz_json_string(j, NULL, 0, NULL))
                    return 0;
                fz_json_ws(j);
                if (j->s[j->at++] != ':')
                    return 0;
            }
            if (!fz_json_value(j))
                return 0;
            fz_json_ws(j);
            char next = j->s[j->at++];
            if (next == close)
                break;
            if (next != ',')
                return 0;
        }
        j->depth--;
        return 1;
    }
    return fz_json_number(j);
}

/* 1 when `text` is exactly one JSON value (surrounding white space allowed). */
static inline int fz_json_valid(const char *text)
{
    fz_json j = {.s = text, .at = 0, .depth = 0};
    if (!fz_json_value(&j))
        return 0;
    fz_json_ws(&j);
    return text[j.at] == '\0';
}

#endif /* NCS_FUZZ_COMMON_H */
