package dev.ncs.kernel;

/** The protocol a request came over: the {@code protocol} tag of the request-level meters. */
public enum Protocol {
    HTTP("http"),
    GRPC("grpc");

    private final String tag;

    Protocol(String tag) {
        this.tag = tag;
    }

    String tag() {
        return tag;
    }
}
