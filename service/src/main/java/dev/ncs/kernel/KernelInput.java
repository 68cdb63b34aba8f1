package dev.ncs.kernel;

import dev.ncs.nativelib.DataType;

/** One input tensor of a request, validated against the protocol but not yet against the kernel. */
public record KernelInput(String name, DataType dataType, long[] shape, TensorSource source) {}
