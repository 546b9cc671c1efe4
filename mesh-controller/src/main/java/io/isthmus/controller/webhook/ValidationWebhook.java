package io.isthmus.controller.webhook;

import static java.util.Objects.requireNonNull;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import io.isthmus.controller.config.ConfigException;
import io.isthmus.controller.config.ConfigKind;
import io.isthmus.controller.config.ConfigParser;
import io.isthmus.controller.config.ConfigResource;
import io.isthmus.trust.RotatingKeyManager;
import io.isthmus.trust.WorkloadCertificate;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * Istio's validating admission webhook, for real clusters: {@code POST /validate} (port 15017,
 * HTTPS with the controller's serving certificate, DNS {@code istiod.istio-system.svc}) takes a
 * Kubernetes {@code admission.k8s.io/v1} AdmissionReview and answers whether the object passes
 * the same per-resource validation the controller applies to what it watches. A refused object
 * gets status 400 with every error (field and fix); warnings travel as the review's warnings.
 * Deletions and kinds the mesh does not read are allowed.
 *
 * <p>A request that is not an AdmissionReview (bad JSON, no {@code request.uid}, over
 * {@value #MAX_BODY_BYTES} bytes, not a POST) is answered 4xx with a message and counted;
 * nothing is allowed by default then, so the API server applies its failure policy. Counted in
 * {@code isthmus_webhook_reviews_total{result=allowed|denied|bad_request}}.
 */
public final class ValidationWebhook implements AutoCloseable {

    public static final String PATH = "/validate";
    static final int MAX_BODY_BYTES = 3 << 20;

    private static final Logger log = LoggerFactory.getLogger(ValidationWebhook.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final HttpsServer server;
    private final ExecutorService executor;
    private final Counter allowed;
    private final Counter denied;
    private final Counter badRequest;

    private ValidationWebhook(HttpsServer server, ExecutorService executor, MeterRegistry registry) {
        this.server = server;
        this.executor = executor;
        this.allowed = counter(registry, "allowed");
        this.denied = counter(registry, "denied");
        this.badRequest = counter(registry, "bad_request");
    }

    /**
     * Starts serving on {@code bind:port} (0 picks a free port), presenting the newest
     * certificate of {@code serving} on each handshake.
     */
    public static ValidationWebhook start(String bind, int port, Supplier<WorkloadCertificate> serving,
            MeterRegistry registry) throws IOException {
        requireNonNull(bind, "bind");
        requireNonNull(serving, "serving");
        requireNonNull(registry, "registry");
        SSLContext tls;
        try {
            tls = SSLContext.getInstance("TLS");
            tls.init(new KeyManager[] {new RotatingKeyManager(serving)}, null, null);
        } catch (GeneralSecurityException e) {
            throw new IOException("validation webhook: cannot set up TLS: " + e.getMessage(), e);
        }
        HttpsServer server;
        try {
            server = HttpsServer.create(new InetSocketAddress(bind, port), 64);
        } catch (IOException e) {
            throw new IOException("validation webhook: cannot listen on " + bind + ':' + port + ": "
                    + e.getMessage(), e);
        }
        server.setHttpsConfigurator(new HttpsConfigurator(tls));
        ExecutorService executor = Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "isthmus-webhook");
            t.setDaemon(true);
            return t;
        });
        ValidationWebhook webhook = new ValidationWebhook(server, executor, registry);
        server.createContext(PATH, webhook::handle);
        server.setExecutor(executor);
        server.start();
        log.info("validation webhook on https://{}:{}{}", bind, server.getAddress().getPort(), PATH);
        return webhook;
    }

    public InetSocketAddress address() {
        return server.getAddress();
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            if (!exchange.getRequestMethod().equals("POST")) {
                // Counted before the answer leaves, so whoever reads the metric after it sees it.
                badRequest.increment();
                reply(exchange, 405, error("method " + exchange.getRequestMethod() + " (expected: POST of an"
                        + " admission.k8s.io/v1 AdmissionReview)"));
                return;
            }
            byte[] body;
            try (InputStream in = exchange.getRequestBody()) {
                body = in.readNBytes(MAX_BODY_BYTES + 1);
            }
            if (body.length > MAX_BODY_BYTES) {
                badRequest.increment();
                reply(exchange, 413, error("body over " + MAX_BODY_BYTES + " bytes"));
                return;
            }
            Review review;
            try {
                review = Review.parse(body);
            } catch (IllegalArgumentException e) {
                log.warn("validation webhook: bad request from {}: {}", exchange.getRemoteAddress(), e.getMessage());
                badRequest.increment();
                reply(exchange, 400, error(e.getMessage()));
                return;
            }
            reply(exchange, 200, JSON.writeValueAsBytes(review(review)));
        }
    }

    /** The AdmissionReview answer for one request; pure apart from the counters. */
    Map<String, Object> review(Review review) {
        Map<String, Object> response = new LinkedHashMap<>();
        response.put("uid", review.uid());
        List<String> warnings = List.of();
        boolean ok = true;
        String message = "";
        if (!review.operation().equals("DELETE") && ConfigKind.of(review.kind()).isPresent()) {
            try {
                ConfigParser.Parsed parsed = ConfigParser.parse(ConfigResource.fromObject(review.object(),
                        review.namespace()));
                warnings = parsed.warnings();
            } catch (ConfigException e) {
                ok = false;
                message = review.kind() + " " + review.namespace() + "/" + review.name() + ": "
                        + String.join("; ", e.errors());
            } catch (RuntimeException e) {
                ok = false;
                message = review.kind() + " " + review.namespace() + "/" + review.name() + ": " + e.getMessage();
            }
        }
        response.put("allowed", ok);
        if (!ok) {
            response.put("status", Map.of("code", 400, "reason", "Invalid", "message", message));
            denied.increment();
        } else {
            allowed.increment();
        }
        if (!warnings.isEmpty()) {
            response.put("warnings", warnings);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("apiVersion", "admission.k8s.io/v1");
        out.put("kind", "AdmissionReview");
        out.put("response", response);
        return out;
    }

    private static byte[] error(String message) {
        ObjectNode node = JSON.createObjectNode();
        node.put("error", message);
        return JSON.writeValueAsBytes(node);
    }

    private static void reply(HttpExchange exchange, int status, byte[] body) throws IOException {
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, body.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
        }
    }

    private static Counter counter(MeterRegistry registry, String result) {
        return Counter.builder("isthmus.webhook.reviews")
                .description("AdmissionReviews answered by the validation webhook, by result")
                .tag("result", result)
                .register(registry);
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** What the webhook reads of an AdmissionReview request. */
    record Review(String uid, String operation, String kind, String namespace, String name,
            Map<String, Object> object) {

        @SuppressWarnings("unchecked")
        static Review parse(byte[] body) {
            JsonNode root;
            try {
                root = JSON.readTree(new String(body, StandardCharsets.UTF_8));
            } catch (JacksonException e) {
                throw new IllegalArgumentException("body is not JSON: " + e.getOriginalMessage());
            }
            if (root == null || !root.isObject()) {
                throw new IllegalArgumentException("body is not a JSON object (expected: an AdmissionReview)");
            }
            if (!root.path("kind").asString("").equals("AdmissionReview")) {
                throw new IllegalArgumentException("kind: '" + root.path("kind").asString("")
                        + "' (expected: AdmissionReview)");
            }
            JsonNode request = root.path("request");
            String uid = request.path("uid").asString("");
            if (uid.isEmpty()) {
                throw new IllegalArgumentException("request.uid: missing (expected: the review's uid)");
            }
            String operation = request.path("operation").asString("");
            JsonNode object = request.path("object");
            if (!operation.equals("DELETE") && !object.isObject()) {
                throw new IllegalArgumentException("request.object: missing (expected: the object to validate)");
            }
            Map<String, Object> map = object.isObject() ? JSON.convertValue(object, Map.class) : Map.of();
            String kind = request.path("kind").path("kind").asString(String.valueOf(map.get("kind")));
            String namespace = request.path("namespace").asString("default");
            String name = request.path("name").asString(
                    object.path("metadata").path("name").asString(""));
            return new Review(uid, operation, kind, namespace.isEmpty() ? "default" : namespace, name, map);
        }
    }
}
