package dev.ncs.bench;

import com.sun.jna.Native;
import com.sun.jna.Pointer;

/**
 * JNA direct mapping ({@code Native.register}) with a pointer to native memory: nothing is copied.
 */
final class JnaDirect {

    static {
        Native.register(JnaDirect.class, BenchLibrary.path());
    }

    private JnaDirect() {}

    static native void bench_noop();

    static native double bench_sum(Pointer x, long n);
}
