package io.isthmus.controller.dashboard;

import static java.util.Objects.requireNonNull;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.URLDecoder;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Map;
import java.util.Optional;

/**
 * The dashboard's routes under {@code /dashboard} on the controller's admin port: the page
 * ({@code /dashboard}, {@code /dashboard/app.js}, {@code /dashboard/app.css}, read from the class
 * path, no CDN) and the JSON documents {@code /dashboard/api/mesh} and {@code /dashboard/api/local}.
 * Read-only; never blocks on the network (it serves the collector's latest documents).
 *
 * <p>Authentication: the controller's debug endpoints have none and are meant for loopback. The
 * dashboard shows the whole mesh, so when the admin port is bound beyond loopback it serves only
 * with a bearer token configured ({@code --dashboard-token}), given as {@code Authorization:
 * Bearer <token>} or, for a browser, {@code ?token=<token>} (the page passes it on to its API
 * calls). With a token configured it is required on loopback too.
 */
public final class DashboardHandler implements HttpHandler {

    private static final Map<String, String[]> ASSETS = Map.of(
            "/dashboard", new String[] {"index.html", "text/html; charset=utf-8"},
            "/dashboard/", new String[] {"index.html", "text/html; charset=utf-8"},
            "/dashboard/app.js", new String[] {"app.js", "text/javascript; charset=utf-8"},
            "/dashboard/app.css", new String[] {"app.css", "text/css; charset=utf-8"});

    private final DashboardCollector collector;
    private final Optional<String> token;
    private final boolean loopbackOnly;
    private final String bind;

    /** @param bind the address the admin port is bound to */
    public DashboardHandler(DashboardCollector collector, Optional<String> token, String bind) {
        this.collector = requireNonNull(collector, "collector");
        this.token = requireNonNull(token, "token");
        this.bind = requireNonNull(bind, "bind");
        this.loopbackOnly = isLoopback(bind);
    }

    static boolean isLoopback(String bind) {
        try {
            return InetAddress.getByName(bind).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    @Override
    public void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            if (!exchange.getRequestMethod().equals("GET") && !exchange.getRequestMethod().equals("HEAD")) {
                send(exchange, 405, "text/plain; charset=utf-8", "method " + exchange.getRequestMethod()
                        + " (expected: GET)\n");
                return;
            }
            String refusal = refusal(exchange);
            if (refusal != null) {
                exchange.getResponseHeaders().set("WWW-Authenticate", "Bearer realm=\"isthmus-dashboard\"");
                send(exchange, token.isEmpty() ? 403 : 401, "text/plain; charset=utf-8", refusal + "\n");
                return;
            }
            String path = exchange.getRequestURI().getPath();
            switch (path) {
                case "/dashboard/api/mesh" -> json(exchange, collector.meshGraph());
                case "/dashboard/api/local" -> json(exchange, collector.localView());
                default -> {
                    String[] asset = ASSETS.get(path);
                    if (asset == null) {
                        send(exchange, 404, "text/plain; charset=utf-8", "no dashboard page " + path
                                + " (expected: /dashboard, /dashboard/api/mesh or /dashboard/api/local)\n");
                    } else {
                        send(exchange, 200, asset[1], resource(asset[0]));
                    }
                }
            }
        }
    }

    /** Why this request may not see the dashboard, or {@code null} when it may. */
    private String refusal(HttpExchange exchange) {
        if (token.isEmpty()) {
            return loopbackOnly ? null : "the dashboard is disabled: the admin port is bound to " + bind
                    + ", beyond loopback, and no token is configured (start the controller with"
                    + " --dashboard-token <secret>, then open /dashboard?token=<secret>)";
        }
        String given = null;
        String header = exchange.getRequestHeaders().getFirst("Authorization");
        if (header != null && header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            given = header.substring(7).strip();
        }
        if (given == null) {
            given = queryToken(exchange.getRequestURI().getRawQuery());
        }
        if (given == null) {
            return "missing token (expected: header 'Authorization: Bearer <token>' or ?token=<token>,"
                    + " the controller's --dashboard-token)";
        }
        boolean ok = MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8),
                token.get().getBytes(StandardCharsets.UTF_8));
        return ok ? null : "wrong token (expected: the controller's --dashboard-token)";
    }

    private static String queryToken(String rawQuery) {
        if (rawQuery == null) {
            return null;
        }
        for (String pair : rawQuery.split("&")) {
            if (pair.startsWith("token=")) {
                return URLDecoder.decode(pair.substring(6), StandardCharsets.UTF_8);
            }
        }
        return null;
    }

    private static void json(HttpExchange exchange, Object value) throws IOException {
        exchange.getResponseHeaders().set("Cache-Control", "no-store");
        send(exchange, 200, "application/json", DashboardCollector.JSON.writeValueAsBytes(value));
    }

    static byte[] resource(String name) {
        try (InputStream in = DashboardHandler.class.getResourceAsStream("/dashboard/" + name)) {
            if (in == null) {
                throw new IllegalStateException("dashboard/" + name + " is missing from the class path"
                        + " (expected: in mesh-controller's resources)");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void send(HttpExchange exchange, int status, String contentType, String body) throws IOException {
        send(exchange, status, contentType, body.getBytes(StandardCharsets.UTF_8));
    }

    private static void send(HttpExchange exchange, int status, String contentType, byte[] body) throws IOException {
        exchange.getResponseHeaders().set("Content-Type", contentType);
        boolean head = exchange.getRequestMethod().equals("HEAD");
        exchange.sendResponseHeaders(status, head ? -1 : body.length);
        if (!head) {
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        }
    }
}
