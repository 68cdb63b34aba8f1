package dev.ncs.kernel;

import java.util.List;

/** Turns a finished call's outputs into a response while their native memory is alive. */
@FunctionalInterface
public interface OutputHandler<T> {

    T handle(List<KernelOutput> outputs);
}
