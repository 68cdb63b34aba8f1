package dev.ncs.system;

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
 * Errors the servlet container itself raises (a body cut short, broken chunked framing, a read timeout)
 * are forwarded to /error; they get the same {@code {"error": "..."}} body as everything else.
 */
@RestController
class JsonErrorController implements ErrorController {

    @RequestMapping("${server.error.path:/error}")
    ResponseEntity<Map<String, String>> error(HttpServletRequest request) {
        Object code = request.getAttribute(RequestDispatcher.ERROR_STATUS_CODE);
        HttpStatus status = code instanceof Integer value && HttpStatus.resolve(value) != null
                ? HttpStatus.valueOf(value) : HttpStatus.INTERNAL_SERVER_ERROR;
        Object message = request.getAttribute(RequestDispatcher.ERROR_MESSAGE);
        Object exception = request.getAttribute(RequestDispatcher.ERROR_EXCEPTION);
        String text = message instanceof String s && !s.isBlank() ? s
                : exception instanceof Throwable t && t.getMessage() != null ? t.getMessage()
                : status.getReasonPhrase();
        String hint = status == HttpStatus.BAD_REQUEST ? "the request could not be read: " : "";
        return ResponseEntity.status(status).contentType(MediaType.APPLICATION_JSON).body(Map.of("error", hint + text));
    }
}
