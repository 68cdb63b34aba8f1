package dev.ncs.kernel;

import java.util.List;

/**
 * The outputs of a finished call, still in native memory. The caller reads them (any thread: reading
 * is plain memory access) and must close the result, which releases the buffers.
 */
public interface KernelResult extends AutoCloseable {

    /** The outputs in the kernel's declared order; their data is valid until {@link #close()}. */
    List<KernelOutput> outputs();

    /** Releases the outputs' native memory (once; later calls do nothing). */
    @Override
    void close();
}
