package dev.ncs.inference;

import java.util.Arrays;
import java.util.stream.Collectors;
import java.util.stream.DoubleStream;
import java.util.stream.LongStream;
import tools.jackson.databind.JsonNode;

/** Builds JSON tensors for requests and reads them back from responses. */
final class Tensors {

    private Tensors() {}

    static String input(String name, String datatype, long[] shape, double[] data) {
        return "{\"name\":\""
                + name
                + "\",\"datatype\":\""
                + datatype
                + "\",\"shape\":"
                + Arrays.toString(shape)
                + ",\"data\":["
                + DoubleStream.of(data).mapToObj(Tensors::number).collect(Collectors.joining(","))
                + "]}";
    }

    static String input(String name, String datatype, long[] shape, long[] data) {
        return "{\"name\":\""
                + name
                + "\",\"datatype\":\""
                + datatype
                + "\",\"shape\":"
                + Arrays.toString(shape)
                + ",\"data\":"
                + Arrays.toString(data)
                + "}";
    }

    static String request(String... inputs) {
        return "{\"inputs\":[" + String.join(",", inputs) + "]}";
    }

    static String number(double v) {
        if (Double.isNaN(v)) {
            return "\"NaN\"";
        }
        if (Double.isInfinite(v)) {
            return v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
        }
        return Double.toString(v);
    }

    static JsonNode output(JsonNode response, String name) {
        for (JsonNode output : response.path("outputs")) {
            if (output.path("name").asString().equals(name)) {
                return output;
            }
        }
        throw new AssertionError("no output '" + name + "' in " + response);
    }

    static double[] doubles(JsonNode output) {
        JsonNode data = output.path("data");
        double[] values = new double[data.size()];
        for (int i = 0; i < values.length; i++) {
            JsonNode v = data.get(i);
            values[i] = v.isString() ? Double.parseDouble(v.asString()) : v.doubleValue();
        }
        return values;
    }

    static long[] longs(JsonNode output) {
        JsonNode data = output.path("data");
        return LongStream.range(0, data.size()).map(i -> data.get((int) i).longValue()).toArray();
    }

    static long[] shape(JsonNode output) {
        JsonNode shape = output.path("shape");
        return LongStream.range(0, shape.size()).map(i -> shape.get((int) i).longValue()).toArray();
    }
}
