package io.isthmus.controller.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.controller.dashboard.DashboardData.ClusterHealth;
import io.isthmus.controller.dashboard.DashboardData.LocalView;
import io.isthmus.controller.dashboard.DashboardData.MeshGraph;
import io.isthmus.controller.dashboard.DashboardHandler;
import io.isthmus.controller.xds.MeshSnapshotCache;
import io.isthmus.controller.xds.SyncTracker;
import io.isthmus.controller.xds.XdsOptions;
import io.isthmus.trust.ServiceAccountIssuer;
import io.isthmus.trust.ServiceAccountTokenVerifier;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The admin port's one authentication scheme, over real HTTP: a listener on the wildcard address
 * (beyond loopback) wants the admin token or an istio-system service-account token on the debug
 * pages and the dashboard alike; {@code /ready} and {@code /metrics} stay open; a loopback
 * listener is open.
 */
class AdminAuthTest {

    private static final String ISSUER = "https://kubernetes.default.svc/east";
    private static final ServiceAccountIssuer TOKENS = ServiceAccountIssuer.create(ISSUER);

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private PrometheusMeterRegistry registry;
    private MeshSnapshotCache cache;
    private AdminServer server;

    @BeforeEach
    void setUp() {
        registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        cache = new MeshSnapshotCache(new XdsOptions("cluster.local", "cluster.local",
                Duration.ofMillis(20), Duration.ofMillis(200)));
    }

    @AfterEach
    void tearDown() {
        if (server != null) {
            server.close();
        }
        cache.close();
    }

    private String start(String bind, AdminAuth auth) {
        AdminEndpoints endpoints = new AdminEndpoints(() -> Readiness.of(List.of()), () -> List.of("federation"),
                cache, new SyncTracker(), registry);
        server = AdminServer.start(bind, 0, endpoints, auth);
        LocalView local = new LocalView("east", "2026-11-27T08:00:00Z", 60, List.of(), List.of(),
                new ClusterHealth("east", "net1", "r/z/", true, true, List.of(), "east", List.of("east"), 1, 1,
                        List.of(), List.of(), List.of()), List.of());
        MeshGraph mesh = new MeshGraph("east", local.generatedAt(), 400, 100, List.of(), List.of(), List.of(),
                List.of(), List.of());
        server.route("/dashboard", new DashboardHandler(() -> mesh, () -> local));
        // Whatever the bind, connect over loopback: a wildcard listener accepts it, and the
        // check depends on where the port is exposed, not on who asks.
        return "http://127.0.0.1:" + server.address().getPort();
    }

    private static ServiceAccountTokenVerifier verifier() {
        return ServiceAccountTokenVerifier.fromJwks(ISSUER, TOKENS.jwksJson(), Clock.systemUTC());
    }

    private static String jwt(String namespace, String account, String audience) {
        return TOKENS.mint(namespace, account, "", List.of(audience), Duration.ofMinutes(10), Instant.now());
    }

