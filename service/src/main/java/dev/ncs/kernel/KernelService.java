package dev.ncs.kernel;

import dev.ncs.execution.NativeExecutor;
import dev.ncs.nativelib.NativeKernels;
import dev.ncs.nativelib.NativeMemory;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.concurrent.Semaphore;
import java.util.function.Supplier;
import org.springframework.stereotype.Service;

/**
 * The kernel layer's one door: protocols (HTTP today) admit a request, hand it over with its
 * cancellation, and get the outputs back still in native memory. Behind it: validation against the
 * kernel's metadata ({@link RequestValidator}), the request's trip over the native workers
 * ({@link RequestRun}), and the meters. Nothing of the execution layer leaks through.
 */
@Service
public class KernelService {

    private final KernelCatalog catalog;
    private final NativeMemory memory;
    private final NativeKernels kernels;
    private final NativeExecutor executor;
    private final KernelMeters meters;
    private final Duration defaultTimeout;
    private final Semaphore heavyWork;

    public KernelService(KernelCatalog catalog, NativeMemory memory, NativeKernels kernels, NativeExecutor executor,
            MeterRegistry registry, RequestsProperties requests) {
        this.catalog = catalog;
        this.memory = memory;
        this.kernels = kernels;
        this.executor = executor;
        this.meters = new KernelMeters(registry);
        this.defaultTimeout = requests.defaultTimeout();
        this.heavyWork = new Semaphore(executor.threads());
    }

    /**
     * Admits one request for {@code kernel}, or refuses it with a 503 when the workers and the queue are
     * full. Admit before heavy work (decoding a large body), so that work is bounded too; close the
     * admission when the request is done.
     */
    public Admission admit(KernelMetadata kernel) {
        return new Admission(executor.admit(kernel.name()));
    }

    /**
     * Runs an admitted request. Inputs that stream from the body are read on the calling thread, straight
     * into native memory; the kernel runs on the native workers. The caller owns the result and must close
     * it (on this thread). On failure nothing stays allocated.
     */
    public KernelResult infer(Admission admission, KernelRequest request, Cancellation cancellation) {
        KernelMetadata kernel = catalog.get(request.kernel(), request.version());
        int[] slots = RequestValidator.descriptorSlots(kernel, request);
        Duration timeout = request.timeout() != null ? request.timeout() : defaultTimeout;
        return new RequestRun(kernel, request, slots, admission.ticket, cancellation, timeout, executor, memory,
                kernels::newCall, meters).execute();
    }

    /** An admitted request's place: counts against the queue's capacity until closed. */
    public final class Admission implements AutoCloseable {

        private final NativeExecutor.Admission ticket;

        private Admission(NativeExecutor.Admission ticket) {
            this.ticket = ticket;
        }

        /**
         * Runs CPU-heavy work on the request's behalf (decoding its body) with at most one such piece of
         * work per native worker at once: a decoded JSON tree takes several times its text's size on the
         * heap while it lives, so only as many are built at once as there are cores to build them.
         */
        public <T> T heavyWork(Supplier<T> work) {
            heavyWork.acquireUninterruptibly();
            try {
                return work.get();
            } finally {
                heavyWork.release();
            }
        }

        @Override
        public void close() {
            ticket.close();
        }
    }
}
