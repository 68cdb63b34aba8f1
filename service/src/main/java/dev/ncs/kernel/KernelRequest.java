package dev.ncs.kernel;

import java.util.List;
import java.util.Map;

/** A request to run one kernel: its inputs and its kernel parameters (as text). */
public record KernelRequest(String kernel, String version, List<KernelInput> inputs, Map<String, String> parameters) {
}
