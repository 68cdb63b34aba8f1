package dev.ncs.grpc;

import dev.ncs.inference.LimitsProperties;
import dev.ncs.system.BearerTokens;
import dev.ncs.system.SecurityProperties;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.SmartLifecycle;
import org.springframework.stereotype.Component;

/**
 * The gRPC server on {@code ncs.grpc.port}, started and stopped with the application. Calls run on
 * virtual threads, as HTTP requests do: a call waits for its kernel on its own thread, and native
 * code runs only on the native workers. On shutdown it stops taking calls and lets those in
 * progress finish for up to {@code ncs.grpc.drain-timeout}, beside the HTTP server's graceful
 * shutdown, then cancels the rest.
 */
@Component
public class GrpcServer implements SmartLifecycle {

    private static final Logger log = LoggerFactory.getLogger(GrpcServer.class);

    /**
     * grpc-netty-shaded would otherwise extract its epoll transport library from the jar into /tmp
     * and load it from there: native code that does not come from the image, written at run time
     * (the container's rule is that every native library is installed in the image and nothing is
     * extracted). Netty's NIO transport needs no native library. Set before any Netty class is
     * initialised; {@code -Dio.grpc.netty.shaded.io.netty.transport.noNative=false} brings epoll
     * back where extraction is acceptable.
     */
    private static final String NO_NATIVE_TRANSPORT =
            "io.grpc.netty.shaded.io.netty.transport.noNative";

    static {
        if (System.getProperty(NO_NATIVE_TRANSPORT) == null) {
            System.setProperty(NO_NATIVE_TRANSPORT, "true");
        }
    }

    private final GrpcProperties properties;
    private final InferenceEndpoint endpoint;
    private final BearerTokens tokens;
    private final MeterRegistry registry;
    private final int maxMessageSize;
    private volatile Server server;
    private ExecutorService calls;

    GrpcServer(
            GrpcProperties properties,
            InferenceEndpoint endpoint,
            SecurityProperties security,
            LimitsProperties limits,
            MeterRegistry registry) {
        this.properties = properties;
        this.endpoint = endpoint;
        this.tokens = new BearerTokens(security);
        this.registry = registry;
        this.maxMessageSize = (int) Math.min(Integer.MAX_VALUE, limits.maxRequestSize().toBytes());
    }

    @Override
    public synchronized void start() {
        InetSocketAddress address =
                properties.address() == null
                        ? new InetSocketAddress(properties.port())
                        : new InetSocketAddress(properties.address(), properties.port());
        calls = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("grpc-", 0).factory());
        Server built =
                NettyServerBuilder.forAddress(address)
                        .executor(calls)
                        .maxInboundMessageSize(maxMessageSize)
                        .addService(
                                ServerInterceptors.intercept(
                                        endpoint.definition(),
                                        new BearerTokenInterceptor(tokens),
                                        new CallMetrics(registry)))
                        .build();
        try {
            server = built.start();
        } catch (IOException e) {
            calls.close();
            throw new UncheckedIOException(
                    "the gRPC server could not listen on "
                            + address
                            + " (ncs.grpc.port, ncs.grpc.address)",
                    e);
        }
        log.info("gRPC server listening on {}", server.getListenSockets());
    }

    @Override
    public void stop(Runnable callback) {
        Server running = server;
        if (running == null) {
            callback.run();
            return;
        }
        running.shutdown();
        Thread.ofVirtual()
                .name("grpc-drain")
                .start(() -> {
                    try {
                        if (!running.awaitTermination(
                                properties.drainTimeout().toMillis(), TimeUnit.MILLISECONDS)) {
                            log.warn(
                                    "gRPC calls still running after {}: cancelled",
                                    properties.drainTimeout());
                            running.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                        }
                    } catch (InterruptedException e) {
                        running.shutdownNow();
                        Thread.currentThread().interrupt();
                    } finally {
                        calls.close();
                        server = null;
                        callback.run();
                    }
                });
    }

    @Override
    public void stop() {
        stop(() -> {});
    }

    @Override
    public boolean isRunning() {
        return server != null;
    }

    /**
     * Stops with the web server's graceful shutdown, before the beans that calls in progress still
     * use.
     */
    @Override
    public int getPhase() {
        return SmartLifecycle.DEFAULT_PHASE - 1024;
    }

    /**
     * The port the server listens on (the one chosen when {@code ncs.grpc.port} is 0); -1 when
     * stopped.
     */
    public int port() {
        Server running = server;
        return running == null ? -1 : running.getPort();
    }
}
