package dev.ncs.grpc;

import dev.ncs.inference.ModelMetadata;
import dev.ncs.inference.ServerController;
import dev.ncs.kernel.Cancellation;
import dev.ncs.kernel.KernelCatalog;
import dev.ncs.kernel.KernelMetadata;
import dev.ncs.nativelib.NativeRuntime;
import dev.ncs.system.GrpcErrorMapping;
import inference.GRPCInferenceServiceGrpc;
import inference.GrpcService.ModelInferRequest;
import inference.GrpcService.ModelInferResponse;
import inference.GrpcService.ModelMetadataRequest;
import inference.GrpcService.ModelMetadataResponse;
import inference.GrpcService.ModelMetadataResponse.TensorMetadata;
import inference.GrpcService.ModelReadyRequest;
import inference.GrpcService.ModelReadyResponse;
import inference.GrpcService.ModelStreamInferResponse;
import inference.GrpcService.ServerLiveRequest;
import inference.GrpcService.ServerLiveResponse;
import inference.GrpcService.ServerMetadataRequest;
import inference.GrpcService.ServerMetadataResponse;
import inference.GrpcService.ServerReadyRequest;
import inference.GrpcService.ServerReadyResponse;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.springframework.stereotype.Component;

/**
 * The RPCs of {@code inference.GRPCInferenceService} that NCS serves: health, metadata, inference
 * (unary and streamed). Thin: metadata comes from the catalog as over HTTP, inference goes to
 * {@link GrpcInference}, failures become statuses in {@link GrpcErrorMapping}. Every other RPC of
 * Triton's service answers UNIMPLEMENTED with a message ({@link #definition()}).
 */
@Component
class InferenceEndpoint extends GRPCInferenceServiceGrpc.GRPCInferenceServiceImplBase {

    /** The RPCs implemented here; the rest of the service is refused. */
    static final Set<String> IMPLEMENTED =
            Set.of(
                    "ServerLive",
                    "ServerReady",
                    "ModelReady",
                    "ServerMetadata",
                    "ModelMetadata",
                    "ModelInfer",
                    "ModelStreamInfer");

    /** How long before its deadline a client's cancel is taken for the deadline itself. */
    static final Duration DEADLINE_SLACK = Duration.ofMillis(250);

    private final KernelCatalog catalog;
    private final GrpcInference inference;
    private final GrpcErrorMapping errors;
    private final String version;

    InferenceEndpoint(
            KernelCatalog catalog,
            GrpcInference inference,
            GrpcErrorMapping errors,
            NativeRuntime runtime) {
        this.catalog = catalog;
        this.inference = inference;
        this.errors = errors;
        this.version = runtime.version();
    }

    /**
     * The service as served: the implemented RPCs, ModelInfer and ModelStreamInfer with a request
     * marshaller that keeps raw tensors off the heap ({@link InferCallMarshaller}; ModelInfer's
     * answer is written from native memory too, {@link InferAnswer}), and a refusal that says so
     * for each other RPC.
     */
    ServerServiceDefinition definition() {
        ServerServiceDefinition generated = bindService();
        MethodDescriptor<ModelInferRequest, ModelInferResponse> protoInfer =
                GRPCInferenceServiceGrpc.getModelInferMethod();
        MethodDescriptor<ModelInferRequest, ModelStreamInferResponse> protoStream =
                GRPCInferenceServiceGrpc.getModelStreamInferMethod();
        MethodDescriptor<InferCall, InferAnswer> infer =
                protoInfer.toBuilder(new InferCallMarshaller(), new InferAnswer.Marshaller())
                        .build();
        MethodDescriptor<InferCall, ModelStreamInferResponse> stream =
                protoStream.toBuilder(
                                new InferCallMarshaller(), protoStream.getResponseMarshaller())
                        .build();
        ServiceDescriptor original = generated.getServiceDescriptor();
        ServiceDescriptor.Builder descriptor =
                ServiceDescriptor.newBuilder(original.getName())
                        .setSchemaDescriptor(original.getSchemaDescriptor());
        original.getMethods()
                .forEach(method ->
                        descriptor.addMethod(
                                method == protoInfer
                                        ? infer
                                        : method == protoStream ? stream : method));
        ServerServiceDefinition.Builder served =
                ServerServiceDefinition.builder(descriptor.build());
        served.addMethod(infer, ServerCalls.asyncUnaryCall(this::modelInfer));
        served.addMethod(stream, ServerCalls.asyncBidiStreamingCall(this::streamInfer));
        generated.getMethods().stream()
                .map(ServerMethodDefinition::getMethodDescriptor)
                .filter(method -> method != protoInfer && method != protoStream)
                .forEach(method -> served.addMethod(unimplementedOrGenerated(generated, method)));
        return served.build();
    }

