package dev.ncs.kernel;

import dev.ncs.execution.NativeExecutor;
import dev.ncs.nativelib.DataType;
import dev.ncs.nativelib.NativeBuffer;
import dev.ncs.nativelib.NativeCall;
import dev.ncs.nativelib.NativeException;
import dev.ncs.nativelib.NativeRuntime;
import dev.ncs.nativelib.NativeStatus;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.springframework.stereotype.Service;

/**
 * Runs kernels: checks a request against the kernel's metadata, then, on the native workers, copies
 * the inputs into native buffers, prepares the call, runs its parts in parallel (each part holding its
 * own reference to every input it reads), finishes it and hands the outputs to the caller's handler.
 * Whatever happens, every buffer and the call are released before the method returns.
 */
@Service
public class KernelService {

    private final KernelCatalog catalog;
    private final NativeRuntime runtime;
    private final NativeExecutor executor;
    private final MeterRegistry registry;
    private final Counter memoryRejections;

    public KernelService(KernelCatalog catalog, NativeRuntime runtime, NativeExecutor executor, MeterRegistry registry) {
        this.catalog = catalog;
        this.runtime = runtime;
        this.executor = executor;
        this.registry = registry;
        this.memoryRejections = NativeExecutor.rejections(registry, "memory_budget");
    }

    /** Runs {@code request} and returns what {@code handler} made of the outputs. */
    public <T> T infer(KernelRequest request, OutputHandler<T> handler) {
        KernelMetadata kernel = catalog.get(request.kernel(), request.version());
        KernelInput[] inputs = inDescriptorOrder(kernel, request);
        try (NativeExecutor.Admission admission = executor.admit(kernel.name())) {
            return new Run(kernel, inputs, request.parameters(), admission).execute(handler);
        }
    }

    private static KernelInput[] inDescriptorOrder(KernelMetadata kernel, KernelRequest request) {
        KernelInput[] ordered = new KernelInput[kernel.inputs().size()];
        for (KernelInput input : request.inputs()) {
            int index = kernel.inputIndex(input.name());
            if (index < 0) {
                throw new InvalidInputException("kernel '" + kernel.name() + "' has no input '" + input.name()
                        + "'; its inputs are: " + names(kernel.inputs()));
            }
            if (ordered[index] != null) {
                throw new InvalidInputException("input '" + input.name() + "' is given more than once");
            }
            check(kernel, kernel.inputs().get(index), input);
            ordered[index] = input;
        }
        for (int i = 0; i < ordered.length; i++) {
            if (ordered[i] == null) {
                TensorSpec spec = kernel.inputs().get(i);
                throw new InvalidInputException("kernel '" + kernel.name() + "' needs input '" + spec.name() + "' ("
                        + spec.doc() + "); the request has " + (request.inputs().isEmpty() ? "no inputs"
                        : "only " + request.inputs().stream().map(KernelInput::name).collect(Collectors.joining(", "))));
            }
        }
        for (String parameter : request.parameters().keySet()) {
            if (kernel.parameters().stream().noneMatch(p -> p.name().equals(parameter))) {
                throw new InvalidInputException("kernel '" + kernel.name() + "' has no parameter '" + parameter + "'; "
                        + (kernel.parameters().isEmpty() ? "it takes none"
                        : "its parameters are: " + kernel.parameters().stream().map(ParameterSpec::name)
                                .collect(Collectors.joining(", "))));
            }
        }
        return ordered;
    }

    private static void check(KernelMetadata kernel, TensorSpec spec, KernelInput input) {
        String what = "input '" + input.name() + "' of kernel '" + kernel.name() + "'";
        if (!spec.datatypes().contains(input.dataType())) {
            throw new InvalidInputException(what + " must be " + spec.datatypes().stream().map(DataType::name)
                    .collect(Collectors.joining(" or ")) + ", not " + input.dataType());
        }
        if (spec.anyRank()) {
            return;
        }
        long[] shape = input.shape();
        boolean fits = shape.length == spec.shape().size();
        for (int d = 0; fits && d < shape.length; d++) {
            long expected = spec.shape().get(d);
            fits = expected < 0 || expected == shape[d];
        }
        if (!fits) {
            throw new InvalidInputException(what + " must have shape " + spec.shape() + " (-1: any size), got "
                    + Arrays.toString(shape));
        }
    }

