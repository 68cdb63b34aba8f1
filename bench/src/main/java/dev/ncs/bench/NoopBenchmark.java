package dev.ncs.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The cost of one call into C and back, with nothing to do there: {@code void bench_noop(void)}.
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
public class NoopBenchmark {

    @Benchmark
    public void jnaInterface() {
        JnaInterface.LIB.bench_noop();
    }

    @Benchmark
    public void jnaDirect() {
        JnaDirect.bench_noop();
    }

    @Benchmark
    public void ffm() throws Throwable {
        Ffm.benchNoop();
    }
}
