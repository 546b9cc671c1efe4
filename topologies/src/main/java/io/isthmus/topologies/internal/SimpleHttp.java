package io.isthmus.topologies.internal;

import static java.util.Objects.requireNonNull;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * A minimal blocking HTTP/1.1 client over a plain socket. It exists because the JDK 17 HTTP
 * client cannot bind its local address, and requests sent "as a pod's app" must come from the
 * pod's localhost address. One request per connection ({@code Connection: close}).
 */
public final class SimpleHttp {

    /** A response: status, lower-case headers, body text. */
    public record Response(int status, Map<String, String> headers, String body) {
        public Response {
            headers = Map.copyOf(headers);
            requireNonNull(body, "body");
        }
    }

    private SimpleHttp() {}

    /**
     * Sends {@code GET path} to {@code host:port} with the given Host header, from {@code localAddress}
     * when present.
     */
    public static Response get(String host, int port, String path, String hostHeader, Optional<String> localAddress,
            int timeoutMillis) throws IOException {
        try (Socket socket = new Socket()) {
            if (localAddress.isPresent()) {
                socket.bind(new InetSocketAddress(InetAddress.getByName(localAddress.get()), 0));
            }
            socket.connect(new InetSocketAddress(InetAddress.getByName(host), port), timeoutMillis);
            socket.setSoTimeout(timeoutMillis);
            String request = "GET " + path + " HTTP/1.1\r\nHost: " + hostHeader
                    + "\r\nUser-Agent: isthmus-demo\r\nAccept: */*\r\nConnection: close\r\n\r\n";
            socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            return parse(readAll(socket.getInputStream()));
        }
    }

    private static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        int n;
        while ((n = in.read(buf)) >= 0) {
            out.write(buf, 0, n);
            if (out.size() > 64 << 20) {
                throw new IOException("response larger than 64 MiB");
            }
        }
        return out.toByteArray();
    }

    static Response parse(byte[] raw) throws IOException {
        String text = new String(raw, StandardCharsets.ISO_8859_1);
        int end = text.indexOf("\r\n\r\n");
        if (!text.startsWith("HTTP/") || end < 0) {
            throw new IOException("not an HTTP response: "
                    + (raw.length == 0 ? "connection closed without an answer" : text.substring(0, Math.min(80, text.length()))));
        }
        String[] lines = text.substring(0, end).split("\r\n");
        String[] statusLine = lines[0].split(" ", 3);
        int status = Integer.parseInt(statusLine[1]);
        Map<String, String> headers = new LinkedHashMap<>();
        for (int i = 1; i < lines.length; i++) {
            int colon = lines[i].indexOf(':');
            if (colon > 0) {
                headers.put(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT), lines[i].substring(colon + 1).trim());
            }
        }
        byte[] bodyBytes = java.util.Arrays.copyOfRange(raw, end + 4, raw.length);
        if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
            bodyBytes = dechunk(bodyBytes);
        } else if (headers.containsKey("content-length")) {
            int len = Integer.parseInt(headers.get("content-length"));
            if (len < bodyBytes.length) {
                bodyBytes = java.util.Arrays.copyOf(bodyBytes, len);
            }
        }
        return new Response(status, headers, new String(bodyBytes, StandardCharsets.UTF_8));
    }

    private static byte[] dechunk(byte[] body) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int pos = 0;
        while (pos < body.length) {
            int lineEnd = indexOf(body, pos);
            if (lineEnd < 0) {
                throw new IOException("truncated chunked body");
            }
            String sizeText = new String(body, pos, lineEnd - pos, StandardCharsets.US_ASCII).split(";")[0].trim();
            int size = Integer.parseInt(sizeText, 16);
            if (size == 0) {
                break;
            }
            out.write(body, lineEnd + 2, Math.min(size, body.length - lineEnd - 2));
            pos = lineEnd + 2 + size + 2;
        }
        return out.toByteArray();
    }

    private static int indexOf(byte[] b, int from) {
        for (int i = from; i + 1 < b.length; i++) {
            if (b[i] == '\r' && b[i + 1] == '\n') {
                return i;
            }
        }
        return -1;
    }
}
