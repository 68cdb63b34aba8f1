package dev.ncs.kernel;

/** A kernel parameter as its descriptor declares it ({@code type}: bool, int, double or string). */
public record ParameterSpec(String name, String type, String defaultValue, String doc) {}
