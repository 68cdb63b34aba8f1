package dev.ncs;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Tests that need a tool from outside the JVM (a Docker engine, Prometheus, clang, node). When
 * {@code scripts/test} installed the tools ({@code NCS_REQUIRE_TOOLS=1}, as in CI) a missing tool
 * fails the test; on a developer machine without them the test is skipped with the reason.
 */
public final class ExternalTools {

    private ExternalTools() {}

    public static boolean required() {
        return "1".equals(System.getenv("NCS_REQUIRE_TOOLS"));
    }

    /** Fails (in CI) or skips (elsewhere) the calling test unless {@code available}. */
    public static void require(boolean available, String what) {
        if (!available && required()) {
            fail(what + " is missing although scripts/setup-tools installed the tools");
        }
        assumeTrue(available, what + " is missing: run scripts/test as root to install it");
    }
}
