package dev.ncs.nativelib;

import dev.ncs.nativelib.raw.NcsLibrary;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One run of one kernel ({@code ncs_call}): bind inputs and parameters, {@link #prepare} (validates
 * and allocates the outputs), run every part (concurrently, from any platform threads), {@link
 * #finish}, take the outputs wanted, close. Closing releases everything the call still holds and
 * reports buffers the kernel leaked; it is refused while a part is running. Cancelling and closing
 * exclude each other (a short lock), so a cancel from another thread never touches a destroyed
 * call.
 */
public final class NativeCall implements KernelCall {

    /** The largest tensor rank libncs accepts ({@code NCS_MAX_RANK}). */
    public static final int MAX_RANK = 8;

    private final LeakReports leaks;
    private final long call;
    private final String kernel;

    /**
     * Parts running now, or {@link #CLOSED}: one atomic, so a part cannot slip in while the call is
     * freed.
     */
    private final AtomicInteger state = new AtomicInteger();

    private static final int CLOSED = -1;

    NativeCall(LeakReports leaks, long call, String kernel) {
        this.leaks = leaks;
        this.call = call;
        this.kernel = kernel;
    }

    public String kernel() {
        return kernel;
    }

    @Override
    public void setInput(int index, DataType dataType, long[] shape, NativeBuffer buffer) {
        NativeRuntime.requirePlatformThread();
        check(
                NcsLibrary.ncs_call_set_input(
                        live(), index, dataType.code(), shape.length, shape, buffer.handle()));
    }

    @Override
    public void setParam(String key, String value) {
        NativeRuntime.requirePlatformThread();
        check(NcsLibrary.ncs_call_set_param(live(), key, value));
    }

    @Override
    public int prepare(int maxParts) {
        NativeRuntime.requirePlatformThread();
        int[] parts = new int[1];
        check(NcsLibrary.ncs_call_prepare(live(), maxParts, parts));
        return parts[0];
    }

    @Override
    public long bytesNeeded() {
        NativeRuntime.requirePlatformThread();
        return NcsLibrary.ncs_call_bytes_needed(live());
    }

    @Override
    public void runPart(int part) {
        NativeRuntime.requirePlatformThread();
        state.updateAndGet(running -> {
            if (running == CLOSED) {
                throw closed();
            }
            return running + 1;
        });
        try {
            check(NcsLibrary.ncs_call_run_part(call, part));
        } finally {
            state.decrementAndGet();
        }
    }

    @Override
    public void finish() {
        NativeRuntime.requirePlatformThread();
        check(NcsLibrary.ncs_call_finish(live()));
    }

    @Override
    public List<OutputInfo> outputs() {
        NativeRuntime.requirePlatformThread();
        int count = NcsLibrary.ncs_call_output_count(live());
        List<OutputInfo> outputs = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int[] dtype = new int[1];
            int[] rank = new int[1];
            long[] shape = new long[MAX_RANK];
            long[] bytes = new long[1];
            check(NcsLibrary.ncs_call_output_info(call, i, dtype, rank, shape));
            check(NcsLibrary.ncs_call_output_nbytes(call, i, bytes));
            outputs.add(
                    new OutputInfo(
                            DataType.byCode(dtype[0]), Arrays.copyOf(shape, rank[0]), bytes[0]));
        }
        return outputs;
    }

    @Override
    public NativeBuffer takeOutput(int index) {
        NativeRuntime.requirePlatformThread();
        long[] handle = new long[1];
        check(NcsLibrary.ncs_call_take_output(live(), index, handle));
        return NativeBuffer.adopt(leaks, handle[0], kernel);
    }

    @Override
    public void cancel() {
        NativeRuntime.requirePlatformThread();
        synchronized (this) {
            if (state.get() != CLOSED) {
                NcsLibrary.ncs_call_cancel(call);
            }
        }
    }

    /** Destroys the call (once). Buffers the kernel leaked are reclaimed and reported. */
    @Override
    public void close() {
        NativeRuntime.requirePlatformThread();
        long[] leaked = new long[1];
        long[] leakedBytes = new long[1];
        synchronized (this) {
            int running = state.compareAndExchange(0, CLOSED);
            if (running > 0) {
                throw new IllegalStateException(
                        "call of '" + kernel + "' closed while " + running + " part(s) still run");
            }
            if (running != 0) {
                return;
            }
            NcsLibrary.ncs_call_destroy(call, leaked, leakedBytes);
        }
        if (leaked[0] > 0) {
            leaks.reportKernelLeaks(kernel, leaked[0], leakedBytes[0]);
        }
    }

    private long live() {
        if (state.get() == CLOSED) {
            throw closed();
        }
        return call;
    }

    private IllegalStateException closed() {
        return new IllegalStateException("call of '" + kernel + "' was already closed");
    }

    private void check(int status) {
        if (status != NativeStatus.OK.code()) {
            String message = NcsLibrary.ncs_call_error(call);
            if (message == null || message.isEmpty()) {
                message = kernel + ": " + NcsLibrary.ncs_status_str(status);
            }
            throw new NativeException(NativeStatus.of(status), message);
        }
    }
}
