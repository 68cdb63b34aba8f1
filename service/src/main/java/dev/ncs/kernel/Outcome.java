package dev.ncs.kernel;

/**
 * How a request that reached a worker ended: the {@code outcome} tag of {@code ncs_kernel_seconds}.
 */
enum Outcome {
    SUCCESS("success"),
    INVALID_ARGUMENT("invalid_argument"),
    OUT_OF_MEMORY("out_of_memory"),
    DEADLINE_EXCEEDED("deadline_exceeded"),
    CLIENT_DISCONNECTED("client_disconnected"),
    CANCELLED("cancelled"),
    ERROR("error");

    private final String tag;

    Outcome(String tag) {
        this.tag = tag;
    }

    /** The metric tag's value (a fixed word). */
    String tag() {
        return tag;
    }
}
