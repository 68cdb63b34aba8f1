package dev.ncs.kernel;

import dev.ncs.nativelib.DataType;
import java.lang.foreign.MemorySegment;

/**
 * One output of a finished call. {@code data} is borrowed native memory, valid only during
 * {@link OutputHandler#handle}: copy what you need.
 */
public record KernelOutput(String name, DataType dataType, long[] shape, MemorySegment data) {
}
