package dev.ncs.system;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import org.apache.catalina.connector.Request;
import org.apache.catalina.connector.Response;
import org.apache.catalina.valves.ErrorReportValve;

/**
 * Errors Tomcat answers before a request reaches Spring — a request line or headers larger than
 * {@code server.max-http-request-header-size}, a malformed request line, an unknown method — get
 * the service's {@code {"error": "..."}} body, with a message that says what to change, instead of
 * Tomcat's HTML page. Installed on the host as its error report valve, so it also covers responses
 * that have no application context.
 */
public class JsonErrorReportValve extends ErrorReportValve {

    @Override
    protected void report(Request request, Response response, Throwable throwable) {
        int status = response.getStatus();
        if (status < 400 || response.getContentWritten() > 0 || !response.setErrorReported()) {
            return;
        }
        String message = message(status);
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

    /** What Tomcat refused, and what to change; Tomcat says which status, but not why. */
    static String message(int status) {
        return switch (status) {
            case 400 ->
                    "the request could not be read: its request line or headers are malformed (such as two "
                            + "Content-Length headers, an invalid Transfer-Encoding or Host, characters not allowed in the "
                            + "path), or larger than the header limit (server.max-http-request-header-size)";
            case 408 ->
                    "the request did not arrive in time: no byte of it came within the read timeout "
                            + "(server.tomcat.connection-timeout); send the request line, headers and body without pausing "
                            + "(an upload must also keep to ncs.limits.min-upload-rate)";
            case 417 ->
                    "the only expectation this server meets is Expect: 100-continue; send that or no Expect "
                            + "header";
            case 501 ->
                    "the request's Transfer-Encoding is not supported: send the body with Content-Length or "
                            + "Transfer-Encoding: chunked (compress it with Content-Encoding: gzip or deflate instead)";
            case 505 -> "HTTP version not supported: send HTTP/1.1 (or HTTP/1.0)";
            case 503 ->
                    "the server is not accepting requests now (starting or shutting down); retry later";
            default ->
                    "the server refused the request (HTTP "
                            + status
                            + ") before it reached the API; check the "
                            + "request line and headers against the API (GET /v2 describes the server)";
        };
    }
}