    private int status(String url, String bearer) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5));
        if (bearer != null) {
            b.header("Authorization", "Bearer " + bearer);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    @Test
    void beyondLoopbackDebugPagesAndTheDashboardWantTheAdminToken() throws Exception {
        String base = start("0.0.0.0", AdminAuth.of("0.0.0.0", Optional.of("s3cret"), Optional.of(verifier()), registry));

        for (String page : List.of("/debug/syncz", "/debug/federation", "/debug/config", "/dashboard",
                "/dashboard/api/mesh", "/dashboard/api/local")) {
            assertThat(status(base + page, null)).as(page + " without credentials").isEqualTo(401);
            assertThat(status(base + page, "wrong")).as(page + " with a wrong token").isEqualTo(401);
            assertThat(status(base + page, "s3cret")).as(page + " with the admin token").isEqualTo(200);
        }
        assertThat(status(base + "/dashboard?token=s3cret", null)).isEqualTo(200);
        assertThat(status(base + "/dashboard/api/mesh?token=wrong", null)).isEqualTo(401);

        HttpResponse<String> refused = http.send(HttpRequest.newBuilder(URI.create(base + "/debug/syncz")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(refused.headers().firstValue("WWW-Authenticate")).hasValueSatisfying(v -> assertThat(v).startsWith("Bearer"));
        assertThat(refused.body()).contains("beyond loopback", "--admin-token", "isthmus-admin");

        // Probes and scrapes carry no credentials.
        assertThat(status(base + "/ready", null)).isEqualTo(200);
        assertThat(status(base + "/metrics", null)).isEqualTo(200);
        assertThat(registry.scrape()).containsPattern("isthmus_admin_auth_failures_total\\{reason=\"missing\"\\} [1-9]")
                .containsPattern("isthmus_admin_auth_failures_total\\{reason=\"wrong_token\"\\} [1-9]");
    }

    @Test
    void aServiceAccountTokenOfTheMeshNamespaceForTheAdminAudienceAlsoOpensIt() throws Exception {
        String base = start("0.0.0.0", AdminAuth.of("0.0.0.0", Optional.empty(), Optional.of(verifier()), registry));

        assertThat(status(base + "/debug/syncz", jwt("istio-system", "istiod", AdminAuth.AUDIENCE))).isEqualTo(200);
        assertThat(status(base + "/dashboard/api/mesh", jwt("istio-system", "meshctl", AdminAuth.AUDIENCE)))
                .isEqualTo(200);
        // A workload's token, a token for the CA's audience, one of another issuer: refused.
        assertThat(status(base + "/debug/syncz", jwt("sample", "curl", AdminAuth.AUDIENCE))).isEqualTo(401);
        assertThat(status(base + "/debug/syncz", jwt("istio-system", "istiod", "istio-ca"))).isEqualTo(401);
        String foreign = ServiceAccountIssuer.create("https://kubernetes.default.svc/eu")
                .mint("istio-system", "istiod", "", List.of(AdminAuth.AUDIENCE), Duration.ofMinutes(10), Instant.now());
        assertThat(status(base + "/debug/syncz", foreign)).isEqualTo(401);
        assertThat(status(base + "/debug/syncz", "s3cret")).isEqualTo(401);
        assertThat(registry.scrape()).containsPattern("isthmus_admin_auth_failures_total\\{reason=\"forbidden_account\"\\} 1")
                .containsPattern("isthmus_admin_auth_failures_total\\{reason=\"bad_token\"\\} 2");
    }

    @Test
    void withNothingConfiguredBeyondLoopbackEveryProtectedPageIsRefused() throws Exception {
        String base = start("0.0.0.0", AdminAuth.of("0.0.0.0", Optional.empty(), Optional.empty(), registry));

        assertThat(status(base + "/debug/config", null)).isEqualTo(401);
        assertThat(status(base + "/dashboard/api/mesh", "anything")).isEqualTo(401);
        assertThat(status(base + "/ready", null)).isEqualTo(200);
    }

    @Test
    void onALoopbackBindEverythingIsOpen() throws Exception {
        String base = start("127.0.0.1", AdminAuth.of("127.0.0.1", Optional.of("s3cret"), Optional.of(verifier()),
                registry));

        assertThat(status(base + "/debug/syncz", null)).isEqualTo(200);
        assertThat(status(base + "/dashboard/api/mesh", null)).isEqualTo(200);
        assertThat(status(base + "/dashboard", null)).isEqualTo(200);
        assertThat(AdminAuth.of("127.0.0.1", Optional.empty(), Optional.empty(), registry).required()).isFalse();
        assertThat(AdminAuth.of("192.0.2.10", Optional.empty(), Optional.empty(), registry).required()).isTrue();
        assertThat(AdminAuth.of("::", Optional.empty(), Optional.empty(), registry).required()).isTrue();
        assertThat(AdminAuth.of("::1", Optional.empty(), Optional.empty(), registry).required()).isFalse();
    }
}
