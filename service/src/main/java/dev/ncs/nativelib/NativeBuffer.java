package dev.ncs.nativelib;

import dev.ncs.nativelib.raw.NcsLibrary;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A reference-counted libncs buffer, in the manner of Netty's {@code ReferenceCounted}: it starts
 * with one reference, {@link #retain()} adds one, {@link #release()} drops one, and whoever drops
 * the last one frees it. {@link #close()} drops the creator's reference exactly once, so
 * try-with-resources and explicit release compose.
 *
 * <p>Java references mirror native ones one to one: each retain here is an {@code ncs_buffer_retain}.
 * Other owners (a kernel call holding its inputs) keep their own native references, so the memory
 * may outlive this object's last reference; it is freed when the last owner, Java or native, lets go.
 *
 * <p>A buffer that becomes unreachable while it still holds references is a leak: a {@link Cleaner}
 * releases what it held, and the runtime counts and logs it.
 */
public final class NativeBuffer implements AutoCloseable {

    private final long handle;
    private final long size;
    private final String owner;
    private final MemorySegment segment;
    private final References references;
    private final Cleaner.Cleanable cleanable;
    private final LeakDetection.Records records;
    private final AtomicBoolean closed = new AtomicBoolean();

    private NativeBuffer(NativeRuntime runtime, long handle, long address, long size, String owner) {
        this.handle = handle;
        this.size = size;
        this.owner = owner;
        Arena arena = Arena.ofShared();
        this.segment = MemorySegment.ofAddress(address).reinterpret(size, arena, null);
        this.records = runtime.leakDetection().records(runtime.samplingInterval()) ? new LeakDetection.Records() : null;
        this.references = new References(runtime, handle, size, owner, arena, records);
        this.cleanable = runtime.leakDetection().tracks() ? runtime.cleaner().register(this, references) : null;
    }

    /** Wraps a handle whose one reference the caller transfers to the new object. */
    static NativeBuffer adopt(NativeRuntime runtime, long handle, String owner) {
        long[] addr = new long[1];
        long[] length = new long[1];
        int status = NcsLibrary.ncs_buffer_data(handle, addr, length);
        if (status != NativeStatus.OK.code()) {
            NcsLibrary.ncs_buffer_release(handle);
            NativeRuntime.check(status, () -> "cannot read native buffer " + Long.toHexString(handle));
        }
        return new NativeBuffer(runtime, handle, addr[0], length[0], owner);
    }

    public long size() {
        return size;
    }

    public String owner() {
        return owner;
    }

    long handle() {
        ensureAlive();
        return handle;
    }

    /**
     * The buffer's memory, borrowed: valid while this object holds a reference. Reading or writing it
     * is plain Java memory access (no native call), so any thread may do it. The segment's scope ends
     * when this object's last reference is released: any later access throws instead of touching
     * memory that may already be freed.
     */
    public MemorySegment segment() {
        ensureAlive();
        record("segment()");
        return segment;
    }

    /** The native reference count (all owners), or 0 once this object holds no reference. */
    public int refCnt() {
        NativeRuntime.requirePlatformThread();
        if (references.count.get() == 0) {
            return 0;
        }
        int[] count = new int[1];
        NativeRuntime.check(NcsLibrary.ncs_buffer_refcount(handle, count), () -> "refcount of " + this);
        Reference.reachabilityFence(this);
        return count[0];
    }

    /** Adds a reference; each must be balanced by a {@link #release()}. */
    public NativeBuffer retain() {
        NativeRuntime.requirePlatformThread();
        references.count.updateAndGet(n -> {
            if (n == 0) {
                throw released();
            }
            return n + 1;
        });
        NativeRuntime.check(NcsLibrary.ncs_buffer_retain(handle), () -> "cannot retain " + this);
        record("retain()");
        Reference.reachabilityFence(this);
        return this;
    }

    /**
     * Drops a reference. Returns true when this object holds no more references (it is unusable
     * from then on); throws {@link IllegalStateException} if it held none.
     */
    public boolean release() {
        NativeRuntime.requirePlatformThread();
        int left = references.count.updateAndGet(n -> {
            if (n == 0) {
                throw released();
            }
            return n - 1;
        });
        record("release()");
        if (left == 0) {
            if (records != null) {
                records.released();
            }
            references.arena.close();
        }
        try {
            NativeRuntime.check(NcsLibrary.ncs_buffer_release(handle), () -> "cannot release " + this);
        } finally {
            if (left == 0 && cleanable != null) {
                cleanable.clean();
            }
            Reference.reachabilityFence(this);
        }
        return left == 0;
    }

    /**
     * Drops the creator's reference, once; later calls do nothing. Whoever closes must not also
     * {@link #release()} the creator's reference: close is that release, made idempotent.
     */
    @Override
    public void close() {
        NativeRuntime.requirePlatformThread();
        if (closed.compareAndSet(false, true) && references.count.get() > 0) {
            release();
        }
    }

    private void ensureAlive() {
        if (references.count.get() == 0) {
            throw released();
        }
    }

    private IllegalStateException released() {
        return new IllegalStateException(this + " was already released"
                + (records == null ? " (set ncs.leak-detection.level=paranoid to see where)" : ":" + records.report()));
    }

    private void record(String what) {
        if (records != null) {
            records.access(what);
        }
    }

    @Override
    public String toString() {
        return "native buffer " + Long.toHexString(handle) + " (" + size + " bytes, owner '" + owner + "')";
    }

    /** The Cleaner's state: must not refer to the NativeBuffer itself. */
    private static final class References implements Runnable {
        private final NativeRuntime runtime;
        private final long handle;
        private final long size;
        private final String owner;
        private final Arena arena;
        private final LeakDetection.Records records;
        private final AtomicInteger count = new AtomicInteger(1);

        References(NativeRuntime runtime, long handle, long size, String owner, Arena arena,
                LeakDetection.Records records) {
            this.runtime = runtime;
            this.handle = handle;
            this.size = size;
            this.owner = owner;
            this.arena = arena;
            this.records = records;
        }

        @Override
        public void run() {
            int leaked = count.getAndSet(0);
            if (leaked > 0) {
                arena.close();
                for (int i = 0; i < leaked; i++) {
                    NcsLibrary.ncs_buffer_release(handle);
                }
                runtime.reportJavaLeak(handle, size, owner, records == null ? "" : records.report());
            }
        }
    }
}
