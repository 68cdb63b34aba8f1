package dev.ncs.nativelib;

import dev.ncs.nativelib.raw.NcsLibrary;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.Optional;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The safe Java face of libncs, by job: {@link #memory()} (buffers, budget, cache, counters),
 * {@link #kernels()} (catalog, calls, plugins, library locks) and {@link #leaks()} (leak detection
 * and counts). Handles become objects ({@link NativeBuffer}, {@link NativeCall}), statuses become
 * {@link NativeException}s, and no JNA type leaves this package.
 *
 * <p>libncs is process-wide, so there is one runtime per JVM ({@link #load}). Every native call
 * made through it refuses to run on a virtual thread: a thread inside native code pins its carrier,
 * so native work belongs on the platform threads of the native executor.
 */
public final class NativeRuntime {

    private static final Logger log = LoggerFactory.getLogger(NativeRuntime.class);
    private static NativeRuntime instance;

    private final String version;
    private final LeakReports leaks = new LeakReports();
    private final NativeMemory memory = new NativeMemory(leaks);
    private final NativeKernels kernels = new NativeKernels(leaks);

    private NativeRuntime(String version) {
        this.version = version;
    }

    /**
     * Loads libncs once per JVM (later calls return the same runtime) from the override path if
     * given, else the system library path, else the copy bundled in the jar; a libncs of another
     * version than the jar's is refused.
     */
    public static synchronized NativeRuntime load(Optional<Path> override) {
        requirePlatformThread();
        if (instance == null) {
            NcsLibrary.register(NativeLibraryLoader.load(override));
            instance = new NativeRuntime(NcsLibrary.ncs_version_string());
            log.info("libncs {} loaded", instance.version);
        }
        return instance;
    }

    public String version() {
        return version;
    }

    public NativeMemory memory() {
        return memory;
    }

    public NativeKernels kernels() {
        return kernels;
    }

    public LeakReports leaks() {
        return leaks;
    }

    /**
     * The kernel's state of the TCP connection between the two ends (Linux's numbering: 1
     * established, 8 close-wait: the peer closed its side), 0 when there is no such connection (any
     * more), or -1 when it cannot be told (addresses of different families, or no such lookup on
     * this system).
     */
    public int tcpState(
            InetAddress localAddress, int localPort, InetAddress remoteAddress, int remotePort) {
        requirePlatformThread();
        byte[] local = localAddress.getAddress();
        byte[] remote = remoteAddress.getAddress();
        if (local.length != remote.length) {
            return -1;
        }
        int state =
                NcsLibrary.ncs_tcp_state(
                        local.length == 4 ? 4 : 6, local, localPort, remote, remotePort);
        return state < 0 ? -1 : state;
    }

    /**
     * Sends {@code bytes} on this process's own socket of the TCP connection between the two ends,
     * without blocking: the number of bytes sent (0 when its send buffer is full), or -1 when there
     * is no such connection here (any more) or the send failed. The caller must know that nothing
     * else writes to the socket meanwhile, and that it stays open (see ncs_tcp_send).
     */
    public long tcpSend(
            InetAddress localAddress,
            int localPort,
            InetAddress remoteAddress,
            int remotePort,
            byte[] bytes) {
        requirePlatformThread();
        byte[] local = localAddress.getAddress();
        byte[] remote = remoteAddress.getAddress();
        if (local.length != remote.length) {
            return -1;
        }
        long sent =
                NcsLibrary.ncs_tcp_send(
                        local.length == 4 ? 4 : 6,
                        local,
                        localPort,
                        remote,
                        remotePort,
                        bytes,
                        bytes.length);
        return sent < 0 ? -1 : sent;
    }

    static void check(int status, Supplier<String> context) {
        if (status != NativeStatus.OK.code()) {
            NativeStatus s = NativeStatus.of(status);
            throw new NativeException(
                    s, context.get() + " (" + NcsLibrary.ncs_status_str(status) + ")");
        }
    }

    static void requirePlatformThread() {
        if (Thread.currentThread().isVirtual()) {
            throw new IllegalStateException(
                    "native call on virtual thread "
                            + Thread.currentThread()
                            + ": run native work on the native executor's platform threads");
        }
    }
}
