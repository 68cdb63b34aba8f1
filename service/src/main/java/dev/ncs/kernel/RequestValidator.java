package dev.ncs.kernel;

import dev.ncs.nativelib.DataType;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Checks a request against its kernel's metadata before any native memory is taken: every input the
 * kernel needs, given once, of an accepted datatype and shape; no unknown inputs or parameters.
 * Pure: no state, no native calls; each refusal is an {@link InvalidInputException} that says what
 * to fix. (What the metadata cannot say, such as matmul's inner dimensions, the kernel checks in
 * prepare.)
 */
final class RequestValidator {

    private RequestValidator() {}

    /** For each request input (request order), its index in the kernel's descriptor. */
    static int[] descriptorSlots(KernelMetadata kernel, KernelRequest request) {
        KernelInput[] ordered = new KernelInput[kernel.inputs().size()];
        int[] slots = new int[request.inputs().size()];
        for (int r = 0; r < slots.length; r++) {
            KernelInput input = request.inputs().get(r);
            int index = kernel.inputIndex(input.name());
            if (index < 0) {
                throw new InvalidInputException(
                        "kernel '"
                                + kernel.name()
                                + "' has no input '"
                                + input.name()
                                + "'; its inputs are: "
                                + names(kernel.inputs()));
            }
            if (ordered[index] != null) {
                throw new InvalidInputException(
                        "input '" + input.name() + "' is given more than once");
            }
            checkInput(kernel, kernel.inputs().get(index), input);
            ordered[index] = input;
            slots[r] = index;
        }
        for (int i = 0; i < ordered.length; i++) {
            if (ordered[i] == null) {
                TensorSpec spec = kernel.inputs().get(i);
                throw new InvalidInputException(
                        "kernel '"
                                + kernel.name()
                                + "' needs input '"
                                + spec.name()
                                + "' ("
                                + spec.doc()
                                + "); the request has "
                                + (request.inputs().isEmpty()
                                        ? "no inputs"
                                        : "only "
                                                + request.inputs().stream()
                                                        .map(KernelInput::name)
                                                        .collect(Collectors.joining(", "))));
            }
        }
        for (String parameter : request.parameters().keySet()) {
            if (kernel.parameters().stream().noneMatch(p -> p.name().equals(parameter))) {
                throw new InvalidInputException(
                        "kernel '"
                                + kernel.name()
                                + "' has no parameter '"
                                + parameter
                                + "'; "
                                + (kernel.parameters().isEmpty()
                                        ? "it takes none"
                                        : "its parameters are: "
                                                + kernel.parameters().stream()
                                                        .map(ParameterSpec::name)
                                                        .collect(Collectors.joining(", "))));
            }
        }
        return slots;
    }

    private static void checkInput(KernelMetadata kernel, TensorSpec spec, KernelInput input) {
        if (!spec.datatypes().contains(input.dataType())) {
            throw new InvalidInputException(
                    what(kernel, input)
                            + " must be "
                            + spec.datatypes().stream()
                                    .map(DataType::name)
                                    .collect(Collectors.joining(" or "))
                            + ", not "
                            + input.dataType());
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
            throw new InvalidInputException(
                    what(kernel, input)
                            + " must have shape "
                            + spec.shape()
                            + " (-1: any size), got "
                            + Arrays.toString(shape));
        }
    }

    private static String what(KernelMetadata kernel, KernelInput input) {
        return "input '" + input.name() + "' of kernel '" + kernel.name() + "'";
    }

    private static String names(List<TensorSpec> specs) {
        return specs.stream().map(TensorSpec::name).collect(Collectors.joining(", "));
    }
}
