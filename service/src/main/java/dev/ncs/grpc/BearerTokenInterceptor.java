package dev.ncs.grpc;

import dev.ncs.system.BearerTokens;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.Set;

/**
 * The bearer tokens of {@code ncs.security.tokens} on gRPC: every call but the health RPCs
 * (ServerLive, ServerReady, open for probes like /v2/health/** over HTTP) needs {@code
 * authorization: Bearer <token>} metadata, or ends UNAUTHENTICATED before its message is read.
 */
final class BearerTokenInterceptor implements ServerInterceptor {

    private static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final Set<String> OPEN = Set.of("ServerLive", "ServerReady");

    private final BearerTokens tokens;

    BearerTokenInterceptor(BearerTokens tokens) {
        this.tokens = tokens;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(
            ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        if (!tokens.required() || OPEN.contains(call.getMethodDescriptor().getBareMethodName())) {
            return next.startCall(call, headers);
        }
        String refusal = tokens.refusal(headers.get(AUTHORIZATION));
        if (refusal == null) {
            return next.startCall(call, headers);
        }
        call.close(Status.UNAUTHENTICATED.withDescription(refusal), new Metadata());
        return new ServerCall.Listener<>() {};
    }
}
