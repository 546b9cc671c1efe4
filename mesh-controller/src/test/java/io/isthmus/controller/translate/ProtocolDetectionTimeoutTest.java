package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.isthmus.controller.config.ConfigException;
import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.config.MeshSettings;
import io.isthmus.controller.config.Yaml;
import io.isthmus.discovery.FederatedState;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The mesh config's {@code protocolDetectionTimeout} (Istio's default: 0, none) on the outbound
 * listeners that inspect a connection's first bytes, with {@code continue_on_listener_filters_timeout},
 * as Istio sets them: after that long without a byte (a server-first protocol), the sidecar takes
 * the listener's TCP path instead of waiting.
 */
class ProtocolDetectionTimeoutTest {

    /** helloworld's HTTP port shared with a TCP ServiceEntry without VIP: a sniffed 0.0.0.0_5000. */
    private static final String SNIFFED = """
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: legacy, namespace: sample}
            spec:
              hosts: [legacy.example.com]
              location: MESH_EXTERNAL
              resolution: DNS
              ports: [{number: 5000, name: tcp, protocol: TCP}]
            """;

    private static Listener listener(Duration timeout, String name) {
        FederatedState state = MeshFixture.state();
        ProxyNode node = MeshFixture.westCurlSidecar();
        MeshConfig config = MeshConfig.merge(Map.of("west", Yaml.resources(SNIFFED, "sample",
                "2026-11-27T00:00:00Z")), MeshFixture.DOMAIN);
        MeshPolicies policies = new MeshPolicies(config, state, MeshFixture.DOMAIN, Map.of(),
                MeshSettings.ALLOW_ANY, TrustDomains.NONE, timeout);
        return XdsTranslator.translate(MeshFixture.viewOf(state, node), node, MeshFixture.ROOTS, policies)
                .listeners().stream().filter(l -> l.getName().equals(name)).findFirst().orElseThrow();
    }

    @Test
    void aSniffingListenerWaitsAsLongAsTheMeshConfigSays() {
        Listener istioDefault = listener(Duration.ZERO, "0.0.0.0_5000");
        assertThat(istioDefault.getListenerFiltersCount()).isEqualTo(2);
        // Zero is sent explicitly: unset would be Envoy's 15 s.
        assertThat(istioDefault.hasListenerFiltersTimeout()).isTrue();
        assertThat(istioDefault.getListenerFiltersTimeout().getSeconds()).isZero();
        assertThat(istioDefault.getListenerFiltersTimeout().getNanos()).isZero();
        assertThat(istioDefault.getContinueOnListenerFiltersTimeout()).isTrue();

        Listener classic = listener(Duration.ofMillis(100), "0.0.0.0_5000");
        assertThat(classic.getListenerFiltersTimeout().getNanos()).isEqualTo(100_000_000);
    }

    @Test
    void aListenerThatInspectsNothingHasNoTimeout() {
        // virtualOutbound hands connections on by original destination: nothing to inspect.
        Listener virtualOutbound = listener(Duration.ofMillis(100), ResourceNames.VIRTUAL_OUTBOUND);
        assertThat(virtualOutbound.hasListenerFiltersTimeout()).isFalse();
    }

    @Test
    void theMeshConfigFieldIsReadAsIstioWritesIt() throws ConfigException {
        assertThat(MeshSettings.parse("").protocolDetectionTimeout()).isZero();
        assertThat(MeshSettings.parse("protocolDetectionTimeout: 100ms").protocolDetectionTimeout())
                .isEqualTo(Duration.ofMillis(100));
        assertThat(MeshSettings.parse("protocolDetectionTimeout: 1s\noutboundTrafficPolicy: {mode: REGISTRY_ONLY}")
                .withMcsClusterLocal(true).protocolDetectionTimeout()).isEqualTo(Duration.ofSeconds(1));
        assertThatThrownBy(() -> MeshSettings.parse("protocolDetectionTimeout: soon"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("protocolDetectionTimeout: 'soon' (expected: a duration such as 100ms,"
                        + " or 0s for none)");
    }
}
