package dev.ncs.kernel;

import dev.ncs.nativelib.DataType;
import java.util.List;

/**
 * A kernel's input or output as its descriptor declares it.
 *
 * @param shape the dims, {@code -1} for any size; {@code null} when any rank is accepted
 */
public record TensorSpec(String name, String doc, List<DataType> datatypes, List<Long> shape) {

    public boolean anyRank() {
        return shape == null;
    }
}
