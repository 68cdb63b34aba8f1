package dev.ncs.kernel;

import java.util.Collection;

/** No kernel by that name (or version): a 404. */
public class UnknownKernelException extends RuntimeException {

    public UnknownKernelException(String message) {
        super(message);
    }

    static UnknownKernelException of(String name, Collection<String> known) {
        return new UnknownKernelException(
                "unknown kernel '" + name + "'; available kernels: " + String.join(", ", known));
    }
}
