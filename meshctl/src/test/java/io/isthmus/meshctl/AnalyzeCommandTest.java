package io.isthmus.meshctl;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.ServicePortBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.topologies.kube.EmbeddedApiServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/**
 * {@code meshctl analyze} against two embedded API servers (east on net1, eu on net2) read through a run
 * directory: a healthy mesh first, then broken objects written into the clusters, each reported with its
 * code, and the exit codes 0, 1 and 2.
 */
class AnalyzeCommandTest {

    @TempDir
    static Path run;

    private static EmbeddedApiServer east;
    private static EmbeddedApiServer eu;
    private static ServerSocket eastGateway;
    private static ServerSocket euGateway;
    /** Holds the port of a remote secret's server that is gone. */
    private static Socket ghost;

    @BeforeAll
    static void startClusters() throws IOException {
        east = EmbeddedApiServer.start("east", "127.0.0.1", 0);
        eu = EmbeddedApiServer.start("eu", "127.0.0.1", 0);
        east.writeKubeconfig(run.resolve("east").resolve("kubeconfig"));
        eu.writeKubeconfig(run.resolve("eu").resolve("kubeconfig"));
        // The gateways' Services point at real listeners, so "reachable" is measured, not assumed.
        eastGateway = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        euGateway = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        CertificateAuthority root = CertificateAuthority.createRoot("Mesh", Duration.ofDays(10));
        populate(east, "net1", eastGateway.getLocalPort(), root.createIntermediate("east", Duration.ofDays(1)));
        populate(eu, "net2", euGateway.getLocalPort(), root.createIntermediate("eu", Duration.ofDays(1)));
    }

    @AfterAll
    static void stopClusters() throws IOException {
        eastGateway.close();
        euGateway.close();
        if (ghost != null) {
            ghost.close();
        }
        east.close();
        eu.close();
    }

    @Test
    void healthyThenBrokenMesh() throws Exception {
        CliRunner healthy = CliRunner.run("analyze", "--run-dir", run.toString());
        assertThat(healthy.err()).isEmpty();
        assertThat(healthy.out()).isEqualTo("No validation issues found when analyzing clusters east, eu.\n");
        assertThat(healthy.code).isZero();

        // A warning alone keeps exit code 0.
        Path dr = run.resolve("dr.yaml");
        Files.writeString(dr, """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: helloworld, namespace: sample}
                spec:
                  host: helloworld.sample.svc.cluster.local
                  trafficPolicy:
                    loadBalancer:
                      localityLbSetting:
                        failover: [{from: us-east, to: eu-central}]
                """);
        assertThat(CliRunner.run("apply", "-f", dr.toString(), "--context", "eu", "--run-dir", run.toString()).code)
                .isZero();
        CliRunner warned = CliRunner.run("analyze", "--run-dir", run.toString());
        assertThat(warned.out().lines()).singleElement().asString()
                .startsWith("Warning [IST0902] (DestinationRule sample/helloworld) in cluster eu: ");
        assertThat(warned.code).isZero();

        // Remote secrets: one that works (no finding), one whose server is gone, one that does not parse.
        // Bound but not listening: connections are refused, and no other socket can take the port.
        ghost = new Socket();
        ghost.bind(new InetSocketAddress(0));
        int closedPort = ghost.getLocalPort();
        Map<String, String> entries = new LinkedHashMap<>();
        entries.put("eu", eu.kubeconfig());
        entries.put("ghost", eu.kubeconfig().replace(eu.url(), "https://127.0.0.1:" + closedPort));
        entries.put("garbage", "clusters: [: nope");
        try (KubernetesClient client = east.newClient()) {
            client.resource(new SecretBuilder().withNewMetadata().withName("istio-remote-secret-eu")
                    .withNamespace("istio-system").withLabels(Map.of("istio/multiCluster", "true"))
                    .withAnnotations(Map.of("networking.istio.io/cluster", "eu")).endMetadata()
                    .withStringData(entries).build()).create();
            // The same Service with another port in east.
            client.resource(new ServiceBuilder().withNewMetadata().withName("helloworld").withNamespace("sample")
                    .endMetadata().withNewSpec().withPorts(new ServicePortBuilder().withName("http").withPort(5001)
                            .build()).endSpec().build()).update();
        }
        euGateway.close();

        CliRunner broken = CliRunner.run("analyze", "--run-dir", run.toString());
        assertThat(broken.code).isEqualTo(1);
        assertThat(broken.out().lines()).as(broken.out()).extracting(l -> l.substring(0, l.indexOf(')') + 1)).containsExactly(
                "Error [IST0905] (Network net2)",
                "Error [IST0907] (Secret istio-system/istio-remote-secret-eu)",
                "Error [IST0908] (Secret istio-system/istio-remote-secret-eu)",
                "Warning [IST0902] (DestinationRule sample/helloworld)",
                "Warning [IST0903] (Service sample/helloworld)");
        assertThat(broken.out()).contains("entry 'ghost': https://127.0.0.1:" + closedPort + ": unreachable",
                "entry 'garbage': its kubeconfig does not parse", "east: http 5001/HTTP; eu: http 5000/HTTP",
                "127.0.0.1:" + euGateway.getLocalPort() + ": TCP connect failed");

        // -n keeps cluster-wide findings and the namespace's; -o json carries the same findings.
        CliRunner json = CliRunner.run("analyze", "--run-dir", run.toString(), "-n", "istio-system", "-o", "json");
        JsonNode findings = AdminClient.JSON.readTree(json.out());
        assertThat(findings).extracting(f -> f.path("code").asString()).containsExactly("IST0905", "IST0907", "IST0908");
        assertThat(findings.get(0).path("level").asString()).isEqualTo("Error");
        assertThat(findings.get(0).path("name").asString()).isEqualTo("NetworkWithoutReachableGateway");

        // One cluster alone: no cross-cluster comparison, no network check.
        CliRunner onlyEu = CliRunner.run("analyze", "--run-dir", run.toString(), "--context", "eu");
        assertThat(onlyEu.out().lines()).singleElement().asString().startsWith("Warning [IST0902]");
    }

