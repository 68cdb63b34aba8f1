package dev.ncs.kernel;

import dev.ncs.execution.NativeExecutor;
import dev.ncs.nativelib.NativeKernels;
import dev.ncs.nativelib.NativeMemory;
import dev.ncs.nativelib.NativeProperties;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.concurrent.Semaphore;
import java.util.function.Supplier;
import org.springframework.stereotype.Service;

/**
 * The kernel layer's one door: protocols (HTTP and gRPC) admit a request, hand it over with its
 * cancellation, and get the outputs back still in native memory. Behind it: validation against the
 * kernel's metadata ({@link RequestValidator}), the request's trip over the native workers ({@link
 * RequestRun}), and the meters. Nothing of the execution layer leaks through.
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
    private final Upload.Receiver receiver;

    public KernelService(
            KernelCatalog catalog,
            NativeMemory memory,
            NativeKernels kernels,
            NativeExecutor executor,
            MeterRegistry registry,
            RequestsProperties requests,
            NativeProperties nativeProperties) {
        this.catalog = catalog;
        this.memory = memory;
        this.kernels = kernels;
        this.executor = executor;
        this.meters = new KernelMeters(registry);
        this.defaultTimeout = requests.defaultTimeout();
        this.heavyWork = new Semaphore(executor.threads());
        this.receiver =
                new Upload.Receiver(
                        memory, executor, nativeProperties.bufferCache().size().toBytes());
    }

    /**
     * Runs CPU-heavy work on a request's behalf (decoding its body) with at most one such piece of
     * work per native worker at once: a decoded JSON tree takes several times its text's size on
     * the heap while it lives, so only as many are built at once as there are cores to build them.
     */
    public <T> T decode(Supplier<T> work) {
        heavyWork.acquireUninterruptibly();
        try {
            return work.get();
        } finally {
            heavyWork.release();
        }
    }

    /**
     * Receives the request's streamed inputs (binary tensors still in the body) into native memory,
     * on the calling thread, charging memory as their bytes arrive (see {@link Upload}). Call it
     * before {@link #admit}: a slow upload must hold no worker slot. Inputs that could never fit
     * the budget are refused (413) before a byte of them is read; a budget with no room for bytes
     * that arrived, 507. The caller owns the upload and closes it when the request is done.
     */
    public Upload receive(KernelRequest request) {
        return receiver.receive(request);
    }

    /**
     * Admits one request for {@code kernel} that came over {@code protocol}, or refuses it with a
     * 503 when the workers and the queue are full. Admit once the request's body is in ({@link
     * #receive}); close the admission when the request is done.
     */
    public Admission admit(KernelMetadata kernel, Protocol protocol) {
        return new Admission(executor.admit(kernel.name()), protocol);
    }

    /**
     * Runs an admitted request whose inputs are all in memory ({@link Upload#request()}); the
     * kernel runs on the native workers. The caller owns the result and must close it (on this
     * thread). On failure nothing the run allocated stays allocated.
     */
    public KernelResult infer(
            Admission admission, KernelRequest request, Cancellation cancellation) {
        KernelMetadata kernel = catalog.get(request.kernel(), request.version());
        int[] slots = RequestValidator.descriptorSlots(kernel, request);
        Duration timeout = request.timeout() != null ? request.timeout() : defaultTimeout;
        return new RequestRun(
                        kernel,
                        request,
                        slots,
                        admission.ticket,
                        cancellation,
                        timeout,
                        executor,
                        memory,
                        kernels::newCall,
                        meters.of(admission.protocol))
                .execute();
    }

    /** An admitted request's place: counts against the queue's capacity until closed. */
    public final class Admission implements AutoCloseable {

        private final NativeExecutor.Admission ticket;
        private final Protocol protocol;

        private Admission(NativeExecutor.Admission ticket, Protocol protocol) {
            this.ticket = ticket;
            this.protocol = protocol;
        }

        @Override
        public void close() {
            ticket.close();
        }
    }
}
