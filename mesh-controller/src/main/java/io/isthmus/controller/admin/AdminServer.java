package io.isthmus.controller.admin;

import static java.util.Objects.requireNonNull;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import io.isthmus.controller.translate.ProxyNode;
import io.isthmus.controller.translate.ResourcesJson;
import io.isthmus.controller.xds.ProxySnapshot;
import io.isthmus.controller.xds.ProxySyncStatus;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * The controller's admin HTTP endpoint (port 15014): {@code /ready}, {@code /debug/federation},
 * {@code /debug/syncz}, {@code /debug/config}, {@code /debug/config_dump?proxyID=<id>} and {@code /metrics}
 * (Prometheus text), plus the routes added with {@link #route}. Served by two private threads.
 * Everything but {@code /ready} and {@code /metrics} is behind {@link AdminAuth}: open on a
 * loopback bind, credentials required beyond it.
 */
public final class AdminServer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(AdminServer.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final HttpServer server;
    private final ExecutorService executor;
    private final AdminEndpoints endpoints;
    private final AdminAuth auth;

    private AdminServer(HttpServer server, ExecutorService executor, AdminEndpoints endpoints, AdminAuth auth) {
        this.server = server;
        this.executor = executor;
        this.endpoints = endpoints;
        this.auth = auth;
    }

    /**
     * Without an admin token or a service-account verifier: open on loopback, and beyond loopback
     * every protected page answers 401.
     *
     * @throws UncheckedIOException naming the address when it cannot be bound
     */
    public static AdminServer start(String bindAddress, int port, AdminEndpoints endpoints) {
        requireNonNull(bindAddress, "bindAddress");
        requireNonNull(endpoints, "endpoints");
        return start(bindAddress, port, endpoints,
                AdminAuth.of(bindAddress, Optional.empty(), Optional.empty(), endpoints.metrics()));
    }

    /**
     * @throws UncheckedIOException naming the address when it cannot be bound
     */
    public static AdminServer start(String bindAddress, int port, AdminEndpoints endpoints, AdminAuth auth) {
        requireNonNull(bindAddress, "bindAddress");
        requireNonNull(endpoints, "endpoints");
        requireNonNull(auth, "auth");
        HttpServer server;
        try {
            server = HttpServer.create(new InetSocketAddress(bindAddress, port), 16);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot listen for admin HTTP on " + bindAddress + ":" + port + ": "
                    + e.getMessage() + " (is another process using the port?)", e);
        }
        ExecutorService executor = Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "admin-http");
            t.setDaemon(true);
            return t;
        });
        AdminServer admin = new AdminServer(server, executor, endpoints, auth);
        server.setExecutor(executor);
        server.createContext("/ready", safe(admin::ready));
        server.createContext("/debug/federation", safe(auth.protect(ex -> admin.json(ex, endpoints.federation().get()))));
        server.createContext("/debug/config", safe(auth.protect(ex -> admin.json(ex, endpoints.config().get()))));
        server.createContext("/debug/syncz", safe(auth.protect(ex -> admin.json(ex, admin.syncz()))));
        server.createContext("/debug/config_dump", safe(auth.protect(admin::configDump)));
        server.createContext("/metrics", safe(admin::metrics));
        server.start();
        log.info("admin HTTP listening on {}", server.getAddress());
        return admin;
    }

    /** A failing page answers 500 with the reason instead of dropping the connection. */
    private static HttpHandler safe(HttpHandler handler) {
        return exchange -> {
            try (exchange) {
                handler.handle(exchange);
            } catch (RuntimeException e) {
                log.error("admin {} failed", exchange.getRequestURI(), e);
                try {
                    send(exchange, 500, "text/plain; charset=utf-8", "internal error: " + e + "\n");
                } catch (IOException | RuntimeException alreadySent) {
                    // Headers were already sent; the client sees a truncated body.
                }
            }
        };
    }

    public InetSocketAddress address() {
        return server.getAddress();
    }

    /**
     * Serves {@code handler} under {@code pathPrefix} (e.g. {@link FederationRoutes} under
     * {@code /federation}, the dashboard under {@code /dashboard}), behind {@link AdminAuth} and with
     * the same 500-on-failure wrapping as the built-in pages.
     */
    public void route(String pathPrefix, HttpHandler handler) {
        server.createContext(requireNonNull(pathPrefix, "pathPrefix"),
                safe(auth.protect(requireNonNull(handler, "handler"))));
    }

    /** Serves {@code document()} as JSON at {@code path}, behind the same check as {@code /debug}. */
    public void jsonRoute(String path, Supplier<Object> document) {
        requireNonNull(document, "document");
        route(path, ex -> json(ex, document.get()));
    }

    /** The check in front of every page but {@code /ready} and {@code /metrics}. */
    public AdminAuth auth() {
        return auth;
    }

    private void ready(HttpExchange exchange) throws IOException {
        Readiness readiness = endpoints.readiness().get();
        String body = readiness.ready() ? "ready\n" : "not ready: " + String.join("; ", readiness.waitingFor()) + "\n";
        send(exchange, readiness.ready() ? 200 : 503, "text/plain; charset=utf-8", body);
    }

    private List<Map<String, Object>> syncz() {
        List<Map<String, Object>> proxies = new ArrayList<>();
        for (ProxyNode node : new TreeMap<>(endpoints.snapshots().connectedProxies()).values()) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("id", node.id());
            entry.put("cluster", node.cluster());
            entry.put("network", node.network());
            entry.put("type", node.type().name());
            Optional<ProxySnapshot> snapshot = endpoints.snapshots().snapshot(node.id());
            entry.put("stateIndex", snapshot.map(ProxySnapshot::stateIndex).orElse(-1L));
            Map<String, ProxySyncStatus.TypeStatus> types =
                    endpoints.sync().status(node.id()).map(ProxySyncStatus::types).orElse(Map.of());
            Map<String, Object> typeView = new TreeMap<>();
            types.forEach((type, status) -> {
                Map<String, Object> t = new LinkedHashMap<>();
                t.put("sent", status.sentVersion());
                t.put("acked", status.ackedVersion());
                t.put("synced", status.synced());
                t.put("nacks", status.nacks());
                t.put("lastNackError", status.lastNackError());
                typeView.put(type, t);
            });
            entry.put("types", typeView);
            proxies.add(entry);
        }
        return proxies;
    }

    private void configDump(HttpExchange exchange) throws IOException {
        String proxyId = query(exchange).get("proxyID");
        if (proxyId == null || proxyId.isEmpty()) {
            send(exchange, 400, "text/plain; charset=utf-8",
                    "missing query parameter proxyID (expected: /debug/config_dump?proxyID=<node id>)\n");
            return;
        }
        Optional<ProxySnapshot> snapshot = endpoints.snapshots().snapshot(proxyId);
        if (snapshot.isEmpty()) {
            send(exchange, 404, "text/plain; charset=utf-8", "no snapshot for proxy " + proxyId
                    + " (connected: " + endpoints.snapshots().connectedProxies().keySet() + ")\n");
            return;
        }
        ProxySnapshot s = snapshot.get();
        ObjectNode dump = JSON.createObjectNode();
        dump.put("proxyID", proxyId);
        dump.put("stateIndex", s.stateIndex());
        dump.set("versions", JSON.valueToTree(new TreeMap<>(s.versions())));
        JsonNode resources = JSON.readTree(ResourcesJson.toJson(s.resources()));
        dump.set("resources", resources);
        send(exchange, 200, "application/json", JSON.writerWithDefaultPrettyPrinter().writeValueAsString(dump) + "\n");
    }

    private void metrics(HttpExchange exchange) throws IOException {
        send(exchange, 200, "text/plain; version=0.0.4; charset=utf-8", endpoints.metrics().scrape());
    }

    private void json(HttpExchange exchange, Object value) throws IOException {
        String body;
        try {
            body = JSON.writerWithDefaultPrettyPrinter().writeValueAsString(value) + "\n";
        } catch (RuntimeException e) {
            log.error("cannot render {}", exchange.getRequestURI(), e);
            send(exchange, 500, "text/plain; charset=utf-8", "cannot render: " + e.getMessage() + "\n");
            return;
        }
        send(exchange, 200, "application/json", body);
    }

    private static Map<String, String> query(HttpExchange exchange) {
        Map<String, String> params = new TreeMap<>();
        String raw = exchange.getRequestURI().getRawQuery();
        if (raw == null) {
            return params;
        }
        for (String pair : raw.split("&")) {
            int eq = pair.indexOf('=');
            String key = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
            String value = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
            params.put(key, value);
        }
        return params;
    }

    private static void send(HttpExchange exchange, int status, String contentType, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", contentType);
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
        try {
            executor.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
