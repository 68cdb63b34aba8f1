package dev.ncs.grpc;

import dev.ncs.inference.LimitExceededException;
import dev.ncs.inference.LimitsProperties;
import dev.ncs.kernel.DeclaredTensors;
import dev.ncs.kernel.InvalidInputException;
import dev.ncs.kernel.KernelInput;
import dev.ncs.kernel.KernelMetadata;
import dev.ncs.kernel.KernelOutput;
import dev.ncs.kernel.KernelRequest;
import dev.ncs.kernel.OutputCheck;
import dev.ncs.kernel.OutputRefusedException;
import dev.ncs.kernel.TensorSpec;
import dev.ncs.nativelib.DataType;
import inference.GrpcService.InferParameter;
import inference.GrpcService.ModelInferRequest;
import inference.GrpcService.ModelInferRequest.InferInputTensor;
import inference.GrpcService.ModelInferRequest.InferRequestedOutputTensor;
import inference.GrpcService.ModelInferResponse;
import inference.GrpcService.ModelInferResponse.InferOutputTensor;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.springframework.stereotype.Component;

/**
 * Reads a {@code ModelInferRequest} into a kernel request and writes the kernel's outputs into a
 * {@code ModelInferResponse}. What the kernel layer checks (input names, datatypes and shapes
 * against the kernel, parameters) it checks for gRPC too; this class checks what only the message
 * can get wrong: the tensors' framing, the parameters' types, the protocol's limits. Every mistake
 * is an {@link InvalidInputException} naming the field.
 */
@Component
class GrpcInferenceCodec {

    /**
     * Request parameters Triton reserves: protocol options, never kernel parameters (as over HTTP).
     */
    /**
     * A protobuf message is at most 2 GiB; the outputs' bytes must leave room for the rest of the
     * response.
     */
    static final long MAX_RESPONSE_TENSORS = Integer.MAX_VALUE - (1 << 20);

    private final LimitsProperties limits;

    GrpcInferenceCodec(LimitsProperties limits) {
        this.limits = limits;
    }

    /** A decoded request: what to run and the outputs to return, in order. */
    record Decoded(KernelRequest request, List<String> outputs) {}

    Decoded decode(KernelMetadata kernel, InferCall call) {
        ModelInferRequest request = call.header();
        Map<String, String> parameters = new LinkedHashMap<>();
        Duration timeout = null;
        for (Map.Entry<String, InferParameter> entry : request.getParametersMap().entrySet()) {
            String key = entry.getKey();
            limits.checkName("parameter name", key);
            String value = text(key, entry.getValue());
            if (key.equals("timeout")) {
                timeout = timeout(entry.getValue());
            } else if (DeclaredTensors.isKernelParameter(key)) {
                parameters.put(key, value);
            }
        }
        List<KernelInput> inputs = inputs(request, call);
        return new Decoded(
                new KernelRequest(kernel.name(), version(request), inputs, parameters, timeout),
                outputs(kernel, request.getOutputsList()));
    }

    /** The requested version, or null (any) when the field is empty. */
    static String version(ModelInferRequest request) {
        return request.getModelVersion().isEmpty() ? null : request.getModelVersion();
    }

    /** Refuses, before the kernel runs, outputs too large for one gRPC response. */
    OutputCheck responseLimit(Decoded decoded) {
        return outputs -> {
            long total = 0;
            for (OutputCheck.PreparedOutput output : outputs) {
                if (decoded.outputs().contains(output.name())) {
                    total += output.byteSize();
                }
            }
            if (total > MAX_RESPONSE_TENSORS) {
                throw new OutputRefusedException(
                        "the requested outputs take "
                                + total
                                + " bytes, more than one gRPC "
                                + "response can hold ("
                                + MAX_RESPONSE_TENSORS
                                + "); ask for fewer outputs, or use HTTP with "
                                + "binary_data_output");
            }
        };
    }

    /**
     * The response: the requested outputs' metadata, and their bytes (still the outputs' memory)
     * for raw_output_contents in the same order.
     */
    InferAnswer encode(
            KernelMetadata kernel,
            ModelInferRequest request,
            Decoded decoded,
            List<KernelOutput> outputs) {
        ModelInferResponse.Builder response =
                ModelInferResponse.newBuilder()
                        .setModelName(kernel.name())
                        .setModelVersion(KernelMetadata.VERSION)
                        .setId(request.getId());
        List<MemorySegment> raw = new ArrayList<>();
        for (String name : decoded.outputs()) {
            KernelOutput output =
                    outputs.stream().filter(o -> o.name().equals(name)).findFirst().orElseThrow();
            InferOutputTensor.Builder tensor =
                    InferOutputTensor.newBuilder()
                            .setName(name)
                            .setDatatype(output.dataType().name());
            Arrays.stream(output.shape()).forEach(tensor::addShape);
            response.addOutputs(tensor);
            raw.add(output.data());
        }
        return new InferAnswer(response.build(), raw);
    }