    @Test
    void usageErrorsExit2AndAnUnreachableClusterIsAnError() throws IOException {
        CliRunner mars = CliRunner.run("analyze", "--run-dir", run.toString(), "--context", "mars");
        assertThat(mars.code).isEqualTo(2);
        assertThat(mars.err().strip()).isEqualTo("meshctl: --context mars: no cluster 'mars' in run directory " + run
                + " (expected one of [east, eu])");
        assertThat(CliRunner.run("analyze", "--run-dir", run.toString(), "-o", "xml").code).isEqualTo(2);
        assertThat(CliRunner.run("analyze", "--run-dir", run.resolve("nowhere").toString()).code).isEqualTo(2);

        Path dead = Files.createTempDirectory(run, "dead");
        Files.createDirectories(dead.resolve("gone"));
        Files.writeString(dead.resolve("gone").resolve("kubeconfig"), eu.kubeconfig().replace(eu.url(),
                "https://127.0.0.1:1"));
        CliRunner gone = CliRunner.run("analyze", "--run-dir", dead.toString());
        assertThat(gone.code).isEqualTo(1);
        assertThat(gone.out()).startsWith("Error [IST0901] (Cluster gone) API server not readable: https://127.0.0.1:1: unreachable");
    }

    private static void populate(EmbeddedApiServer api, String network, int gatewayPort, CertificateAuthority ca) {
        try (KubernetesClient client = api.newClient()) {
            client.resource(new NamespaceBuilder().withNewMetadata().withName("istio-system")
                    .withLabels(Map.of("topology.istio.io/network", network)).endMetadata().build()).create();
            client.resource(new NamespaceBuilder().withNewMetadata().withName("sample").endMetadata().build()).create();
            client.resource(new SecretBuilder().withNewMetadata().withName("cacerts").withNamespace("istio-system")
                    .endMetadata().withStringData(ca.toCacerts()).build()).create();
            client.resource(new ServiceBuilder().withNewMetadata().withName("istio-eastwestgateway")
                    .withNamespace("istio-system").withLabels(Map.of("istio", "eastwestgateway",
                            "topology.istio.io/network", network)).endMetadata()
                    .withNewSpec().withType("LoadBalancer").withExternalIPs("127.0.0.1")
                    .withPorts(new ServicePortBuilder().withName("tls").withPort(gatewayPort).build())
                    .endSpec().build()).create();
            client.resource(new ServiceBuilder().withNewMetadata().withName("helloworld").withNamespace("sample")
                    .endMetadata().withNewSpec().withPorts(new ServicePortBuilder().withName("http").withPort(5000)
                            .build()).endSpec().build()).create();
        }
    }
}