    private static String names(List<TensorSpec> specs) {
        return specs.stream().map(TensorSpec::name).collect(Collectors.joining(", "));
    }

    /** One request's trip through the workers. Fields are handed between threads through futures. */
    private final class Run {
        private final KernelMetadata kernel;
        private final KernelInput[] inputs;
        private final Map<String, String> parameters;
        private final NativeExecutor.Admission admission;
        private final List<NativeBuffer> buffers = new ArrayList<>();
        private NativeCall call;
        private long startedAt;

        Run(KernelMetadata kernel, KernelInput[] inputs, Map<String, String> parameters,
                NativeExecutor.Admission admission) {
            this.kernel = kernel;
            this.inputs = inputs;
            this.parameters = parameters;
            this.admission = admission;
        }

        <T> T execute(OutputHandler<T> handler) {
            String outcome = "error";
            try {
                int parts = executor.run(this::setup);
                runParts(parts);
                T result = executor.run(() -> collect(handler));
                outcome = "success";
                return result;
            } catch (NativeException e) {
                outcome = outcome(e.status());
                if (e.status() == NativeStatus.OUT_OF_MEMORY) {
                    memoryRejections.increment();
                }
                throw e;
            } catch (InvalidInputException e) {
                outcome = "invalid_argument";
                throw e;
            } finally {
                executor.control(this::cleanup);
                if (startedAt != 0) {
                    Timer.builder("ncs.kernel")
                            .description("Kernel execution time, from a worker taking the request up to its outputs")
                            .tags("kernel", kernel.name(), "outcome", outcome)
                            .publishPercentileHistogram()
                            .register(registry)
                            .record(System.nanoTime() - startedAt, TimeUnit.NANOSECONDS);
                }
            }
        }

        private int setup() {
            admission.started();
            startedAt = System.nanoTime();
            for (KernelInput input : inputs) {
                NativeBuffer buffer = runtime.allocate(input.source().byteSize(), kernel.name());
                buffers.add(buffer);
                input.source().writeTo(buffer.segment());
            }
            call = runtime.newCall(kernel.name());
            for (int i = 0; i < inputs.length; i++) {
                call.setInput(i, inputs[i].dataType(), inputs[i].shape(), buffers.get(i));
            }
            parameters.forEach(call::setParam);
            return call.prepare(executor.threads());
        }

        private void runParts(int parts) {
            List<Future<Void>> futures = new ArrayList<>(parts);
            for (int part = 0; part < parts; part++) {
                int index = part;
                futures.add(executor.submit(() -> runPart(index)));
            }
            RuntimeException failure = null;
            for (Future<Void> future : futures) {
                try {
                    NativeExecutor.await(future);
                } catch (RuntimeException e) {
                    if (failure == null) {
                        failure = e;
                    }
                }
            }
            if (failure != null) {
                throw failure;
            }
        }

        private Void runPart(int part) {
            List<NativeBuffer> retained = new ArrayList<>(buffers.size());
            try {
                for (NativeBuffer buffer : buffers) {
                    retained.add(buffer.retain());
                }
                call.runPart(part);
            } catch (RuntimeException e) {
                call.cancel();
                throw e;
            } finally {
                retained.forEach(NativeBuffer::release);
            }
            return null;
        }

        private <T> T collect(OutputHandler<T> handler) {
            call.finish();
            List<NativeCall.OutputInfo> infos = call.outputs();
            List<NativeBuffer> taken = new ArrayList<>(infos.size());
            try {
                List<KernelOutput> outputs = new ArrayList<>(infos.size());
                for (int i = 0; i < infos.size(); i++) {
                    NativeBuffer buffer = call.takeOutput(i);
                    taken.add(buffer);
                    NativeCall.OutputInfo info = infos.get(i);
                    outputs.add(new KernelOutput(kernel.outputs().get(i).name(), info.dataType(), info.shape(),
                            buffer.segment()));
                }
                return handler.handle(outputs);
            } finally {
                taken.forEach(NativeBuffer::close);
            }
        }

        private Void cleanup() {
            if (call != null) {
                call.close();
            }
            buffers.forEach(NativeBuffer::close);
            return null;
        }
    }

    private static String outcome(NativeStatus status) {
        return switch (status) {
            case INVALID_ARGUMENT, UNSUPPORTED -> "invalid_argument";
            case OUT_OF_MEMORY -> "out_of_memory";
            case CANCELLED -> "cancelled";
            default -> "error";
        };
    }
}
