package dev.ncs.inference;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * HTTP/1.1 over a plain socket, for requests no well-behaved client sends: a Content-Length that
 * lies, a body cut short by a client that half-closes, headers repeated or malformed. One request
 * per connection ({@code Connection: close}); the response is read to the end of the stream.
 */
final class RawHttp {

    private RawHttp() {}

    /**
     * What the client puts on the wire.
     *
     * @param headers in order, repeats allowed; Host and Connection are added
     * @param contentLength the Content-Length header: null for the body's length, -1 for none (the
     *     body is then sent chunked when non-empty), -2 for none and the body sent as it is
     * @param sendBytes how many bytes of the body are actually sent before the client half-closes:
     *     the whole body when negative
     */
    record Exchange(
            String method,
            String path,
            List<Map.Entry<String, String>> headers,
            byte[] body,
            Long contentLength,
            int sendBytes) {}

    /**
     * A response (interim 1xx responses skipped): status -1 when the server closed the connection
     * without answering.
     */
    record Response(int status, String head, byte[] body) {

        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    static Response send(int port, Exchange exchange, int timeoutMillis) throws IOException {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", port), timeoutMillis);
            socket.setSoTimeout(timeoutMillis);
            OutputStream out = socket.getOutputStream();
            StringBuilder head = new StringBuilder();
            head.append(exchange.method())
                    .append(' ')
                    .append(exchange.path())
                    .append(" HTTP/1.1\r\n");
            head.append("Host: 127.0.0.1:").append(port).append("\r\n");
            head.append("Connection: close\r\n");
            for (Map.Entry<String, String> header : exchange.headers()) {
                head.append(header.getKey()).append(": ").append(header.getValue()).append("\r\n");
            }
            byte[] body = exchange.body();
            boolean chunked =
                    exchange.contentLength() != null
                            && exchange.contentLength() == -1
                            && body.length > 0;
            if (exchange.contentLength() == null) {
                head.append("Content-Length: ").append(body.length).append("\r\n");
            } else if (exchange.contentLength() >= 0) {
                head.append("Content-Length: ").append(exchange.contentLength()).append("\r\n");
            } else if (chunked) {
                head.append("Transfer-Encoding: chunked\r\n");
            }
            head.append("\r\n");
            int sent =
                    exchange.sendBytes() < 0
                            ? body.length
                            : Math.min(exchange.sendBytes(), body.length);
            try {
                out.write(head.toString().getBytes(StandardCharsets.ISO_8859_1));
                if (chunked) {
                    writeChunked(out, body, sent, exchange.sendBytes() < 0);
                } else {
                    out.write(body, 0, sent);
                }
                out.flush();
                if (exchange.sendBytes() >= 0) {
                    socket.shutdownOutput();
                }
            } catch (IOException serverClosedEarly) {
                // the server may answer (413, 400) and close before reading everything: read what
                // it said
            }
            return read(socket.getInputStream());
        }
    }

    private static void writeChunked(OutputStream out, byte[] body, int sent, boolean complete)
            throws IOException {
        int chunk = 1000;
        for (int offset = 0; offset < sent; offset += chunk) {
            int n = Math.min(chunk, sent - offset);
            out.write((Integer.toHexString(n) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(body, offset, n);
            out.write("\r\n".getBytes(StandardCharsets.ISO_8859_1));
        }
        if (complete) {
            out.write("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        }
    }

    /** The status line and headers of a response, read a byte at a time (nothing of the body). */
    static String readHead(InputStream in) throws IOException {
        StringBuilder head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) {
                break;
            }
            head.append((char) b);
        }
        return head.toString();
    }

    private static Response read(InputStream in) throws IOException {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        byte[] buffer = new byte[8192];
        try {
            for (int n; (n = in.read(buffer)) >= 0; ) {
                all.write(buffer, 0, n);
            }
        } catch (SocketTimeoutException e) {
            throw new IOException(
                    "no complete response in time (the server hangs?) after "
                            + all.size()
                            + " bytes",
                    e);
        } catch (IOException reset) {
            // a reset after a complete response is still a response; none is "no answer"
        }
        byte[] bytes = all.toByteArray();
        int end = indexOf(bytes, "\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        while (end >= 0 && bytes.length >= 12 && bytes[9] == '1') {
            bytes = java.util.Arrays.copyOfRange(bytes, end + 4, bytes.length);
            end = indexOf(bytes, "\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        }
        if (bytes.length < 12 || end < 0) {
            return new Response(-1, new String(bytes, StandardCharsets.ISO_8859_1), new byte[0]);
        }
        String head = new String(bytes, 0, end, StandardCharsets.ISO_8859_1);
        int status = Integer.parseInt(head.substring(9, 12));
        byte[] body = java.util.Arrays.copyOfRange(bytes, end + 4, bytes.length);
        if (head.toLowerCase(java.util.Locale.ROOT).contains("transfer-encoding: chunked")) {
            body = dechunk(body);
        }
        return new Response(status, head, body);
    }

    private static byte[] dechunk(byte[] chunked) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int pos = 0;
        while (pos < chunked.length) {
            int lineEnd =
                    indexOf(
                            java.util.Arrays.copyOfRange(chunked, pos, chunked.length),
                            "\r\n".getBytes(StandardCharsets.ISO_8859_1));
            if (lineEnd < 0) {
                break;
            }
            String size =
                    new String(chunked, pos, lineEnd, StandardCharsets.ISO_8859_1)
                            .split(";")[0].trim();
            int n = Integer.parseInt(size, 16);
            pos += lineEnd + 2;
            if (n == 0 || pos + n > chunked.length) {
                break;
            }
            out.write(chunked, pos, n);
            pos += n + 2;
        }
        return out.toByteArray();
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
