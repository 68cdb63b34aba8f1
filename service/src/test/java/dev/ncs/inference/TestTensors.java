package dev.ncs.inference;

import tools.jackson.databind.JsonNode;

/** Tensor helpers for tests outside this package. */
public final class TestTensors {

    private TestTensors() {}

    public static String fp64(String name, long[] shape, double... data) {
        return Tensors.input(name, "FP64", shape, data);
    }

    public static JsonNode output(JsonNode response, String name) {
        return Tensors.output(response, name);
    }

    public static double[] doubles(JsonNode output) {
        return Tensors.doubles(output);
    }
}
