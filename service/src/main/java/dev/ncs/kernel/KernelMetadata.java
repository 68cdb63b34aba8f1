package dev.ncs.kernel;

import java.util.List;
import java.util.Optional;

/** What a kernel takes and gives, read from its native descriptor. */
public record KernelMetadata(
        String name,
        String doc,
        String library,
        boolean threadSafe,
        List<TensorSpec> inputs,
        List<TensorSpec> outputs,
        List<ParameterSpec> parameters) {

    /** Kernels are not versioned separately from the library; every kernel is version "1". */
    public static final String VERSION = "1";

    public Optional<TensorSpec> output(String name) {
        return outputs.stream().filter(o -> o.name().equals(name)).findFirst();
    }

    public int inputIndex(String name) {
        for (int i = 0; i < inputs.size(); i++) {
            if (inputs.get(i).name().equals(name)) {
                return i;
            }
        }
        return -1;
    }
}
