package dev.ncs.system;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.execution.QueueFullException;
import dev.ncs.inference.PayloadTooLargeException;
import dev.ncs.kernel.ClientDisconnectedException;
import dev.ncs.kernel.DeadlineExceededException;
import dev.ncs.kernel.InvalidInputException;
import dev.ncs.kernel.MemoryBudgetExhaustedException;
import dev.ncs.kernel.OutputRefusedException;
import dev.ncs.kernel.UnknownKernelException;
import dev.ncs.nativelib.NativeException;
import dev.ncs.nativelib.NativeStatus;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.http.ResponseEntity;

/**
 * Each failure gets the gRPC code Triton uses for its HTTP status, with HTTP's message word for
 * word.
 */
class GrpcErrorMappingTests {

    private final ErrorMapping http = new ErrorMapping();
    private final GrpcErrorMapping grpc = new GrpcErrorMapping(http);

    @Test
    void clientMistakesAreInvalidArgumentsNotFoundOrOutOfRange() {
        assertMapped(
                new InvalidInputException("input 'x' is wrong"),
                Status.Code.INVALID_ARGUMENT,
                http.invalid(new InvalidInputException("input 'x' is wrong")));
        assertMapped(
                new UnknownKernelException("unknown kernel 'y'"),
                Status.Code.NOT_FOUND,
                http.unknown(new UnknownKernelException("unknown kernel 'y'")));
        assertMapped(
                new PayloadTooLargeException("too large"),
                Status.Code.OUT_OF_RANGE,
                http.tooLarge(new PayloadTooLargeException("too large")));
        assertMapped(
                new OutputRefusedException("outputs too large"),
                Status.Code.OUT_OF_RANGE,
                http.tooLarge(new OutputRefusedException("outputs too large")));
        assertMapped(
                new NativeException(NativeStatus.INVALID_ARGUMENT, "bad shape"),
                Status.Code.INVALID_ARGUMENT,
                http.nativeFailure(
                        new NativeException(NativeStatus.INVALID_ARGUMENT, "bad shape")));
    }

    @Test
    void exhaustedResourcesAreResourceExhaustedWithTheirReason() {
        QueueFullException full =
                new QueueFullException("the queue is full", Duration.ofSeconds(1));
        assertMapped(full, Status.Code.RESOURCE_EXHAUSTED, http.queueFull(full));
        MemoryBudgetExhaustedException budget =
                new MemoryBudgetExhaustedException("input 'x' does not fit", 100, 90);
        StatusRuntimeException status =
                assertMapped(budget, Status.Code.RESOURCE_EXHAUSTED, http.budgetExhausted(budget));
        assertThat(status.getStatus().getDescription()).contains("ncs.native.memory-limit");
    }

    @Test
    void deadlinesAndCancelsKeepTheirMeaning() {
        assertMapped(
                new DeadlineExceededException("the deadline passed"),
                Status.Code.DEADLINE_EXCEEDED,
                http.deadline(new DeadlineExceededException("the deadline passed")));
        assertMapped(
                new ClientDisconnectedException("the client cancelled"),
                Status.Code.CANCELLED,
                http.disconnected(new ClientDisconnectedException("the client cancelled")));
    }

    @Test
    void anythingElseIsInternalAndSaysSo() {
        StatusRuntimeException status = grpc.toStatus(new IllegalStateException("a bug"));
        assertThat(status.getStatus().getCode()).isEqualTo(Status.Code.INTERNAL);
        assertThat(status.getStatus().getDescription())
                .isEqualTo("internal error: IllegalStateException");
    }

    private StatusRuntimeException assertMapped(
            RuntimeException failure,
            Status.Code code,
            ResponseEntity<Map<String, String>> httpAnswer) {
        StatusRuntimeException status = grpc.toStatus(failure);
        assertThat(status.getStatus().getCode())
                .as(failure.getClass().getSimpleName())
                .isEqualTo(code);
        assertThat(status.getStatus().getDescription())
                .isEqualTo(httpAnswer.getBody().get("error"));
        return status;
    }
}
