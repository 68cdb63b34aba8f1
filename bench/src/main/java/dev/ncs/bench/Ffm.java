package dev.ncs.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

/**
 * Foreign Function and Memory API downcalls. The handles are {@code static final} so the JIT treats
 * them as constants and inlines the call stub, as production code would.
 */
final class Ffm {

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBRARY =
            SymbolLookup.libraryLookup(Path.of(BenchLibrary.path()), Arena.global());

    private static final MethodHandle BENCH_NOOP =
            LINKER.downcallHandle(LIBRARY.findOrThrow("bench_noop"), FunctionDescriptor.ofVoid());
    private static final MethodHandle BENCH_SUM =
            LINKER.downcallHandle(
                    LIBRARY.findOrThrow("bench_sum"),
                    FunctionDescriptor.of(
                            ValueLayout.JAVA_DOUBLE, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));

    private Ffm() {}

    static void benchNoop() throws Throwable {
        BENCH_NOOP.invokeExact();
    }

    static double benchSum(MemorySegment x, long n) throws Throwable {
        return (double) BENCH_SUM.invokeExact(x, n);
    }
}
