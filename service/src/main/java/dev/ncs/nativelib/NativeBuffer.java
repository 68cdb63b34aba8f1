package dev.ncs.nativelib;

import dev.ncs.nativelib.raw.NcsLibrary;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A reference-counted libncs buffer, in the manner of Netty's {@code ReferenceCounted}: it starts
 * with one reference, {@link #retain()} adds one, {@link #release()} drops one, and whoever drops
 * the last one frees it. {@link #close()} drops the creator's reference exactly once, so
 * try-with-resources and explicit release compose.
 *
 * <p>Java references mirror native ones one to one: each retain here is an {@code
 * ncs_buffer_retain}. Other owners (a kernel call holding its inputs) keep their own native
 * references, so the memory may outlive this object's last reference; it is freed when the last
 * owner, Java or native, lets go.
 *
 * <p>Java reads and writes the memory through an {@link Access}, opened on the thread that uses it
 * and closed when done: its segment belongs to an arena confined to that thread, so closing it
 * costs a field write (closing a shared arena makes the JVM stop every thread to check that none is
 * using it: measured at 45% of a small request's CPU). While an access is open, the last reference
 * cannot be dropped ({@link #release()} throws), and once the access is closed its segment refuses
 * every use: Java never reads memory that may have been freed.
 *
 * <p>A buffer that becomes unreachable while it still holds references is a leak: a {@link Cleaner}
 * releases what it held, and the runtime counts and logs it.
 */
public final class NativeBuffer implements AutoCloseable {

    private final long handle;
    private final long address;
    private final long size;
    private final String owner;
    private final References references;
    private final Cleaner.Cleanable cleanable;
    private final LeakDetection.Records records;
    private final AtomicBoolean closed = new AtomicBoolean();

    private NativeBuffer(LeakReports leaks, long handle, long address, long size, String owner) {
        this.handle = handle;
        this.address = address;
        this.size = size;
        this.owner = owner;
        this.records =
                leaks.level().records(leaks.samplingInterval())
                        ? new LeakDetection.Records()
                        : null;
        this.references = new References(leaks, handle, size, owner, records);
        this.cleanable = leaks.level().tracks() ? leaks.cleaner().register(this, references) : null;
    }

    /** Wraps a handle whose one reference the caller transfers to the new object. */
    static NativeBuffer adopt(LeakReports leaks, long handle, String owner) {
        long[] addr = new long[1];
        long[] length = new long[1];
        int status = NcsLibrary.ncs_buffer_data(handle, addr, length);
        if (status != NativeStatus.OK.code()) {
            NcsLibrary.ncs_buffer_release(handle);
            NativeRuntime.check(
                    status, () -> "cannot read native buffer " + Long.toHexString(handle));
        }
        return new NativeBuffer(leaks, handle, addr[0], length[0], owner);
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
     * Opens the buffer's memory to the calling thread until the access is closed (on the same
     * thread). Reading and writing it is plain Java memory access (no native call), so any thread
     * may open one, virtual threads included. Throws {@link IllegalStateException} once the buffer
     * is released.
     */
    public Access open() {
        references.state.updateAndGet(s -> {
            if (References.count(s) == 0) {
                throw released();
            }
            return s + 1;
        });
        record("open()");
        try {
            return new Access(this);
        } catch (RuntimeException | Error e) {
            references.state.decrementAndGet();
            throw e;
        }
    }

    /** The native reference count (all owners), or 0 once this object holds no reference. */
    public int refCnt() {
        NativeRuntime.requirePlatformThread();
        if (References.count(references.state.get()) == 0) {
            return 0;
        }
        int[] count = new int[1];
        NativeRuntime.check(
                NcsLibrary.ncs_buffer_refcount(handle, count), () -> "refcount of " + this);
        Reference.reachabilityFence(this);
        return count[0];
    }

    /** Adds a reference; each must be balanced by a {@link #release()}. */
    public NativeBuffer retain() {
        NativeRuntime.requirePlatformThread();
        references.state.updateAndGet(s -> {
            if (References.count(s) == 0) {
                throw released();
            }
            return s + References.ONE;
        });
        NativeRuntime.check(NcsLibrary.ncs_buffer_retain(handle), () -> "cannot retain " + this);
        record("retain()");
        Reference.reachabilityFence(this);
        return this;
    }

    /**
     * Drops a reference. Returns true when this object holds no more references (it is unusable
     * from then on); throws {@link IllegalStateException} if it held none, or if this is the last
     * one and an {@link Access} is still open (nothing is released then).
     */
    public boolean release() {
        NativeRuntime.requirePlatformThread();
        int left =
                References.count(
                        references.state.updateAndGet(s -> {
                            if (References.count(s) == 0) {
                                throw released();
                            }
                            if (References.count(s) == 1 && References.accesses(s) > 0) {
                                throw new IllegalStateException(
                                        "cannot release the last reference to "
                                                + this
                                                + " while "
                                                + References.accesses(s)
                                                + " access(es) to its memory are open");
                            }
                            return s - References.ONE;
                        }));
        record("release()");
        if (left == 0 && records != null) {
            records.released();
        }
        try {
            NativeRuntime.check(
                    NcsLibrary.ncs_buffer_release(handle), () -> "cannot release " + this);
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
        if (closed.compareAndSet(false, true) && References.count(references.state.get()) > 0) {
            release();
        }
    }

    private void ensureAlive() {
        if (References.count(references.state.get()) == 0) {
            throw released();
        }
    }

    private IllegalStateException released() {
        return new IllegalStateException(
                this
                        + " was already released"
                        + (records == null
                                ? " (set ncs.leak-detection.level=paranoid to see where)"
                                : ":" + records.report()));
    }

    private void record(String what) {
        if (records != null) {
            records.access(what);
        }
    }

    @Override
    public String toString() {
        return "native buffer "
                + Long.toHexString(handle)
                + " ("
                + size
                + " bytes, owner '"
                + owner
                + "')";
    }

    /**
     * The buffer's memory, opened to one thread by {@link #open()}: {@link #segment()} is valid
     * until {@link #close()}, on the thread that opened it. Closing twice does nothing.
     */
    public static final class Access implements AutoCloseable {
        private final NativeBuffer buffer;
        private final Arena arena;
        private final MemorySegment segment;

        private Access(NativeBuffer buffer) {
            this.buffer = buffer;
            this.arena = Arena.ofConfined();
            // The arena's cleanup holds the buffer: while a segment is usable its buffer is
            // reachable, so the
            // Cleaner cannot free the memory under it even if every other reference to the buffer
            // is dropped.
            this.segment =
                    MemorySegment.ofAddress(buffer.address)
                            .reinterpret(
                                    buffer.size,
                                    arena,
                                    ignored -> Reference.reachabilityFence(buffer));
        }

        /** The memory: this thread only, until {@link #close()}. */
        public MemorySegment segment() {
            return segment;
        }

        @Override
        public void close() {
            if (arena.scope().isAlive()) {
                arena.close(); // throws WrongThreadException off the opening thread: the access
                // stays open
                buffer.references.state.decrementAndGet();
            }
        }
    }

    /** The Cleaner's state: must not refer to the NativeBuffer itself. */
    private static final class References implements Runnable {
        /** References held (high 32 bits) and accesses open (low 32 bits), in one atomic. */
        static final long ONE = 1L << 32;

        private final LeakReports leaks;
        private final long handle;
        private final long size;
        private final String owner;
        private final LeakDetection.Records records;
        private final AtomicLong state = new AtomicLong(ONE);

        References(
                LeakReports leaks,
                long handle,
                long size,
                String owner,
                LeakDetection.Records records) {
            this.leaks = leaks;
            this.handle = handle;
            this.size = size;
            this.owner = owner;
            this.records = records;
        }

        static int count(long state) {
            return (int) (state >>> 32);
        }

        static int accesses(long state) {
            return (int) state;
        }

        /** Unreachable, so no access is open (an open access keeps its buffer reachable). */
        @Override
        public void run() {
            int leaked = count(state.getAndSet(0));
            if (leaked > 0) {
                for (int i = 0; i < leaked; i++) {
                    NcsLibrary.ncs_buffer_release(handle);
                }
                leaks.reportJavaLeak(handle, size, owner, records == null ? "" : records.report());
            }
        }
    }
}
