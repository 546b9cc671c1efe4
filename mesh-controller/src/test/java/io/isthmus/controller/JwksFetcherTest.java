package io.isthmus.controller;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.sun.net.httpserver.HttpServer;
import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.config.Yaml;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The controller's JWKS fetcher against a real HTTP server on loopback. */
class JwksFetcherTest {

    /** Generous: a fetch crosses threads and a socket on a machine that may be loaded many times over. */
    private static final Duration WAIT = Duration.ofSeconds(30);

    private static final String KEYS_A = "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"a\"}]}";
    private static final String KEYS_B = "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"b\"}]}";

    private HttpServer server;
    private String base;
    private final AtomicReference<String> served = new AtomicReference<>(KEYS_A);
    private final AtomicInteger status = new AtomicInteger(200);
    private final AtomicInteger delayMillis = new AtomicInteger();
    private final AtomicInteger requests = new AtomicInteger();
    private final List<Map<String, String>> published = new CopyOnWriteArrayList<>();
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private JwksFetcher fetcher;

    @BeforeEach
    void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 8);
        server.createContext("/keys", exchange -> {
            requests.incrementAndGet();
            try {
                Thread.sleep(delayMillis.get());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            byte[] body = served.get().getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(status.get(), body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        server.createContext("/oidc/.well-known/openid-configuration", exchange -> {
            byte[] body = ("{\"issuer\":\"" + base + "/oidc\",\"jwks_uri\":\"" + base + "/keys\"}")
                    .getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        server.setExecutor(java.util.concurrent.Executors.newFixedThreadPool(2));
        server.start();
        base = "http://127.0.0.1:" + server.getAddress().getPort();
        fetcher = new JwksFetcher(new JwksFetcher.Options(Duration.ofMillis(300), Duration.ofMillis(50), 4096, 8),
                published::add, registry);
    }

    @AfterEach
    void stop() {
        fetcher.close();
        server.stop(0);
        ((java.util.concurrent.ExecutorService) server.getExecutor()).shutdownNow();
    }

    private MeshConfig config(String rules) {
        String yaml = """
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: jwt, namespace: sample}
                spec:
                  jwtRules:
                """ + rules;
        return MeshConfig.merge(Map.of("east", Yaml.resources(yaml, "sample", "2026-11-27T00:00:00Z")),
                "cluster.local");
    }

    private Map<String, String> latest() {
        return published.isEmpty() ? Map.of() : published.get(published.size() - 1);
    }

    private double failures(String reason) {
        var c = registry.find("isthmus_jwks_fetch_failures").tag("reason", reason).counter();
        return c == null ? 0 : c.count();
    }

    @Test
    void fetchesJwksUriAndRefreshesIt() {
        fetcher.onConfig(config("  - {issuer: a, jwksUri: \"" + base + "/keys\"}\n"));
        await().atMost(WAIT).until(() -> KEYS_A.equals(latest().get(base + "/keys")));
        served.set(KEYS_B);
        await().atMost(WAIT).until(() -> KEYS_B.equals(latest().get(base + "/keys")));
        JwksFetcher.Status s = fetcher.status().get(base + "/keys");
        assertThat(s.lastError()).isEmpty();
        assertThat(s.issuers()).containsExactly("a");
        assertThat(s.keyCount()).isEqualTo(1);
        assertThat(s.lastSuccess()).isNotNull();
        // The next refresh is due one refresh period (300 ms here) after the last success (null while it runs).
        if (s.nextRefresh() != null) {
            assertThat(s.nextRefresh()).isBetween(s.lastSuccess().plusMillis(300), s.lastSuccess().plusMillis(2300));
        }
    }

    @Test
    void statusCountsKeysAndNamesEveryIssuerOfASource() {
        served.set("{\"keys\":[{\"kty\":\"EC\",\"kid\":\"a\"},{\"kty\":\"RSA\",\"kid\":\"b\"}]}");
        fetcher.onConfig(config("  - {issuer: a, jwksUri: \"" + base + "/keys\"}\n"
                + "  - {issuer: b, jwksUri: \"" + base + "/keys\"}\n"));
        await().atMost(WAIT).until(() -> fetcher.status().get(base + "/keys").hasKeys());
        JwksFetcher.Status s = fetcher.status().get(base + "/keys");
        assertThat(s.issuers()).containsExactly("a", "b");
        assertThat(s.keyCount()).isEqualTo(2);
        status.set(503);
        await().atMost(WAIT).until(() -> fetcher.status().get(base + "/keys").lastError()
                .contains("answered 503"));
        // A failure keeps the keys (and their count) and schedules a retry.
        JwksFetcher.Status failed = fetcher.status().get(base + "/keys");
        assertThat(failed.keyCount()).isEqualTo(2);
        assertThat(failed.lastSuccess()).isAfterOrEqualTo(s.lastSuccess());
    }

    @Test
    void discoversTheKeysOfAnIssuerWithoutJwksUri() {
        fetcher.onConfig(config("  - {issuer: \"" + base + "/oidc\"}\n"));
        String key = base + "/oidc/.well-known/openid-configuration";
        await().atMost(WAIT).until(() -> KEYS_A.equals(latest().get(key)));
    }

    @Test
    void aFailureKeepsTheLastGoodKeysIsCountedAndRetried() {
        fetcher.onConfig(config("  - {issuer: a, jwksUri: \"" + base + "/keys\"}\n"));
        await().atMost(WAIT).until(() -> KEYS_A.equals(latest().get(base + "/keys")));
        int publishedBefore = published.size();
        status.set(503);
        await().atMost(WAIT).until(() -> failures("status") >= 2);
        assertThat(published).hasSize(publishedBefore);
        JwksFetcher.Status s = fetcher.status().get(base + "/keys");
        assertThat(s.hasKeys()).isTrue();
        assertThat(s.lastError()).contains("answered 503");
        served.set(KEYS_B);
        status.set(200);
        await().atMost(WAIT).until(() -> KEYS_B.equals(latest().get(base + "/keys")));
    }

    @Test
    void garbageOversizedAndSlowAnswersAreRefused() {
        served.set("{\"not\":\"a key set\"}");
        fetcher.onConfig(config("  - {issuer: a, jwksUri: \"" + base + "/keys\", timeout: 200ms}\n"));
        await().atMost(WAIT).until(() -> failures("invalid") >= 1);
        served.set("{\"keys\":[]," + "\"pad\":\"" + "x".repeat(5000) + "\"}");
        await().atMost(WAIT).until(() -> failures("size") >= 1);
        served.set(KEYS_A);
        delayMillis.set(1000);
        await().atMost(WAIT).until(() -> failures("timeout") >= 1);
        assertThat(published).isEmpty();
        assertThat(fetcher.status().get(base + "/keys").hasKeys()).isFalse();
    }

    @Test
    void aSourceNoLongerNamedIsForgotten() {
        fetcher.onConfig(config("  - {issuer: a, jwksUri: \"" + base + "/keys\"}\n"));
        await().atMost(WAIT).until(() -> latest().containsKey(base + "/keys"));
        fetcher.onConfig(config("  - {issuer: b, jwks: '" + KEYS_B + "'}\n"));
        await().atMost(WAIT).until(() -> latest().isEmpty());
        // A refresh already on the wire when the source was forgotten may still reach the server
        // (late on a loaded machine); a source still refreshed every 300 ms would send several more.
        int after = requests.get();
        await().during(Duration.ofMillis(1500)).atMost(Duration.ofSeconds(5))
                .until(() -> requests.get() <= after + 1);
    }
}
