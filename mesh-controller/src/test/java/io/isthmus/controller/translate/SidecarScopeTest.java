package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Table: which Sidecar applies to west's curl sidecar (namespace sample, labels app=curl,
 * version=v1) and which outbound clusters it then gets. The mesh has helloworld.sample and
 * curl.sample.
 */
class SidecarScopeTest {

    private static final String HELLOWORLD = "outbound|5000||helloworld.sample.svc.cluster.local";
    private static final String CURL = "outbound|80||curl.sample.svc.cluster.local";

    private static String sidecar(String namespace, String name, String selector, String hosts, String created) {
        return """
                apiVersion: networking.istio.io/v1
                kind: Sidecar
                metadata: {name: %s, namespace: %s, creationTimestamp: "%s"}
                spec:
                %s  egress:
                  - hosts: %s
                ---
                """.formatted(name, namespace, created,
                selector.isEmpty() ? "" : "  workloadSelector: {labels: " + selector + "}\n", hosts);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '#', value = {
            "no Sidecar: everything exported # # " + HELLOWORLD + " " + CURL,
            "namespace default imports one host # sample;default;;[./helloworld.sample.svc.cluster.local] # " + HELLOWORLD,
            "namespace default imports its namespace # sample;default;;['./*'] # " + HELLOWORLD + " " + CURL,
            "wildcard dns name # sample;default;;['*/*.sample.svc.cluster.local'] # " + HELLOWORLD + " " + CURL,
            "another namespace only # sample;default;;['istio-system/*'] # ",
            "~ imports nothing # sample;default;;['~/*'] # ",
            "root default when the namespace has none; . is the proxy's namespace # istio-system;default;;['./curl.sample.svc.cluster.local'] # " + CURL,
            "the namespace default wins over the root default # istio-system;default;;['./*'],sample;default;;[./curl.sample.svc.cluster.local] # " + CURL,
            "a selecting Sidecar wins over the namespace default # sample;default;;['./*'],sample;curl;{app: curl};[./helloworld.sample.svc.cluster.local] # " + HELLOWORLD,
            "a selector that does not match is not used # sample;default;;[./curl.sample.svc.cluster.local],sample;other;{app: other};['./*'] # " + CURL,
            "another namespace's default is not used # other;default;;['~/*'] # " + HELLOWORLD + " " + CURL,
    })
    void scopesTheOutboundClusters(String name, String sidecars, String expected) {
        StringBuilder yaml = new StringBuilder();
        if (sidecars != null) {
            int i = 0;
            for (String s : sidecars.split(",(?=[a-z-]+;)")) {
                String[] f = s.split(";", -1);
                yaml.append(sidecar(f[0].trim(), f[1].trim(), f[2].trim(), f[3].trim(),
                        "2026-11-27T00:00:0" + i++ + "Z"));
            }
        }
        ProxyResources resources = PolicyFixture.translate(MeshFixture.westCurlSidecar(), yaml.toString());

        List<String> outbound = resources.clusters().stream().map(Cluster::getName)
                .filter(c -> c.startsWith("outbound|")).sorted().toList();
        assertThat(outbound).as(name).containsExactlyInAnyOrderElementsOf(
                expected == null ? List.of() : List.of(expected.trim().split(" +")));
    }
}
