package dev.ncs.inference;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.ncs.kernel.KernelMetadata;
import dev.ncs.kernel.ParameterSpec;
import dev.ncs.kernel.TensorSpec;
import dev.ncs.nativelib.DataType;
import java.util.List;

/**
 * The protocol's model metadata, plus what a kernel needs to say truthfully: every accepted
 * datatype ({@code datatypes}; {@code datatype} is the first), whether any rank is accepted ({@code
 * any_rank}; {@code shape} is then [-1]), the kernel's parameters and documentation.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ModelMetadata(
        String name,
        List<String> versions,
        String platform,
        String doc,
        List<Tensor> inputs,
        List<Tensor> outputs,
        List<ParameterSpec> parameters) {

    static final String PLATFORM = "ncs_native";

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Tensor(
            String name,
            String datatype,
            List<Long> shape,
            List<String> datatypes,
            @JsonProperty("any_rank") Boolean anyRank,
            String doc) {

        static Tensor of(TensorSpec spec) {
            List<String> types = spec.datatypes().stream().map(DataType::name).toList();
            return new Tensor(
                    spec.name(),
                    types.getFirst(),
                    spec.anyRank() ? List.of(-1L) : spec.shape(),
                    types,
                    spec.anyRank() ? Boolean.TRUE : null,
                    spec.doc());
        }
    }

    public static ModelMetadata of(KernelMetadata kernel) {
        return new ModelMetadata(
                kernel.name(),
                List.of(KernelMetadata.VERSION),
                PLATFORM,
                kernel.doc(),
                kernel.inputs().stream().map(Tensor::of).toList(),
                kernel.outputs().stream().map(Tensor::of).toList(),
                kernel.parameters());
    }
}
