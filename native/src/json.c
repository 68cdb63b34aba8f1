/*
 * json.c -- JSON text, written into a growing buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

void ncs_json_raw(ncs_json *j, const char *s, size_t n)
{
    if (j->failed)
        return;
    if (j->length + n + 1 > j->capacity) {
        size_t capacity = j->capacity ? j->capacity : 256;
        while (j->length + n + 1 > capacity)
            capacity *= 2;
        char *text = realloc(j->text, capacity);
        if (text == NULL) {
            j->failed = 1;
            return;
        }
        j->text = text;
        j->capacity = capacity;
    }
    memcpy(j->text + j->length, s, n);
    j->length += n;
    j->text[j->length] = '\0';
}

void ncs_json_lit(ncs_json *j, const char *s)
{
    ncs_json_raw(j, s, strlen(s));
}

void ncs_json_string(ncs_json *j, const char *s)
{
    ncs_json_raw(j, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        char escaped[8];
        switch (*p) {
        case '"': ncs_json_lit(j, "\\\""); break;
        case '\\': ncs_json_lit(j, "\\\\"); break;
        case '\b': ncs_json_lit(j, "\\b"); break;
        case '\f': ncs_json_lit(j, "\\f"); break;
        case '\n': ncs_json_lit(j, "\\n"); break;
        case '\r': ncs_json_lit(j, "\\r"); break;
        case '\t': ncs_json_lit(j, "\\t"); break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                snprintf(escaped, sizeof escaped, "\\u%04x", *p);
                ncs_json_lit(j, escaped);
            } else {
                ncs_json_raw(j, (const char *)p, 1);
            }
        }
    }
    ncs_json_raw(j, "\"", 1);
}

void ncs_json_int(ncs_json *j, long long value)
{
    char text[32];
    snprintf(text, sizeof text, "%lld", value);
    ncs_json_lit(j, text);
}

void ncs_json_uint(ncs_json *j, uint64_t value)
{
    char text[32];
    snprintf(text, sizeof text, "%llu", (unsigned long long)value);
    ncs_json_lit(j, text);
}

char *ncs_json_take(ncs_json *j)
{
    if (!j->failed && j->text == NULL)
        ncs_json_raw(j, "", 0);
    char *text = j->failed ? NULL : j->text;
    if (j->failed)
        free(j->text);
    *j = (ncs_json){0};
    return text;
}
