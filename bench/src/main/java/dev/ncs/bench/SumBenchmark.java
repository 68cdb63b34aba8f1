package dev.ncs.bench;

import com.sun.jna.Memory;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * {@code double bench_sum(const double *x, size_t n)} over {@value #N} doubles through each
 * binding, and the same left-to-right loop in Java. The data lives in a Java array (for the Java
 * loop and the copying JNA call), in JNA {@link Memory} and in an FFM segment, with the same values
 * everywhere.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
// JMH 1.37 itself uses sun.misc.Unsafe, which JDK 25 warns about in every fork.
@Fork(
        value = 2,
        jvmArgsAppend = {
            "--enable-native-access=ALL-UNNAMED",
            "--sun-misc-unsafe-memory-access=allow"
        })
@State(Scope.Thread)
public class SumBenchmark {

    static final int N = 1000;

    private double[] array;
    private Memory memory;
    private Arena arena;
    private MemorySegment segment;

    @Setup(Level.Trial)
    public void setUp() throws Throwable {
        array = new double[N];
        for (int i = 0; i < N; i++) {
            array[i] = 1.0 / (i + 1);
        }
        memory = new Memory((long) N * Double.BYTES);
        memory.write(0, array, 0, N);
        arena = Arena.ofConfined();
        segment = arena.allocate(ValueLayout.JAVA_DOUBLE, N);
        MemorySegment.copy(array, 0, segment, ValueLayout.JAVA_DOUBLE, 0, N);
        checkEveryVariantAgrees();
    }

    /**
     * Same data, same order of additions: every variant must return exactly the Java loop's sum.
     */
    private void checkEveryVariantAgrees() throws Throwable {
        double expected = javaLoop();
        double[] results = {
            jnaInterfacePointer(), jnaDirectPointer(), jnaDirectArray(), ffmSegment()
        };
        for (double result : results) {
            if (result != expected) {
                throw new IllegalStateException(
                        "bench_sum returned " + result + ", the Java loop " + expected);
            }
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        memory.close();
        arena.close();
    }

    @Benchmark
    public double javaLoop() {
        double s = 0.0;
        for (double v : array) {
            s += v;
        }
        return s;
    }

    @Benchmark
    public double jnaInterfacePointer() {
        return JnaInterface.LIB.bench_sum(memory, N);
    }

    @Benchmark
    public double jnaDirectPointer() {
        return JnaDirect.bench_sum(memory, N);
    }

    @Benchmark
    public double jnaDirectArray() {
        return JnaDirectArray.bench_sum(array, N);
    }

    @Benchmark
    public double ffmSegment() throws Throwable {
        return Ffm.benchSum(segment, N);
    }
}
