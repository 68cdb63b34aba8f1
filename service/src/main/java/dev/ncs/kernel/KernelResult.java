package dev.ncs.kernel;

import java.util.List;

/**
 * The outputs of a finished call, still in native memory. One thread reads them (plain memory
 * access, a virtual thread too) and closes the result, which releases the buffers.
 */
public interface KernelResult extends AutoCloseable {

    /**
     * The outputs in the kernel's declared order. Their data is open to the thread that first calls
     * this, until that thread calls {@link #close()}; any other thread's access is refused.
     */
    List<KernelOutput> outputs();

    /** Releases the outputs' native memory (once; later calls do nothing). */
    @Override
    void close();
}
