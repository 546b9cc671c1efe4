package io.isthmus.controller.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.config.Yaml;
import io.isthmus.controller.translate.MeshFixture;
import io.isthmus.controller.translate.ProxyNode;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Keys fetched after the configuration arrived reach connected proxies without a config change. */
class MeshSnapshotCacheJwksTest {

    private static final String URI = "https://issuer.example.com/keys";
    private static final String KEYS = "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"k\"}]}";

    private final MeshSnapshotCache cache = new MeshSnapshotCache(new XdsOptions("cluster.local", "cluster.local",
            Duration.ofMillis(20), Duration.ofMillis(200)));

    @AfterEach
    void close() {
        cache.close();
    }

    private String inlineKeys(String proxyId) throws Exception {
        var snapshot = cache.snapshot(proxyId);
        if (snapshot.isEmpty()) {
            return null;
        }
        Listener inbound = snapshot.get().resources().listeners().stream()
                .filter(l -> l.getName().equals("virtualInbound")).findFirst().orElseThrow();
        var hcm = inbound.getFilterChains(0).getFilters(0).getTypedConfig().unpack(HttpConnectionManager.class);
        return hcm.getHttpFilters(0).getTypedConfig().unpack(JwtAuthentication.class)
                .getProvidersOrThrow("origins-0").getLocalJwks().getInlineString();
    }

    @Test
    void keysArrivingLaterAreInlinedAndPushed() throws Exception {
        String yaml = """
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: jwt, namespace: sample}
                spec:
                  jwtRules: [{issuer: "https://issuer.example.com", jwksUri: "%s"}]
                """.formatted(URI);
        MeshConfig config = MeshConfig.merge(Map.of("eu", Yaml.resources(yaml, "sample", "2026-11-27T00:00:00Z")),
                "cluster.local");
        ProxyNode node = MeshFixture.euHelloworldSidecar();
        cache.connect(node);
        cache.onState(MeshFixture.state(), config);
        await().atMost(Duration.ofSeconds(30)).until(() -> "{\"keys\":[]}".equals(inlineKeys(node.id())));
        cache.onJwks(Map.of(URI, KEYS));
        await().atMost(Duration.ofSeconds(30)).until(() -> KEYS.equals(inlineKeys(node.id())));
    }
}
