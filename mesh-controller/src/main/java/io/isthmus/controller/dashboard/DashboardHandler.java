package io.isthmus.controller.dashboard;

import static java.util.Objects.requireNonNull;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import io.isthmus.controller.dashboard.DashboardData.LocalView;
import io.isthmus.controller.dashboard.DashboardData.MeshGraph;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The dashboard's routes under {@code /dashboard} on the controller's admin port: the page
 * ({@code /dashboard}, {@code /dashboard/app.js}, {@code /dashboard/app.css}, read from the class
 * path, no CDN) and the JSON documents {@code /dashboard/api/mesh} and {@code /dashboard/api/local}.
 * Read-only; never blocks on the network (it serves the collector's latest documents).
 *
 * <p>Authentication is the admin server's ({@link io.isthmus.controller.admin.AdminAuth}), the
 * same as for the debug pages: open on a loopback bind, credentials required beyond it. A browser
 * passes them as {@code ?token=<token>}; the page hands them on to its API calls.
 */
public final class DashboardHandler implements HttpHandler {

    private static final Map<String, String[]> ASSETS = Map.of(
            "/dashboard", new String[] {"index.html", "text/html; charset=utf-8"},
            "/dashboard/", new String[] {"index.html", "text/html; charset=utf-8"},
            "/dashboard/app.js", new String[] {"app.js", "text/javascript; charset=utf-8"},
            "/dashboard/app.css", new String[] {"app.css", "text/css; charset=utf-8"});

    private final Supplier<MeshGraph> mesh;
    private final Supplier<LocalView> local;

    public DashboardHandler(DashboardCollector collector) {
        this(requireNonNull(collector, "collector")::meshGraph, collector::localView);
    }

    /** Serves whatever the suppliers return now (e.g. a synthetic mesh, to check the page's layout). */
    public DashboardHandler(Supplier<MeshGraph> mesh, Supplier<LocalView> local) {
        this.mesh = requireNonNull(mesh, "mesh");
        this.local = requireNonNull(local, "local");
    }

    @Override
    public void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            if (!exchange.getRequestMethod().equals("GET") && !exchange.getRequestMethod().equals("HEAD")) {
                send(exchange, 405, "text/plain; charset=utf-8", "method " + exchange.getRequestMethod()
                        + " (expected: GET)\n");
                return;
            }
            String path = exchange.getRequestURI().getPath();
            switch (path) {
                case "/dashboard/api/mesh" -> json(exchange, mesh.get());
                case "/dashboard/api/local" -> json(exchange, local.get());
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
