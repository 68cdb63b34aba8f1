package dev.ncs.nativelib.raw;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;

/**
 * JNA direct mapping of {@code ncs.h} and {@code ncs_net.h}, one method per C function, C names and
 * C semantics. Nothing else lives here: callers are the safe wrappers in {@code dev.ncs.nativelib}.
 * Pointers to opaque structs travel as addresses in a {@code long}; {@code uint64_t} as {@code
 * long} (two's complement); out-parameters as one-element arrays.
 */
public final class NcsLibrary {

    private NcsLibrary() {}

    /** Binds the native methods below to {@code library}. Called once by the loader. */
    public static void register(NativeLibrary library) {
        Native.register(NcsLibrary.class, library);
    }

    public static native int ncs_version_number();

    public static native String ncs_version_string();

    public static native String ncs_status_str(int status);

    public static native long ncs_dtype_size(int dtype);

    public static native String ncs_dtype_name(int dtype);

    public static native int ncs_max_rank();

    public static native int ncs_buffer_alloc(long size, long[] out);

    public static native int ncs_buffer_alloc_deferred(long size, long[] out);

    public static native int ncs_buffer_commit(long handle, long committed);

    public static native int ncs_buffer_retain(long handle);

    public static native int ncs_buffer_release(long handle);

    public static native int ncs_buffer_refcount(long handle, int[] out);

    public static native int ncs_buffer_data(long handle, long[] addr, long[] size);

    public static native int ncs_stats_read(long[] out, int n);

    public static native void ncs_set_memory_limit(long bytes);

    public static native void ncs_set_buffer_cache_limit(long bytes);

    public static native long ncs_buffer_cache_trim(long minIdleMs);

    public static native int ncs_kernel_count();

    public static native String ncs_kernel_name(int index);

    public static native String ncs_kernel_metadata_json(String name);

    public static native int ncs_call_create(String kernel, long[] out);

    public static native int ncs_call_set_input(
            long call, int index, int dtype, int rank, long[] shape, long buffer);

    public static native int ncs_call_set_param(long call, String key, String value);

    public static native int ncs_call_prepare(long call, int maxParts, int[] outParts);

    public static native int ncs_call_run_part(long call, int part);

    public static native int ncs_call_finish(long call);

    public static native int ncs_call_output_count(long call);

    public static native int ncs_call_output_info(
            long call, int index, int[] dtype, int[] rank, long[] shape);

    public static native int ncs_call_output_nbytes(long call, int index, long[] nbytes);

    public static native int ncs_call_take_output(long call, int index, long[] out);

    public static native void ncs_call_cancel(long call);

    public static native long ncs_call_progress(long call);

    public static native String ncs_call_error(long call);

    public static native long ncs_call_bytes_needed(long call);

    public static native void ncs_call_destroy(long call, long[] leaked, long[] leakedBytes);

    public static native int ncs_buffer_set_owner(long handle, String owner);

    public static native int ncs_buffer_snapshot(byte[] out, long size, long[] needed);

    public static native int ncs_plugin_load(String path, byte[] error, long errorSize);

    public static native int ncs_library_count();

    // ncs_net.h

    public static native int ncs_tcp_state(
            int ipVersion,
            byte[] localAddress,
            int localPort,
            byte[] remoteAddress,
            int remotePort);

    public static native long ncs_tcp_send(
            int ipVersion,
            byte[] localAddress,
            int localPort,
            byte[] remoteAddress,
            int remotePort,
            byte[] bytes,
            long n);

    public static native String ncs_library_name(int index);

    public static native int ncs_library_lock_stats(int index, long[] out, int n);
}
