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
import org.apache.catalina.connector.ClientAbortException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.MediaType;
import org.springframework.http.converter.HttpMessageNotReadableException;
import org.springframework.http.ResponseEntity;
import org.springframework.web.ErrorResponse;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.context.request.async.AsyncRequestNotUsableException;

/**
 * The one place where failures become HTTP statuses. Every error body is {@code {"error": "..."}},
 * as the protocol and Triton's clients expect. Client mistakes are 4xx; a 5xx means a bug or an
 * exhausted server resource.
 */
@RestControllerAdvice
class ErrorMapping {

    private static final Logger log = LoggerFactory.getLogger(ErrorMapping.class);
    private static final HttpStatusCode INSUFFICIENT_STORAGE = HttpStatusCode.valueOf(507);

    @ExceptionHandler(InvalidInputException.class)
    ResponseEntity<Map<String, String>> invalid(InvalidInputException e) {
        return error(HttpStatus.BAD_REQUEST, e.getMessage());
    }

    @ExceptionHandler(UnknownKernelException.class)
    ResponseEntity<Map<String, String>> unknown(UnknownKernelException e) {
        return error(HttpStatus.NOT_FOUND, e.getMessage());
    }

    /**
     * Too large is what the request asks for: a body, a call that never fits the budget, or outputs too large to
     * send as JSON (the request is what has to change, as with the other size limits: 413 rather than 400).
     */
    @ExceptionHandler({PayloadTooLargeException.class, ExceedsMemoryBudgetException.class, OutputRefusedException.class})
    ResponseEntity<Map<String, String>> tooLarge(RuntimeException e) {
        return error(HttpStatus.CONTENT_TOO_LARGE, e.getMessage());
    }

    @ExceptionHandler(MemoryBudgetExhaustedException.class)
    ResponseEntity<Map<String, String>> budgetExhausted(MemoryBudgetExhaustedException e) {
        return error(INSUFFICIENT_STORAGE, e.getMessage() + "; retry later (the budget is ncs.native.memory-limit)");
    }

    @ExceptionHandler(LimitExceededException.class)
    ResponseEntity<Map<String, String>> limit(LimitExceededException e) {
        return error(e.ofSize() ? HttpStatus.CONTENT_TOO_LARGE : HttpStatus.BAD_REQUEST, e.getMessage());
    }

    @ExceptionHandler(UnsupportedEncodingException.class)
    ResponseEntity<Map<String, String>> unsupported(UnsupportedEncodingException e) {
        return error(HttpStatus.UNSUPPORTED_MEDIA_TYPE, e.getMessage());
    }

    /** The body came too slowly: the connection closes after the answer, without waiting for the rest. */
    @ExceptionHandler(SlowUploadException.class)
    ResponseEntity<Map<String, String>> slowUpload(SlowUploadException e, HttpServletRequest request) {
        request.setAttribute(EndConnectionValve.UNREAD_BODY, Boolean.TRUE);
        return ResponseEntity.status(HttpStatus.REQUEST_TIMEOUT).header(HttpHeaders.CONNECTION, "close")
                .contentType(MediaType.APPLICATION_JSON).body(Map.of("error", e.getMessage()));
    }

    @ExceptionHandler(DeadlineExceededException.class)
    ResponseEntity<Map<String, String>> deadline(DeadlineExceededException e) {
        return error(HttpStatus.GATEWAY_TIMEOUT, e.getMessage());
    }

    @ExceptionHandler(QueueFullException.class)
    ResponseEntity<Map<String, String>> queueFull(QueueFullException e) {
        return ResponseEntity.status(HttpStatus.SERVICE_UNAVAILABLE)
                .header(HttpHeaders.RETRY_AFTER, Long.toString(Math.max(1, e.retryAfter().toSeconds())))
                .contentType(MediaType.APPLICATION_JSON)
                .body(Map.of("error", e.getMessage()));
    }

    /** Too many bodies are being read at once: retry in a second. */
    @ExceptionHandler(ServerBusyException.class)
    ResponseEntity<Map<String, String>> busy(ServerBusyException e) {
        return ResponseEntity.status(HttpStatus.SERVICE_UNAVAILABLE).header(HttpHeaders.RETRY_AFTER, "1")
                .contentType(MediaType.APPLICATION_JSON).body(Map.of("error", e.getMessage()));
    }

    @ExceptionHandler(NativeException.class)
    ResponseEntity<Map<String, String>> nativeFailure(NativeException e) {
        return switch (e.status()) {
            case INVALID_ARGUMENT, UNSUPPORTED -> error(HttpStatus.BAD_REQUEST, e.getMessage());
            case NOT_FOUND -> error(HttpStatus.NOT_FOUND, e.getMessage());
            case OUT_OF_MEMORY -> error(INSUFFICIENT_STORAGE, e.getMessage()
                    + "; retry later or send a smaller request (the budget is ncs.native.memory-limit)");
            case CANCELLED -> error(HttpStatus.GATEWAY_TIMEOUT, e.getMessage());
            default -> {
                log.error("native failure", e);
                yield error(HttpStatus.INTERNAL_SERVER_ERROR, "internal error in libncs: " + e.getMessage());
            }
        };
    }

    /**
     * The client hung up while its kernel was queued or ran, and the work was cancelled. Nobody reads
     * the answer; 499 (the status proxies log for it) keeps it out of the server-error counts.
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
        return error(HttpStatus.BAD_REQUEST, "the request body could not be read: " + e.getMostSpecificCause().getMessage());
    }

    /** Spring's own client errors (unknown path, wrong method, ...) keep their status; anything else is a bug. */
    @ExceptionHandler(Exception.class)
    ResponseEntity<Map<String, String>> other(Exception e) {
        if (e instanceof ErrorResponse response && response.getStatusCode().is4xxClientError()) {
            String detail = response.getBody().getDetail();
            return error(response.getStatusCode(), detail != null ? detail : e.getMessage());
        }
        log.error("unexpected failure", e);
        return error(HttpStatus.INTERNAL_SERVER_ERROR, "internal error: " + e.getClass().getSimpleName());
    }

    private static ResponseEntity<Map<String, String>> error(HttpStatusCode status, String message) {
        return ResponseEntity.status(status).contentType(MediaType.APPLICATION_JSON).body(Map.of("error", message));
    }
}
