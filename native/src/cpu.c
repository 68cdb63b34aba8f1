/*
 * cpu.c -- CPU feature detection for the kernels' run-time dispatch, and its test switch.
 */
#include <cpuid.h>
#include <stdatomic.h>

#include "cpu.h"
#include "ncs/ncs_types.h"

static atomic_int limit = NCS_CPU_LEVEL_BEST;

/* SHA-NI is CPUID leaf 7 EBX bit 29 (read directly: clang's __builtin_cpu_supports has no "sha").
   Asked once: CPUID is slow, and traps to the hypervisor in a virtual machine. */
static int has_sha(void)
{
    static atomic_int known; /* 0: not asked yet, 1: no, 2: yes */
    int answer = atomic_load_explicit(&known, memory_order_relaxed);
    if (answer == 0) {
        unsigned eax, ebx, ecx, edx;
        answer = __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (ebx & (1u << 29)) != 0 ? 2 : 1;
        atomic_store_explicit(&known, answer, memory_order_relaxed);
    }
    return answer == 2;
}

int ncs_cpu_detected(ncs_cpu_feature feature)
{
    switch (feature) {
    case NCS_CPU_AVX2: return __builtin_cpu_supports("avx2") != 0;
    case NCS_CPU_AVX2_FMA: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case NCS_CPU_AVX512F: return __builtin_cpu_supports("avx512f") != 0;
    case NCS_CPU_SHA_NI: return has_sha() && __builtin_cpu_supports("sse4.1");
    default: return 0;
    }
}

/* The lowest level that allows `feature`. */
static int level_of(ncs_cpu_feature feature)
{
    return feature == NCS_CPU_AVX512F ? NCS_CPU_LEVEL_BEST : NCS_CPU_LEVEL_AVX2;
}

int ncs_cpu_has(ncs_cpu_feature feature)
{
    return level_of(feature) <= atomic_load_explicit(&limit, memory_order_relaxed) &&
           ncs_cpu_detected(feature);
}

int ncs_cpu_test_limit(int level)
{
    if (level < NCS_CPU_LEVEL_PORTABLE || level > NCS_CPU_LEVEL_BEST)
        return NCS_E_INVALID_ARGUMENT;
    if (level == NCS_CPU_LEVEL_AVX2 && !ncs_cpu_detected(NCS_CPU_AVX2_FMA))
        return NCS_E_UNSUPPORTED;
    atomic_store(&limit, level);
    return NCS_OK;
}