    private static ServerMethodDefinition<?, ?> unimplementedOrGenerated(
            ServerServiceDefinition generated, MethodDescriptor<?, ?> method) {
        return IMPLEMENTED.contains(method.getBareMethodName())
                ? generated.getMethod(method.getFullMethodName())
                : unimplemented(method);
    }

    private static <Q, R> ServerMethodDefinition<Q, R> unimplemented(
            MethodDescriptor<Q, R> method) {
        ServerCallHandler<Q, R> refusal =
                (ServerCall<Q, R> call, Metadata headers) -> {
                    call.close(
                            Status.UNIMPLEMENTED.withDescription(
                                    "NCS does not implement "
                                            + method.getBareMethodName()
                                            + "; it serves "
                                            + String.join(
                                                    ", ", IMPLEMENTED.stream().sorted().toList())
                                            + " (and the same over HTTP, where Triton's extensions it has are listed by GET /v2)"),
                            new Metadata());
                    return new ServerCall.Listener<>() {};
                };
        return ServerMethodDefinition.create(method, refusal);
    }

    @Override
    public void serverLive(ServerLiveRequest request, StreamObserver<ServerLiveResponse> response) {
        answer(response, () -> ServerLiveResponse.newBuilder().setLive(true).build());
    }

    @Override
    public void serverReady(
            ServerReadyRequest request, StreamObserver<ServerReadyResponse> response) {
        answer(response, () -> ServerReadyResponse.newBuilder().setReady(true).build());
    }

    @Override
    public void modelReady(ModelReadyRequest request, StreamObserver<ModelReadyResponse> response) {
        answer(
                response,
                () -> {
                    catalog.get(request.getName(), emptyToNull(request.getVersion()));
                    return ModelReadyResponse.newBuilder().setReady(true).build();
                });
    }

    @Override
    public void serverMetadata(
            ServerMetadataRequest request, StreamObserver<ServerMetadataResponse> response) {
        answer(
                response,
                () ->
                        ServerMetadataResponse.newBuilder()
                                .setName(ServerController.NAME)
                                .setVersion(version)
                                .addAllExtensions(ServerController.EXTENSIONS)
                                .build());
    }

    @Override
    public void modelMetadata(
            ModelMetadataRequest request, StreamObserver<ModelMetadataResponse> response) {
        answer(
                response,
                () -> {
                    KernelMetadata kernel =
                            catalog.get(request.getName(), emptyToNull(request.getVersion()));
                    ModelMetadata metadata = ModelMetadata.of(kernel);
                    return ModelMetadataResponse.newBuilder()
                            .setName(metadata.name())
                            .addAllVersions(metadata.versions())
                            .setPlatform(metadata.platform())
                            .addAllInputs(tensors(metadata.inputs()))
                            .addAllOutputs(tensors(metadata.outputs()))
                            .build();
                });
    }

    /**
     * ModelInfer, its request read by {@link InferCallMarshaller}, its answer written from the
     * outputs' native memory (sent while the outputs are open: the transport drains it as it is
     * sent).
     */
    private void modelInfer(InferCall call, StreamObserver<InferAnswer> response) {
        try (call) {
            Cancellation cancellation = cancelledWithCall((ServerCallStreamObserver<?>) response);
            try {
                inference.infer(call, timeLeft(), cancellation, response::onNext);
            } catch (RuntimeException e) {
                response.onError(errors.toStatus(e));
                return;
            }
            response.onCompleted();
        }
    }

