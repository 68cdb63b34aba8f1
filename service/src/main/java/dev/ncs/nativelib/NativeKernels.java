package dev.ncs.nativelib;

import dev.ncs.nativelib.raw.NcsLibrary;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.IntFunction;

/**
 * libncs's kernels and the libraries they come from: the catalog, calls, plugin loading and the
 * per-library locks. Every method runs on a platform thread (see {@link NativeRuntime}).
 */
public final class NativeKernels {

    /**
     * One library's lock since start: how often it was taken, and the time spent waiting for it and
     * holding it.
     */
    public record LockStats(long acquisitions, long waitNanos, long heldNanos) {
        /** How many values {@code ncs_library_lock_stats} writes. */
        static final int COUNT = 3;
    }

    private final LeakReports leaks;

    NativeKernels(LeakReports leaks) {
        this.leaks = leaks;
    }

    public List<String> kernelNames() {
        NativeRuntime.requirePlatformThread();
        return names(NcsLibrary.ncs_kernel_count(), NcsLibrary::ncs_kernel_name);
    }

    /** The kernel's descriptor as JSON (see {@code ncs_kernel_metadata_json}). */
    public String kernelMetadataJson(String kernel) {
        NativeRuntime.requirePlatformThread();
        String json = NcsLibrary.ncs_kernel_metadata_json(kernel);
        if (json == null) {
            throw new NativeException(NativeStatus.NOT_FOUND, "no kernel named '" + kernel + "'");
        }
        return json;
    }

    /** Starts a call of {@code kernel}; the caller closes it. */
    public NativeCall newCall(String kernel) {
        NativeRuntime.requirePlatformThread();
        long[] call = new long[1];
        NativeRuntime.check(
                NcsLibrary.ncs_call_create(kernel, call), () -> "no kernel named '" + kernel + "'");
        return new NativeCall(leaks, call[0], kernel);
    }

    /**
     * Loads a kernel library (see {@code ncs_plugin_load}): its kernels join the catalog. Returns
     * empty when it was loaded, else libncs's reason for refusing it (nothing of it stays loaded).
     */
    public Optional<String> loadPlugin(Path file) {
        NativeRuntime.requirePlatformThread();
        byte[] error = new byte[1024];
        int status = NcsLibrary.ncs_plugin_load(file.toString(), error, error.length);
        if (status == NativeStatus.OK.code()) {
            return Optional.empty();
        }
        int end = 0;
        while (end < error.length && error[end] != 0) {
            end++;
        }
        String reason = new String(error, 0, end, StandardCharsets.UTF_8);
        return Optional.of(reason.isEmpty() ? NcsLibrary.ncs_status_str(status) : reason);
    }

    /** Names of the kernel libraries loaded ("builtin" and the plugins), in index order. */
    public List<String> libraryNames() {
        NativeRuntime.requirePlatformThread();
        return names(NcsLibrary.ncs_library_count(), NcsLibrary::ncs_library_name);
    }

    /** Library {@code index}'s lock since start. */
    public LockStats lockStats(int index) {
        NativeRuntime.requirePlatformThread();
        long[] stats = new long[LockStats.COUNT];
        NcsLibrary.ncs_library_lock_stats(index, stats, stats.length);
        return new LockStats(stats[0], stats[1], stats[2]);
    }

    private static List<String> names(int count, IntFunction<String> name) {
        List<String> names = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            names.add(name.apply(i));
        }
        return names;
    }
}
