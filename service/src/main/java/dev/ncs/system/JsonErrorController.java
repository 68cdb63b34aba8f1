package dev.ncs.system;

import jakarta.servlet.DispatcherType;
import jakarta.servlet.RequestDispatcher;
import jakarta.servlet.http.HttpServletRequest;
import java.util.Map;
import org.springframework.boot.webmvc.error.ErrorController;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * Errors the servlet container itself raises (a body cut short, broken chunked framing, a read
 * timeout) are forwarded to /error; they get the same {@code {"error": "..."}} body as everything
 * else. When the service had already said what was wrong ({@link ErrorMapping} answered, but the
 * container's own error took over the response), that message is the one given. /error is only a
 * forwarding target: asked for directly, it is an unknown path like any other.
 */
@RestController
class JsonErrorController implements ErrorController {

    @RequestMapping("${server.error.path:/error}")
    ResponseEntity<Map<String, String>> error(HttpServletRequest request) {
        if (request.getDispatcherType() != DispatcherType.ERROR) {
            return ResponseEntity.status(HttpStatus.NOT_FOUND)
                    .contentType(MediaType.APPLICATION_JSON)
                    .body(
                            Map.of(
                                    "error",
                                    ErrorMapping.noEndpoint(
                                            request.getMethod(), request.getRequestURI())));
        }
        Object code = request.getAttribute(RequestDispatcher.ERROR_STATUS_CODE);
        HttpStatus status =
                code instanceof Integer value && HttpStatus.resolve(value) != null
                        ? HttpStatus.valueOf(value)
                        : HttpStatus.INTERNAL_SERVER_ERROR;
        String text = ErrorMapping.answered(request);
        Object message = request.getAttribute(RequestDispatcher.ERROR_MESSAGE);
        if (text == null
                && message instanceof String given
                && !given.isBlank()
                && !given.equals(status.getReasonPhrase())) {
            text = given;
        }
        if (text == null) {
            Object exception = request.getAttribute(RequestDispatcher.ERROR_EXCEPTION);
            text =
                    exception instanceof Throwable t && t.getMessage() != null
                            ? (status == HttpStatus.BAD_REQUEST
                                            ? "the request could not be read: "
                                            : "")
                                    + t.getMessage()
                            : JsonErrorReportValve.message(status.value());
        }
        return ResponseEntity.status(status)
                .contentType(MediaType.APPLICATION_JSON)
                .body(Map.of("error", text));
    }
}
