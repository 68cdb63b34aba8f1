package dev.ncs.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncs.kernel.InvalidInputException;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The BYTES framing (4-byte little-endian length, then the bytes) checked and decoded without HTTP.
 */
class BytesEncodingTests {

    @Test
    void noElementsIsZeroBytes() {
        BytesEncoding.validate("x", segment(new byte[0]), 0);

        assertThat(strings(new byte[0], 0)).isEmpty();
    }

    @Test
    void elementsOfAnyLengthDecodeInOrder() {
        byte[] encoded = encode("", "a", "héllo, wörld", "x".repeat(70_000));

        BytesEncoding.validate("x", segment(encoded), 4);

        assertThat(strings(encoded, 4))
                .containsExactly("", "a", "héllo, wörld", "x".repeat(70_000));
    }

    @Test
    void invalidUtf8BecomesTheReplacementCharacter() {
        byte[] encoded = frame(new byte[] {'a', (byte) 0xff, 'b'});

        BytesEncoding.validate("x", segment(encoded), 1);

        assertThat(strings(encoded, 1)).containsExactly("a\ufffdb");
    }

    @Test
    void aLengthPrefixCutShortIsRefusedWithTheElementAndWhatIsLeft() {
        byte[] encoded = concat(encode("ab"), new byte[] {5, 0, 0});

        assertThatThrownBy(() -> BytesEncoding.validate("x", segment(encoded), 2))
                .isInstanceOf(InvalidInputException.class)
                .hasMessage(
                        "input 'x': BYTES element 1 has no 4-byte length (3 bytes left); the shape needs 2 elements");
    }

    @Test
    void fewerElementsThanTheShapeNeedsAreRefused() {
        assertThatThrownBy(() -> BytesEncoding.validate("x", segment(encode("a", "b")), 3))
                .hasMessageContaining("BYTES element 2 has no 4-byte length (0 bytes left)");
    }

    @Test
    void aLengthPastTheEndIsRefusedAndReadAsUnsigned() {
        byte[] tooLong =
                concat(new byte[] {10, 0, 0, 0}, "abc".getBytes(StandardCharsets.US_ASCII));
        byte[] huge =
                concat(
                        new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff},
                        new byte[8]);

        assertThatThrownBy(() -> BytesEncoding.validate("x", segment(tooLong), 1))
                .hasMessage("input 'x': BYTES element 0 declares 10 bytes but only 3 remain");
        assertThatThrownBy(() -> BytesEncoding.validate("x", segment(huge), 1))
                .hasMessage(
                        "input 'x': BYTES element 0 declares 4294967295 bytes but only 8 remain");
    }

    @Test
    void bytesAfterTheLastElementAreRefused() {
        byte[] encoded = concat(encode("a", "b"), new byte[] {0});

        assertThatThrownBy(() -> BytesEncoding.validate("x", segment(encoded), 2))
                .hasMessage(
                        "input 'x': 1 bytes follow the last of its 2 BYTES elements; binary_data_size must equal "
                                + "the encoded size");
        assertThatThrownBy(() -> BytesEncoding.validate("x", segment(new byte[] {0, 0, 0, 0}), 0))
                .hasMessageContaining("4 bytes follow the last of its 0 BYTES elements");
    }

    private static MemorySegment segment(byte[] bytes) {
        return MemorySegment.ofArray(bytes);
    }

    private static List<String> strings(byte[] encoded, long count) {
        List<String> out = new ArrayList<>();
        BytesEncoding.forEachString(segment(encoded), count, out::add);
        return out;
    }

    private static byte[] encode(String... elements) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (String element : elements) {
            out.writeBytes(frame(element.getBytes(StandardCharsets.UTF_8)));
        }
        return out.toByteArray();
    }

    /**
     * One element: its length little-endian, then its bytes (written by hand, not with the code
     * under test).
     */
    private static byte[] frame(byte[] bytes) {
        int n = bytes.length;
        return concat(
                new byte[] {(byte) n, (byte) (n >>> 8), (byte) (n >>> 16), (byte) (n >>> 24)},
                bytes);
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] both = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, both, a.length, b.length);
        return both;
    }
}
