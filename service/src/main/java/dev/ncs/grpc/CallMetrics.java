package dev.ncs.grpc;

import io.grpc.ForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

/**
 * gRPC's counterpart of HTTP's {@code http.server.requests}: every call timed from its start to its
 * status, tagged with the RPC's name and the status code (both bounded: the service's RPCs, gRPC's
 * codes).
 */
final class CallMetrics implements ServerInterceptor {

    private final MeterRegistry registry;

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
                        started.stop(
                                Timer.builder("ncs.grpc.requests")
                                        .description("gRPC calls, from their start to their status")
                                        .tags("method", method, "code", status.getCode().name())
                                        .register(registry));
                        super.close(status, trailers);
                    }
                },
                headers);
    }
}
