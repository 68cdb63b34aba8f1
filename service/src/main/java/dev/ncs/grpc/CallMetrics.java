package dev.ncs.grpc;

import io.grpc.ForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * gRPC's counterpart of HTTP's {@code http.server.requests}: every call timed from its start to its
 * status, tagged with the RPC's name and the status code (both bounded: the service's RPCs, gRPC's
 * codes). Timers are registered once per method and code and kept, so a call records without a
 * registry look-up (as the kernel layer's meters do).
 */
final class CallMetrics implements ServerInterceptor {

    private final MeterRegistry registry;
    private final Map<String, AtomicReferenceArray<Timer>> timers = new ConcurrentHashMap<>();

    CallMetrics(MeterRegistry registry) {
        this.registry = registry;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
            ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        Timer.Sample started = Timer.start(registry);
        String method = call.getMethodDescriptor().getBareMethodName();
        return next.startCall(
                new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
                    @Override
                    public void close(Status status, Metadata trailers) {
                        started.stop(timer(method, status.getCode()));
                        super.close(status, trailers);
                    }
                },
                headers);
    }

    private Timer timer(String method, Status.Code code) {
        AtomicReferenceArray<Timer> byCode =
                timers.computeIfAbsent(
                        method, m -> new AtomicReferenceArray<>(Status.Code.values().length));
        Timer timer = byCode.get(code.ordinal());
        if (timer == null) {
            timer =
                    Timer.builder("ncs.grpc.requests")
                            .description("gRPC calls, from their start to their status")
                            .tags("method", method, "code", code.name())
                            .register(registry); // idempotent: a racing thread gets the same timer
            byCode.set(code.ordinal(), timer);
        }
        return timer;
    }
}
