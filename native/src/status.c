/*
 * status.c -- version numbers, status strings, and failing with a message.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

#define NCS_STR_(x) #x
#define NCS_STR(x) NCS_STR_(x)

NCS_API uint32_t ncs_version_number(void)
{
    return NCS_VERSION_NUMBER;
}

NCS_API const char *ncs_version_string(void)
{
    return NCS_STR(NCS_VERSION_MAJOR) "." NCS_STR(NCS_VERSION_MINOR) "." NCS_STR(NCS_VERSION_PATCH);
}

NCS_API const char *ncs_status_str(int status)
{
    switch (status) {
    case NCS_OK: return "ok";
    case NCS_E_INVALID_ARGUMENT: return "invalid argument";
    case NCS_E_OUT_OF_MEMORY: return "out of memory";
    case NCS_E_STALE_HANDLE: return "stale handle";
    case NCS_E_DOUBLE_RELEASE: return "double release";
    case NCS_E_CANCELLED: return "cancelled";
    case NCS_E_NOT_FOUND: return "not found";
    case NCS_E_UNSUPPORTED: return "unsupported";
    case NCS_E_INTERNAL: return "internal error";
    default: return "unknown status";
    }
}

int ncs_status_fail(int status, char *error, size_t error_size, const char *fmt, ...)
{
    if (error != NULL && error_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(error, error_size, fmt, ap);
        va_end(ap);
    }
    return status;
}
