package dev.ncs.system;

import dev.ncs.execution.QueueFullException;
import dev.ncs.inference.LimitExceededException;
import dev.ncs.inference.PayloadTooLargeException;
import dev.ncs.inference.ServerBusyException;
import dev.ncs.inference.SlowUploadException;
import dev.ncs.inference.UnsupportedEncodingException;
import dev.ncs.kernel.ClientDisconnectedException;
import dev.ncs.kernel.DeadlineExceededException;
import dev.ncs.kernel.ExceedsMemoryBudgetException;
import dev.ncs.kernel.InvalidInputException;
import dev.ncs.kernel.MemoryBudgetExhaustedException;
import dev.ncs.kernel.OutputRefusedException;
import dev.ncs.kernel.UnknownKernelException;
import dev.ncs.nativelib.NativeException;
import jakarta.servlet.http.HttpServletRequest;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.catalina.connector.ClientAbortException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.http.converter.HttpMessageNotReadableException;
import org.springframework.web.ErrorResponse;
import org.springframework.web.HttpMediaTypeNotAcceptableException;
import org.springframework.web.HttpMediaTypeNotSupportedException;
import org.springframework.web.HttpRequestMethodNotSupportedException;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.context.request.RequestAttributes;
import org.springframework.web.context.request.RequestContextHolder;
import org.springframework.web.context.request.async.AsyncRequestNotUsableException;
import org.springframework.web.servlet.resource.NoResourceFoundException;

/**
 * The one place where failures become HTTP statuses. Every error body is {@code {"error": "..."}},
 * as the protocol and Triton's clients expect. Client mistakes are 4xx; a 5xx means a bug or an
 * exhausted server resource.
 */
@RestControllerAdvice
class ErrorMapping {

    private static final Logger log = LoggerFactory.getLogger(ErrorMapping.class);
    private static final HttpStatusCode INSUFFICIENT_STORAGE = HttpStatusCode.valueOf(507);

    /** The message answered, kept on the request for {@link JsonErrorController}. */
    private static final String ANSWERED = ErrorMapping.class.getName() + ".answered";

    /** The answer to a request for a path that has no endpoint (under any method). */
    static String noEndpoint(String method, String path) {
        return "there is no endpoint "
                + method
                + " "
                + path
                + ": the API is under /v2 (GET /v2 describes the "
                + "server, GET /v2/models/{model} a model, POST /v2/models/{model}/infer runs it)";
    }

    /**
     * The message this class answered {@code request} with, if any: when a read of the body failed,
     * the container took the response over (a 400 of its own, 408 for a timeout, forwarded to
     * /error), but the service knows better what was cut or late, and where.
     */
    static String answered(HttpServletRequest request) {
        return request.getAttribute(ANSWERED) instanceof String message ? message : null;
    }

    @ExceptionHandler(InvalidInputException.class)
    ResponseEntity<Map<String, String>> invalid(InvalidInputException e) {
        return error(HttpStatus.BAD_REQUEST, e.getMessage());
    }

    @ExceptionHandler(UnknownKernelException.class)
    ResponseEntity<Map<String, String>> unknown(UnknownKernelException e) {
        return error(HttpStatus.NOT_FOUND, e.getMessage());
    }

    /**
     * Too large is what the request asks for: a body, a call that never fits the budget, or outputs
     * too large to send as JSON (the request is what has to change, as with the other size limits:
     * 413 rather than 400).
     */
    @ExceptionHandler({
        PayloadTooLargeException.class,
        ExceedsMemoryBudgetException.class,
        OutputRefusedException.class
    })
    ResponseEntity<Map<String, String>> tooLarge(RuntimeException e) {
        return error(HttpStatus.CONTENT_TOO_LARGE, e.getMessage());
    }

    @ExceptionHandler(MemoryBudgetExhaustedException.class)
    ResponseEntity<Map<String, String>> budgetExhausted(MemoryBudgetExhaustedException e) {
        return error(
                INSUFFICIENT_STORAGE,
                e.getMessage() + "; retry later (the budget is ncs.native.memory-limit)");
    }

    @ExceptionHandler(LimitExceededException.class)
    ResponseEntity<Map<String, String>> limit(LimitExceededException e) {
        return error(
                e.ofSize() ? HttpStatus.CONTENT_TOO_LARGE : HttpStatus.BAD_REQUEST, e.getMessage());
    }

    @ExceptionHandler(UnsupportedEncodingException.class)
    ResponseEntity<Map<String, String>> unsupported(UnsupportedEncodingException e) {
        return error(HttpStatus.UNSUPPORTED_MEDIA_TYPE, e.getMessage());
    }

    /**
     * The body came too slowly: the connection closes after the answer, without waiting for the
     * rest.
     */
    @ExceptionHandler(SlowUploadException.class)
    ResponseEntity<Map<String, String>> slowUpload(
            SlowUploadException e, HttpServletRequest request) {
        request.setAttribute(EndConnectionValve.UNREAD_BODY, Boolean.TRUE);
        return ResponseEntity.status(HttpStatus.REQUEST_TIMEOUT)
                .header(HttpHeaders.CONNECTION, "close")
                .contentType(MediaType.APPLICATION_JSON)
                .body(Map.of("error", e.getMessage()));
    }

    @ExceptionHandler(DeadlineExceededException.class)
    ResponseEntity<Map<String, String>> deadline(DeadlineExceededException e) {
        return error(HttpStatus.GATEWAY_TIMEOUT, e.getMessage());
    }

    @ExceptionHandler(QueueFullException.class)
    ResponseEntity<Map<String, String>> queueFull(QueueFullException e) {
        return ResponseEntity.status(HttpStatus.SERVICE_UNAVAILABLE)
                .header(
                        HttpHeaders.RETRY_AFTER,
                        Long.toString(Math.max(1, e.retryAfter().toSeconds())))
                .contentType(MediaType.APPLICATION_JSON)
                .body(Map.of("error", record(e.getMessage())));
    }