    private List<KernelInput> inputs(ModelInferRequest request, InferCall call) {
        int count = request.getInputsCount();
        if (count > limits.maxInputs()) {
            throw LimitExceededException.shape(
                    "the number of inputs", count, "max-inputs", limits.maxInputs());
        }
        int raw = call.rawCount();
        if (raw > 0 && raw != count) {
            throw new InvalidInputException(
                    "the request has "
                            + raw
                            + " raw_input_contents for "
                            + count
                            + " inputs; "
                            + "send one per input, in the inputs' order (or none, and every input's values in its contents)");
        }
        List<KernelInput> inputs = new ArrayList<>(count);
        long elements = 0;
        for (int i = 0; i < count; i++) {
            InferInputTensor input = request.getInputs(i);
            String name = input.getName();
            if (name.isEmpty()) {
                throw new InvalidInputException("input " + i + " has no name");
            }
            limits.checkName("input name", name);
            DataType type =
                    DataType.byName(input.getDatatype())
                            .orElseThrow(() ->
                                    new InvalidInputException(
                                            "input '"
                                                    + name
                                                    + "' has unknown datatype '"
                                                    + input.getDatatype()
                                                    + "'; the protocol's datatypes are "
                                                    + Arrays.stream(DataType.values())
                                                            .map(DataType::name)
                                                            .collect(Collectors.joining(", "))));
            long[] shape = shape(name, input.getShapeList());
            long elementCount = DeclaredTensors.elementCount(name, shape, type);
            elements = elements + elementCount < 0 ? Long.MAX_VALUE : elements + elementCount;
            if (elements > limits.maxElements()) {
                throw LimitExceededException.size(
                        "the number of tensor elements (the product of each input's shape, "
                                + "added up over the inputs up to '"
                                + name
                                + "')",
                        elements,
                        "max-elements",
                        limits.maxElements());
            }
            if (raw > 0) {
                if (input.hasContents()) {
                    throw new InvalidInputException(
                            "input '"
                                    + name
                                    + "' has both contents and raw_input_contents; "
                                    + "send one");
                }
                DeclaredTensors.checkByteSize(
                        "raw_input_contents", name, type, elementCount, call.rawSize(i));
                inputs.add(
                        new KernelInput(name, type, shape, call.raw(i, name, type, elementCount)));
            } else {
                inputs.add(
                        new KernelInput(
                                name,
                                type,
                                shape,
                                TypedTensorSource.of(
                                        name, type, input.getContents(), elementCount)));
            }
        }
        return inputs;
    }

    private static long[] shape(String name, List<Long> dims) {
        DeclaredTensors.checkRank(name, dims.size());
        long[] shape = new long[dims.size()];
        for (int d = 0; d < shape.length; d++) {
            shape[d] = dims.get(d);
            DeclaredTensors.checkDimension(name, d, shape[d]);
        }
        return shape;
    }

    /** A parameter's value as the kernel layer takes it: text, as a JSON value would be written. */
    private static String text(String key, InferParameter parameter) {
        return switch (parameter.getParameterChoiceCase()) {
            case BOOL_PARAM -> Boolean.toString(parameter.getBoolParam());
            case INT64_PARAM -> Long.toString(parameter.getInt64Param());
            case STRING_PARAM -> parameter.getStringParam();
            case DOUBLE_PARAM -> Double.toString(parameter.getDoubleParam());
            case UINT64_PARAM -> Long.toUnsignedString(parameter.getUint64Param());
            case PARAMETERCHOICE_NOT_SET ->
                    throw new InvalidInputException(
                            "parameter '"
                                    + key
                                    + "' has no value; set "
                                    + "one of bool_param, int64_param, string_param, double_param, uint64_param");
        };
    }

    /** Triton's {@code timeout} parameter, in microseconds (int64 or uint64). */
    private static Duration timeout(InferParameter parameter) {
        long micros =
                switch (parameter.getParameterChoiceCase()) {
                    case INT64_PARAM -> parameter.getInt64Param();
                    case UINT64_PARAM ->
                            parameter.getUint64Param() < 0
                                    ? Long.MAX_VALUE
                                    : parameter.getUint64Param();
                    default -> -1;
                };
        if (micros < 0) {
            throw new InvalidInputException(
                    "parameter timeout must be a non-negative integer number of microseconds "
                            + "(int64_param), got "
                            + text("timeout", parameter));
        }
        return DeclaredTensors.timeoutFromMicros(micros);
    }

    private List<String> outputs(
            KernelMetadata kernel, List<InferRequestedOutputTensor> requested) {
        if (requested.isEmpty()) {
            return kernel.outputs().stream().map(TensorSpec::name).toList();
        }
        if (requested.size() > limits.maxOutputs()) {
            throw LimitExceededException.shape(
                    "the number of requested outputs",
                    requested.size(),
                    "max-outputs",
                    limits.maxOutputs());
        }
        List<String> names = new ArrayList<>();
        for (InferRequestedOutputTensor output : requested) {
            String name = output.getName();
            limits.checkName("requested output name", name);
            if (kernel.output(name).isEmpty()) {
                throw new InvalidInputException(
                        "kernel '"
                                + kernel.name()
                                + "' has no output '"
                                + name
                                + "'; its outputs are: "
                                + kernel.outputs().stream()
                                        .map(TensorSpec::name)
                                        .collect(Collectors.joining(", ")));
            }
            if (names.contains(name)) {
                throw new InvalidInputException(
                        "output '" + name + "' is requested more than once");
            }
            names.add(name);
        }
        return names;
    }
}
