package dev.ncs.kernel;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A request to run one kernel: its inputs, its kernel parameters (as text), how long it may take
 * once its inputs are in (null: the server's default), and the protocol's check of the outputs
 * before the kernel runs.
 */
public record KernelRequest(
        String kernel,
        String version,
        List<KernelInput> inputs,
        Map<String, String> parameters,
        Duration timeout,
        OutputCheck outputCheck) {

    public KernelRequest {
        Objects.requireNonNull(outputCheck, "outputCheck");
    }

    public KernelRequest(
            String kernel,
            String version,
            List<KernelInput> inputs,
            Map<String, String> parameters,
            Duration timeout) {
        this(kernel, version, inputs, parameters, timeout, OutputCheck.NONE);
    }

    public KernelRequest(
            String kernel,
            String version,
            List<KernelInput> inputs,
            Map<String, String> parameters) {
        this(kernel, version, inputs, parameters, null);
    }

    /** This request with {@code check} run on its outputs once the call is prepared. */
    public KernelRequest withOutputCheck(OutputCheck check) {
        return new KernelRequest(kernel, version, inputs, parameters, timeout, check);
    }
}
