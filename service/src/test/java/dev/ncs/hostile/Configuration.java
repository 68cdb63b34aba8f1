package dev.ncs.hostile;

import java.util.List;

/** The JVM options NCS is attacked under: each case runs against both. */
enum Configuration {

    /**
     * {@code java -jar ncs.jar} with nothing else: the heap is a quarter of the machine's memory.
     */
    DEFAULT(List.of()),

    /**
     * The deployment's: k8s/ sets {@code JAVA_TOOL_OPTIONS=-XX:MaxRAMPercentage=25
     * -XX:+ExitOnOutOfMemoryError} with a 4 GiB container limit, that is a 1 GiB heap, and the
     * process exits at the first {@code OutOfMemoryError}.
     */
    DEPLOYMENT(List.of("-Xmx1g", "-XX:+ExitOnOutOfMemoryError"));

    final List<String> jvmOptions;

    Configuration(List<String> jvmOptions) {
        this.jvmOptions = jvmOptions;
    }
}
