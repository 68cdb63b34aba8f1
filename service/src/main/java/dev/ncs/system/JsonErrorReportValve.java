package dev.ncs.system;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import org.apache.catalina.connector.Request;
import org.apache.catalina.connector.Response;
import org.apache.catalina.valves.ErrorReportValve;

/**
 * Errors Tomcat answers before a request reaches Spring — a request line or headers larger than
 * {@code server.max-http-request-header-size}, a malformed request line, an unknown method — get the
 * service's {@code {"error": "..."}} body instead of Tomcat's HTML page. Installed on the host as its
 * error report valve, so it also covers responses that have no application context.
 */
public class JsonErrorReportValve extends ErrorReportValve {

    @Override
    protected void report(Request request, Response response, Throwable throwable) {
        int status = response.getStatus();
        if (status < 400 || response.getContentWritten() > 0 || !response.setErrorReported()) {
            return;
        }
        String message = switch (status) {
            case 400 -> "the request could not be read: its request line or headers are malformed, or larger "
                    + "than the header limit (server.max-http-request-header-size)";
            case 505 -> "HTTP version not supported";
            default -> "HTTP " + status;
        };
        try {
            response.setContentType("application/json");
            response.setCharacterEncoding(StandardCharsets.UTF_8.name());
            Writer writer = response.getReporter();
            if (writer != null) {
                writer.write("{\"error\":\"" + message + "\"}");
                response.finishResponse();
            }
        } catch (IOException | IllegalStateException ignored) {
            // The client is gone or the response was committed meanwhile: nothing more to tell it.
        }
    }
}