    /**
     * ModelStreamInfer: a stream of requests (read by {@link InferCallMarshaller}), each answered
     * in order before the next is read (a request runs on the call's thread: the next waits in the
     * transport, under its flow control). A failed request, a malformed message among them, answers
     * with its {@code error_message} and the stream goes on.
     */
    private StreamObserver<InferCall> streamInfer(
            StreamObserver<ModelStreamInferResponse> response) {
        ServerCallStreamObserver<ModelStreamInferResponse> call =
                (ServerCallStreamObserver<ModelStreamInferResponse>) response;
        Cancellation cancellation = cancelledWithCall(call);
        return new StreamObserver<>() {
            @Override
            public void onNext(InferCall request) {
                ModelStreamInferResponse.Builder answer = ModelStreamInferResponse.newBuilder();
                try (request) {
                    inference.infer(
                            request,
                            timeLeft(),
                            cancellation,
                            done -> answer.setInferResponse(done.toMessage()));
                } catch (RuntimeException e) {
                    StatusRuntimeException status = errors.toStatus(e);
                    answer.setErrorMessage(status.getStatus().getDescription());
                }
                if (!call.isCancelled()) {
                    call.onNext(answer.build());
                }
            }

            @Override
            public void onError(Throwable t) {
                cancellation.cancel("the client cancelled the call");
            }

            @Override
            public void onCompleted() {
                if (!call.isCancelled()) {
                    call.onCompleted();
                }
            }
        };
    }

    private <T> void answer(StreamObserver<T> response, Supplier<T> work) {
        T result;
        try {
            result = work.get();
        } catch (RuntimeException e) {
            response.onError(errors.toStatus(e));
            return;
        }
        response.onNext(result);
        response.onCompleted();
    }

    /**
     * A cancellation raised when the client cancels the call or goes away. It listens on the call's
     * context, which the transport cancels at once (the call's own cancel callback would wait
     * behind the request running on the call's thread). A call cancelled at its deadline is left to
     * the kernel layer, whose deadline is the same or sooner: it answers DEADLINE_EXCEEDED and
     * counts a deadline, not a client that left. The client's clock starts before the server's, so
     * its cancel at the deadline arrives a little early: a cancel within {@link #DEADLINE_SLACK} of
     * the deadline counts as the deadline.
     */
    private static Cancellation cancelledWithCall(ServerCallStreamObserver<?> call) {
        Cancellation cancellation = new Cancellation();
        Context context = Context.current();
        Deadline deadline = context.getDeadline();
        Runnable cancel =
                () -> {
                    if (deadline == null
                            || deadline.timeRemaining(TimeUnit.NANOSECONDS)
                                    > DEADLINE_SLACK.toNanos()) {
                        cancellation.cancel("the client cancelled the call");
                    }
                };
        context.addListener(cancelled -> cancel.run(), Runnable::run);
        call.setOnCancelHandler(
                cancel); // also lets a late answer to a cancelled call be dropped quietly
        return cancellation;
    }

    /** The time left until the call's deadline, or null when the client set none. */
    private static Duration timeLeft() {
        Deadline deadline = Context.current().getDeadline();
        return deadline == null
                ? null
                : Duration.ofNanos(Math.max(0, deadline.timeRemaining(TimeUnit.NANOSECONDS)));
    }

    private static String emptyToNull(String version) {
        return version.isEmpty() ? null : version;
    }

    private static List<TensorMetadata> tensors(List<ModelMetadata.Tensor> tensors) {
        return tensors.stream()
                .map(t ->
                        TensorMetadata.newBuilder()
                                .setName(t.name())
                                .setDatatype(t.datatype())
                                .addAllShape(t.shape())
                                .build())
                .toList();
    }
}
