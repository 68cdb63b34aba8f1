/*
 * param.c -- parsing of parameter values, which arrive as text.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int ncs_param_parse_bool(const char *text, int *out)
{
    if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0) {
        *out = 1;
        return 1;
    }
    if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0) {
        *out = 0;
        return 1;
    }
    return 0;
}

/* strtoll and strtod skip leading white space; a parameter value must not have any. */
static int starts_like_a_number(const char *text)
{
    return text[0] != '\0' && text[0] != ' ' && (text[0] < '\t' || text[0] > '\r');
}

int ncs_param_parse_int(const char *text, int64_t *out)
{
    if (!starts_like_a_number(text))
        return 0;
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return 0;
    *out = value;
    return 1;
}

int ncs_param_parse_double(const char *text, double *out)
{
    if (!starts_like_a_number(text))
        return 0;
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (*end != '\0' || (errno == ERANGE && isinf(value)))
        return 0;
    *out = value;
    return 1;
}

int ncs_param_text_valid(int type, const char *text)
{
    int b;
    int64_t i;
    double d;
    switch (type) {
    case NCS_PARAM_BOOL: return ncs_param_parse_bool(text, &b);
    case NCS_PARAM_INT: return ncs_param_parse_int(text, &i);
    case NCS_PARAM_DOUBLE: return ncs_param_parse_double(text, &d);
    case NCS_PARAM_STRING: return 1;
    default: return 0;
    }
}

const char *ncs_param_type_name(int type)
{
    switch (type) {
    case NCS_PARAM_BOOL: return "bool";
    case NCS_PARAM_INT: return "int";
    case NCS_PARAM_DOUBLE: return "double";
    case NCS_PARAM_STRING: return "string";
    default: return NULL;
    }
}
