package io.isthmus.controller.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.config.Yaml;
import io.isthmus.controller.translate.MeshFixture;
import io.isthmus.controller.translate.ProxyNode;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Outbound listener conflicts translation settled are counted in Istio's
 * {@code pilot_conflict_outbound_listener_*} gauges, for the proxies that have them, and go away
 * with the configuration that caused them.
 */
class ListenerConflictMetricsTest {

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final MeshSnapshotCache cache = new MeshSnapshotCache(new XdsOptions("cluster.local", "cluster.local",
            Duration.ofMillis(20), Duration.ofMillis(200)), registry);

    @AfterEach
    void close() {
        cache.close();
    }

    private double gauge(String type) {
        return registry.get("pilot.conflict.outbound.listener." + type).gauge().value();
    }

    private static MeshConfig config(String yaml) {
        return MeshConfig.merge(Map.of("west", Yaml.resources(yaml, "sample", "2026-11-27T00:00:00Z")),
                "cluster.local");
    }

    private static String tcpEntry(String name) {
        return """
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: %s, namespace: sample}
                spec:
                  hosts: [%s.example.com]
                  location: MESH_EXTERNAL
                  resolution: DNS
                  ports: [{number: 9000, name: tcp, protocol: TCP}]
                ---
                """.formatted(name, name);
    }

    @Test
    void twoTcpHostsOnOnePortAreOneConflictPerProxyUntilOneGoes() {
        ProxyNode curl = MeshFixture.westCurlSidecar();
        ProxyNode helloworld = MeshFixture.euHelloworldSidecar();
        cache.connect(curl);
        cache.connect(helloworld);

        cache.onState(MeshFixture.state(), config(tcpEntry("a") + tcpEntry("b")));
        await().atMost(Duration.ofSeconds(30)).until(() -> gauge("tcp.over.current.tcp") == 2.0);
        assertThat(gauge("tcp.over.current.http")).isZero();
        assertThat(gauge("http.over.current.tcp")).isZero();
        assertThat(cache.snapshot(curl.id()).orElseThrow().resources().listenerConflicts())
                .singleElement().satisfies(c -> assertThat(c.listener()).isEqualTo("0.0.0.0_9000"));

        cache.onState(MeshFixture.state(), config(tcpEntry("a")));
        await().atMost(Duration.ofSeconds(30)).until(() -> gauge("tcp.over.current.tcp") == 0.0);
    }
}
