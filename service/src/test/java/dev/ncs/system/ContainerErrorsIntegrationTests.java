package dev.ncs.system;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Requests Tomcat refuses before Spring sees them still get a JSON error body, and the service goes
 * on.
 */
class ContainerErrorsIntegrationTests extends IntegrationTestSupport {

    @Test
    void oversizedHeadersGetA400WithAJsonMessage() throws Exception {
        String reply =
                exchange(
                        "GET /v2 HTTP/1.1\r\nHost: localhost\r\nX-Big: "
                                + "a".repeat(20_000)
                                + "\r\nConnection: close\r\n\r\n");

        assertThat(reply).startsWith("HTTP/1.1 400");
        assertThat(reply).containsIgnoringCase("Content-Type: application/json");
        String body = reply.substring(reply.indexOf("\r\n\r\n") + 4);
        assertThat(JSON.readTree(body).path("error").asString()).contains("header limit");
        assertThat(get("/v2").status()).isEqualTo(200);
    }

    @Test
    void aMalformedRequestLineGetsA400WithAJsonMessage() throws Exception {
        String reply =
                exchange("GET /v2 HTTP/1.1 extra\r\nHost: localhost\r\nConnection: close\r\n\r\n");

        assertThat(reply).startsWith("HTTP/1.1 400");
        assertThat(reply).containsIgnoringCase("Content-Type: application/json");
        assertThat(reply).contains("\"error\"");
    }

    private String exchange(String request) throws IOException {
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(request.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            return new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
