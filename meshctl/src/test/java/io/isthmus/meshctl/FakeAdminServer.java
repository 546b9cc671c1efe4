package io.isthmus.meshctl;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** A JDK HTTP server on 127.0.0.1 answering admin paths with recorded JSON, like a controller or a proxy. */
final class FakeAdminServer implements AutoCloseable {

    private final HttpServer server;
    private final Map<String, String> pages = new ConcurrentHashMap<>();

    FakeAdminServer() {
        try {
            server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        server.createContext("/", exchange -> {
            String body = pages.get(exchange.getRequestURI().getPath());
            byte[] bytes = (body != null ? body : "no page " + exchange.getRequestURI()).getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", body != null ? "application/json" : "text/plain");
            exchange.sendResponseHeaders(body != null ? 200 : 404, bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        });
        server.start();
    }

    FakeAdminServer page(String path, String json) {
        pages.put(path, json);
        return this;
    }

    FakeAdminServer recorded(String path, String resource) {
        return page(path, resource(resource));
    }

    String address() {
        return "127.0.0.1:" + server.getAddress().getPort();
    }

    int port() {
        return server.getAddress().getPort();
    }

    static String resource(String name) {
        try (InputStream in = FakeAdminServer.class.getResourceAsStream("/recorded/" + name)) {
            if (in == null) {
                throw new IllegalArgumentException("no test resource recorded/" + name);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
