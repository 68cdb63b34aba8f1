package dev.ncs.system;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.Map;
import org.springframework.http.ResponseEntity;
import org.springframework.stereotype.Component;
import org.springframework.web.method.annotation.ExceptionHandlerMethodResolver;

/**
 * Failures as gRPC statuses: {@link ErrorMapping} decides, once for both protocols, what a failure
 * means (its HTTP status and the message that says what to fix); this class translates that
 * decision into the gRPC code Triton answers for the same case. The message text is the HTTP
 * error's, word for word.
 *
 * <table>
 * <caption>HTTP status to gRPC code</caption>
 * <tr><th>HTTP</th><th>gRPC</th></tr>
 * <tr><td>400, 415</td><td>INVALID_ARGUMENT</td></tr>
 * <tr><td>401</td><td>UNAUTHENTICATED</td></tr>
 * <tr><td>404</td><td>NOT_FOUND</td></tr>
 * <tr><td>408, 504</td><td>DEADLINE_EXCEEDED</td></tr>
 * <tr><td>413</td><td>OUT_OF_RANGE (the request asks for more than a limit allows)</td></tr>
 * <tr><td>499</td><td>CANCELLED</td></tr>
 * <tr><td>503, 507</td><td>RESOURCE_EXHAUSTED (retry later)</td></tr>
 * <tr><td>other 5xx</td><td>INTERNAL</td></tr>
 * </table>
 */
@Component
public class GrpcErrorMapping {

    private final ErrorMapping http;
    private final ExceptionHandlerMethodResolver handlers =
            new ExceptionHandlerMethodResolver(ErrorMapping.class);

    GrpcErrorMapping(ErrorMapping http) {
        this.http = http;
    }

    /** The status a call that failed with {@code failure} ends with. */
    public StatusRuntimeException toStatus(Throwable failure) {
        if (failure instanceof StatusRuntimeException status) {
            return status;
        }
        Method handler = handlers.resolveMethodByThrowable(failure);
        if (handler == null
                || handler.getParameterCount() != 1
                || handler.getReturnType() != ResponseEntity.class) {
            // Handlers that need the servlet request deal with HTTP's own failures, which gRPC
            // never raises.
            throw new IllegalStateException(
                    "no gRPC mapping for " + failure.getClass().getName(), failure);
        }
        ResponseEntity<?> answer;
        try {
            answer = (ResponseEntity<?>) handler.invoke(http, failure);
        } catch (IllegalAccessException | InvocationTargetException e) {
            throw new IllegalStateException("ErrorMapping." + handler.getName() + " failed", e);
        }
        String message =
                answer.getBody() instanceof Map<?, ?> body ? String.valueOf(body.get("error")) : "";
        return code(answer.getStatusCode().value()).withDescription(message).asRuntimeException();
    }

    static Status code(int httpStatus) {
        return switch (httpStatus) {
            case 400, 415 -> Status.INVALID_ARGUMENT;
            case 401 -> Status.UNAUTHENTICATED;
            case 404 -> Status.NOT_FOUND;
            case 408, 504 -> Status.DEADLINE_EXCEEDED;
            case 413 -> Status.OUT_OF_RANGE;
            case 499 -> Status.CANCELLED;
            case 503, 507 -> Status.RESOURCE_EXHAUSTED;
            default ->
                    httpStatus >= 400 && httpStatus < 500
                            ? Status.INVALID_ARGUMENT
                            : Status.INTERNAL;
        };
    }
}
