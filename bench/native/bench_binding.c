/*
 * bench_binding.c -- the two functions the binding-tool benchmark calls through every Java binding
 * (JNA interface mapping, JNA direct mapping, FFM). Kept apart from libncs so the numbers measure
 * the cost of crossing into C, not a kernel.
 *
 * Built by the bench module into target/libncsbench.so (cc -O2 -shared -fPIC).
 */
#include <stddef.h>

#define BENCH_API __attribute__((visibility("default")))

/* Does nothing: a call through a binding costs exactly the binding's overhead. */
BENCH_API void bench_noop(void) {}

/*
 * Returns x[0] + x[1] + ... + x[n-1], added left to right like the Java loop it is compared with
 * (no reassociation, so no vectorised reduction on either side). x is borrowed for the call and
 * only read; it may be NULL when n is 0.
 */
BENCH_API double bench_sum(const double *x, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        s += x[i];
    }
    return s;
}
