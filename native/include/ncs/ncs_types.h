/*
 * ncs_types.h -- the types libncs shares with its kernels: status codes, data types, buffer
 * handles and the largest rank. Included by both ncs.h (the host API) and ncs_plugin.h (the
 * kernel ABI); it declares no function a kernel could not call, only constants, types and
 * static inline helpers that compile into the caller.
 *
 * Every value here is part of the kernel ABI as well as of the host API: values are fixed
 * forever and new ones are only appended.
 */
#ifndef NCS_NCS_TYPES_H
#define NCS_NCS_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/* Status codes: values are fixed forever; new codes are only appended.                      */
/* ---------------------------------------------------------------------------------------- */

typedef enum ncs_status {
    NCS_OK = 0,
    NCS_E_INVALID_ARGUMENT = 1, /* an argument or input tensor is wrong; the message says how */
    NCS_E_OUT_OF_MEMORY = 2,    /* the live-bytes budget (or the system allocator) refused */
    NCS_E_STALE_HANDLE = 3,     /* the handle names a buffer that was already freed */
    NCS_E_DOUBLE_RELEASE = 4,   /* release of a buffer whose count already reached zero */
    NCS_E_CANCELLED = 5,        /* the call's cancellation flag was set */
    NCS_E_NOT_FOUND = 6,        /* no kernel (or output) of that name */
    NCS_E_UNSUPPORTED = 7,      /* valid request the kernel or library does not support */
    NCS_E_INTERNAL = 8          /* a bug in libncs or a kernel */
} ncs_status;

/* ---------------------------------------------------------------------------------------- */
/* Data types (the Open Inference Protocol's). Values are fixed forever.                     */
/* ---------------------------------------------------------------------------------------- */

typedef enum ncs_dtype {
    NCS_DTYPE_INVALID = 0,
    NCS_DTYPE_BOOL = 1,
    NCS_DTYPE_UINT8 = 2,
    NCS_DTYPE_UINT16 = 3,
    NCS_DTYPE_UINT32 = 4,
    NCS_DTYPE_UINT64 = 5,
    NCS_DTYPE_INT8 = 6,
    NCS_DTYPE_INT16 = 7,
    NCS_DTYPE_INT32 = 8,
    NCS_DTYPE_INT64 = 9,
    NCS_DTYPE_FP16 = 10,
    NCS_DTYPE_FP32 = 11,
    NCS_DTYPE_FP64 = 12,
    NCS_DTYPE_BYTES = 13,
    NCS_DTYPE_BF16 = 14
} ncs_dtype;

/*
 * BYTES tensors (variable-length elements, the protocol's BYTES type) are stored serialized:
 * for each element, in row-major order, a 4-byte little-endian unsigned length followed by that
 * many bytes; no padding, no terminators. The buffer's byte size is exactly the sum of
 * (4 + length) over the elements, so a BYTES tensor of N elements has at least 4 * N bytes and an
 * empty one (a zero dimension) has 0 bytes. Elements of length 0 are valid. Example: the vector
 * ["ab", ""] is the 10 bytes 02 00 00 00 'a' 'b' 00 00 00 00. Elements have no fixed size, so
 * the element size of BYTES is 0.
 */

/** Bit for a dtype in a mask of accepted dtypes. */
#define NCS_DTYPE_BIT(d) (1u << (unsigned)(d))

/**
 * Protocol name of a dtype ("FP64", ...), or NULL for a value outside the enum. Static string,
 * never freed. Inline, so kernels can name dtypes in their messages without calling the host;
 * the host's ncs_dtype_name (ncs.h) returns the same.
 */
static inline const char *ncs_dtype_text(int dtype)
{
    switch (dtype) {
    case NCS_DTYPE_BOOL: return "BOOL";
    case NCS_DTYPE_UINT8: return "UINT8";
    case NCS_DTYPE_UINT16: return "UINT16";
    case NCS_DTYPE_UINT32: return "UINT32";
    case NCS_DTYPE_UINT64: return "UINT64";
    case NCS_DTYPE_INT8: return "INT8";
    case NCS_DTYPE_INT16: return "INT16";
    case NCS_DTYPE_INT32: return "INT32";
    case NCS_DTYPE_INT64: return "INT64";
    case NCS_DTYPE_FP16: return "FP16";
    case NCS_DTYPE_FP32: return "FP32";
    case NCS_DTYPE_FP64: return "FP64";
    case NCS_DTYPE_BYTES: return "BYTES";
    case NCS_DTYPE_BF16: return "BF16";
    default: return NULL;
    }
}

/** The largest tensor rank libncs accepts. */
#define NCS_MAX_RANK 8

/* ---------------------------------------------------------------------------------------- */
/* Buffer handles                                                                            */
/* ---------------------------------------------------------------------------------------- */

/** A buffer, addressed by slot and generation (see "Conventions" in ncs.h); 0 is never valid. */
typedef uint64_t ncs_handle;

#ifdef __cplusplus
}
#endif

#endif /* NCS_NCS_TYPES_H */
