package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Sidecar {@code egress[].port} and {@code outboundTrafficPolicy} on west's curl sidecar (the mesh
 * has helloworld.sample:5000 and curl.sample:80): a table of ports → outbound clusters, and golden
 * files of virtualOutbound with the Passthrough/BlackHole chain ({@code golden/sidecar-outbound-*.json},
 * refresh with {@code -Dgolden.refresh=true}).
 */
class SidecarEgressTest {

    private static final Path GOLDEN_DIR = Path.of("src", "test", "resources", "golden");
    private static final String HELLOWORLD = "outbound|5000||helloworld.sample.svc.cluster.local";
    private static final String CURL = "outbound|80||curl.sample.svc.cluster.local";

    private static ProxyResources translate(String spec) {
        String yaml = "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default, namespace: sample}\n"
                + "spec:\n" + spec.indent(2);
        return PolicyFixture.translate(MeshFixture.westCurlSidecar(), yaml);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '#', value = {
            "no port: every port # egress: [{hosts: ['./*']}] # " + HELLOWORLD + " " + CURL,
            "port 5000 only # egress: [{port: {number: 5000, protocol: HTTP, name: http}, hosts: ['./*']}] # " + HELLOWORLD,
            "port 80 only # egress: [{port: {number: 80}, hosts: ['./*']}] # " + CURL,
            "a port no matching service has # egress: [{port: {number: 9080}, hosts: ['./*']}] # ",
            "port 5000 for a host without it # egress: [{port: {number: 5000}, hosts: [./curl.sample.svc.cluster.local]}] # ",
            "a port listener and an all-ports one # 'egress: [{port: {number: 5000}, hosts: [''./*'']}, {hosts: [./curl.sample.svc.cluster.local]}]' # "
                    + HELLOWORLD + " " + CURL,
            "two port listeners # 'egress: [{port: {number: 5000}, hosts: [''./*'']}, {port: {number: 80}, hosts: [''./*'']}]' # "
                    + HELLOWORLD + " " + CURL,
    })
    void egressPortsNarrowTheOutboundClusters(String name, String spec, String expected) {
        List<String> outbound = translate(spec).clusters().stream().map(Cluster::getName)
                .filter(c -> c.startsWith("outbound|")).sorted().toList();
        assertThat(outbound).isEqualTo(expected == null ? List.of() : List.of(expected.trim().split(" ")));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '#', value = {
            "allow-any # outboundTrafficPolicy: {mode: ALLOW_ANY} # true",
            "registry-only # outboundTrafficPolicy: {mode: REGISTRY_ONLY} # false",
            "unset # egress: [{hosts: ['./*']}] # true",
    })
    void outboundTrafficPolicyGivesVirtualOutboundItsDefaultChain(String name, String spec, boolean passthrough)
            throws IOException {
        ProxyResources r = translate(spec);
        Listener outbound = r.listeners().stream().filter(l -> l.getName().equals(ResourceNames.VIRTUAL_OUTBOUND))
                .findFirst().orElseThrow();
        List<Cluster> passthroughClusters = r.clusters().stream()
                .filter(c -> c.getName().equals(SidecarTranslator.PASSTHROUGH_CLUSTER)).toList();
        assertThat(passthroughClusters).hasSize(passthrough ? 1 : 0);
        StringBuilder actual = new StringBuilder(ResourcesJson.toJson(outbound)).append("\n");
        passthroughClusters.forEach(c -> actual.append(ResourcesJson.toJson(c)).append("\n"));
        Path golden = GOLDEN_DIR.resolve("sidecar-outbound-" + name + ".json");
        if (Boolean.getBoolean("golden.refresh")) {
            Files.writeString(golden, actual, StandardCharsets.UTF_8);
        }
        assertThat(golden).as("golden file (create it with -Dgolden.refresh=true)").exists();
        assertThat(actual.toString()).isEqualTo(Files.readString(golden, StandardCharsets.UTF_8));
    }
}
