package dev.ncs.inference;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** Builds bodies in Triton's binary tensor data format and takes responses in it apart. */
final class BinaryRequests {

    private BinaryRequests() {}

    /**
     * A body: the JSON header followed by the blobs; {@link #headerLength} is the JSON's byte
     * length.
     */
    record Body(byte[] bytes, int headerLength) {}

    static Body body(String json, byte[]... blobs) {
        byte[] header = json.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(header);
        for (byte[] blob : blobs) {
            out.writeBytes(blob);
        }
        return new Body(out.toByteArray(), header.length);
    }

    static byte[] fp64(double... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (double v : values) {
            b.putDouble(v);
        }
        return b.array();
    }

    static double[] fp64(byte[] bytes, int offset, int count) {
        ByteBuffer b = ByteBuffer.wrap(bytes, offset, count * 8).order(ByteOrder.LITTLE_ENDIAN);
        double[] values = new double[count];
        for (int i = 0; i < count; i++) {
            values[i] = b.getDouble();
        }
        return values;
    }

    static long[] int64(byte[] bytes, int offset, int count) {
        ByteBuffer b = ByteBuffer.wrap(bytes, offset, count * 8).order(ByteOrder.LITTLE_ENDIAN);
        long[] values = new long[count];
        for (int i = 0; i < count; i++) {
            values[i] = b.getLong();
        }
        return values;
    }

    /** BYTES elements in the protocol's encoding: 4-byte little-endian length, then the bytes. */
    static byte[] bytesTensor(String... elements) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (String element : elements) {
            byte[] utf8 = element.getBytes(StandardCharsets.UTF_8);
            out.writeBytes(
                    ByteBuffer.allocate(4)
                            .order(ByteOrder.LITTLE_ENDIAN)
                            .putInt(utf8.length)
                            .array());
            out.writeBytes(utf8);
        }
        return out.toByteArray();
    }

    static byte[] slice(byte[] bytes, int from, int length) {
        return Arrays.copyOfRange(bytes, from, from + length);
    }
}