    /** Too many bodies are being read at once: retry in a second. */
    @ExceptionHandler(ServerBusyException.class)
    ResponseEntity<Map<String, String>> busy(ServerBusyException e) {
        return ResponseEntity.status(HttpStatus.SERVICE_UNAVAILABLE)
                .header(HttpHeaders.RETRY_AFTER, "1")
                .contentType(MediaType.APPLICATION_JSON)
                .body(Map.of("error", e.getMessage()));
    }

    @ExceptionHandler(NativeException.class)
    ResponseEntity<Map<String, String>> nativeFailure(NativeException e) {
        return switch (e.status()) {
            case INVALID_ARGUMENT, UNSUPPORTED -> error(HttpStatus.BAD_REQUEST, e.getMessage());
            case NOT_FOUND -> error(HttpStatus.NOT_FOUND, e.getMessage());
            case OUT_OF_MEMORY ->
                    error(
                            INSUFFICIENT_STORAGE,
                            e.getMessage()
                                    + "; retry later or send a smaller request (the budget is ncs.native.memory-limit)");
            case CANCELLED -> error(HttpStatus.GATEWAY_TIMEOUT, e.getMessage());
            default -> {
                log.error("native failure", e);
                yield error(
                        HttpStatus.INTERNAL_SERVER_ERROR,
                        "internal error in libncs: " + e.getMessage());
            }
        };
    }

    /**
     * The client hung up while its kernel was queued or ran, and the work was cancelled. Nobody
     * reads the answer; 499 (the status proxies log for it) keeps it out of the server-error
     * counts.
     */
    @ExceptionHandler(ClientDisconnectedException.class)
    ResponseEntity<Map<String, String>> disconnected(ClientDisconnectedException e) {
        log.debug("{}", e.getMessage());
        return error(HttpStatusCode.valueOf(499), e.getMessage());
    }

    /** The client went away: nobody is left to answer, and it is not the server's failure. */
    @ExceptionHandler({ClientAbortException.class, AsyncRequestNotUsableException.class})
    void clientGone(Exception e) {
        log.debug("client disconnected: {}", e.getMessage());
    }

    @ExceptionHandler(HttpMessageNotReadableException.class)
    ResponseEntity<Map<String, String>> unreadable(HttpMessageNotReadableException e) {
        return error(
                HttpStatus.BAD_REQUEST,
                "the request body could not be read: " + e.getMostSpecificCause().getMessage());
    }

    @ExceptionHandler(NoResourceFoundException.class)
    ResponseEntity<Map<String, String>> noEndpoint(NoResourceFoundException e) {
        return error(
                HttpStatus.NOT_FOUND,
                noEndpoint(e.getHttpMethod().name(), "/" + e.getResourcePath()));
    }

    @ExceptionHandler(HttpRequestMethodNotSupportedException.class)
    ResponseEntity<Map<String, String>> methodNotAllowed(
            HttpRequestMethodNotSupportedException e, HttpServletRequest request) {
        String allowed =
                e.getSupportedHttpMethods() == null
                        ? ""
                        : e.getSupportedHttpMethods().stream()
                                .map(Object::toString)
                                .sorted()
                                .collect(Collectors.joining(", "));
        return ResponseEntity.status(HttpStatus.METHOD_NOT_ALLOWED)
                .headers(e.getHeaders())
                .contentType(MediaType.APPLICATION_JSON)
                .body(
                        Map.of(
                                "error",
                                record(
                                        request.getRequestURI()
                                                + " does not take "
                                                + e.getMethod()
                                                + (allowed.isEmpty() ? "" : "; use " + allowed))));
    }

    @ExceptionHandler(HttpMediaTypeNotAcceptableException.class)
    ResponseEntity<Map<String, String>> notAcceptable(HttpMediaTypeNotAcceptableException e) {
        return error(
                HttpStatus.NOT_ACCEPTABLE,
                "this endpoint answers application/json only: send "
                        + "Accept: application/json (or */*, or no Accept header)");
    }

    @ExceptionHandler(HttpMediaTypeNotSupportedException.class)
    ResponseEntity<Map<String, String>> unsupportedMediaType(HttpMediaTypeNotSupportedException e) {
        return error(
                HttpStatus.UNSUPPORTED_MEDIA_TYPE,
                "this endpoint does not read a body of Content-Type "
                        + e.getContentType()
                        + ": send application/json");
    }

    /**
     * Spring's own client errors (unknown path, wrong method, ...) keep their status; anything else
     * is a bug.
     */
    @ExceptionHandler(Exception.class)
    ResponseEntity<Map<String, String>> other(Exception e) {
        if (e instanceof ErrorResponse response && response.getStatusCode().is4xxClientError()) {
            String detail = response.getBody().getDetail();
            return error(response.getStatusCode(), detail != null ? detail : e.getMessage());
        }
        log.error("unexpected failure", e);
        return error(
                HttpStatus.INTERNAL_SERVER_ERROR,
                "internal error: " + e.getClass().getSimpleName());
    }

    private static ResponseEntity<Map<String, String>> error(
            HttpStatusCode status, String message) {
        return ResponseEntity.status(status)
                .contentType(MediaType.APPLICATION_JSON)
                .body(Map.of("error", record(message)));
    }

    private static String record(String message) {
        RequestAttributes attributes = RequestContextHolder.getRequestAttributes();
        if (attributes != null) {
            attributes.setAttribute(ANSWERED, message, RequestAttributes.SCOPE_REQUEST);
        }
        return message;
    }
}
