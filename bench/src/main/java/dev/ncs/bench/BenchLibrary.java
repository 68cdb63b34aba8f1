package dev.ncs.bench;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where libncsbench.so is: the absolute path in the system property {@value #PROPERTY}. */
final class BenchLibrary {

    static final String PROPERTY = "ncs.bench.library";

    private BenchLibrary() {}

    /**
     * The library's absolute path; fails with the fix in the message when it is unset or missing.
     */
    static String path() {
        String value = System.getProperty(PROPERTY);
        if (value == null || value.isBlank()) {
            throw new IllegalStateException(
                    "set -D"
                            + PROPERTY
                            + "=<absolute path of libncsbench.so>,"
                            + " e.g. -D"
                            + PROPERTY
                            + "=$PWD/bench/target/libncsbench.so"
                            + " (built by ./mvnw -pl bench package)");
        }
        Path path = Path.of(value);
        if (!path.isAbsolute() || !Files.isRegularFile(path)) {
            throw new IllegalStateException(
                    "-D"
                            + PROPERTY
                            + "="
                            + value
                            + " must be the absolute path of an existing libncsbench.so (./mvnw -pl bench package builds it)");
        }
        return value;
    }
}
