package dev.ncs.bench;

import com.sun.jna.Native;

/**
 * JNA direct mapping with a Java {@code double[]}: JNA copies the array in and back out on every
 * call.
 */
final class JnaDirectArray {

    static {
        Native.register(JnaDirectArray.class, BenchLibrary.path());
    }

    private JnaDirectArray() {}

    static native double bench_sum(double[] x, long n);
}
