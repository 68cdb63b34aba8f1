package dev.ncs.kernel;

import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * A request to run one kernel: its inputs, its kernel parameters (as text), and how long it may take
 * once its inputs are in (null: the server's default).
 */
public record KernelRequest(String kernel, String version, List<KernelInput> inputs, Map<String, String> parameters,
        Duration timeout) {

    public KernelRequest(String kernel, String version, List<KernelInput> inputs, Map<String, String> parameters) {
        this(kernel, version, inputs, parameters, null);
    }
}
