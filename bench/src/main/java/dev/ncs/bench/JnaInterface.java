package dev.ncs.bench;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;

/** JNA interface mapping: every call goes through a proxy, reflection and argument conversion. */
interface JnaInterface extends Library {

    JnaInterface LIB = Native.load(BenchLibrary.path(), JnaInterface.class);

    void bench_noop();

    /** {@code n} is a {@code size_t}: a Java {@code long} on LP64 Linux. */
    double bench_sum(Pointer x, long n);
}
