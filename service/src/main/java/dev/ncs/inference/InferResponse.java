package dev.ncs.inference;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;

/** The protocol's inference response; only the fields Triton's clients know, so strict clients parse it. */
@JsonInclude(JsonInclude.Include.NON_NULL)
record InferResponse(
        @JsonProperty("model_name") String modelName,
        @JsonProperty("model_version") String modelVersion,
        String id,
        List<Output> outputs) {

    /** One output tensor; {@code data} is a flat, row-major array. */
    record Output(String name, String datatype, long[] shape, Object data) {
    }
}
