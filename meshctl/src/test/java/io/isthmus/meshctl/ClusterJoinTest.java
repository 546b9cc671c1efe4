package io.isthmus.meshctl;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.isthmus.topologies.kube.EmbeddedApiServer;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.Pem;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code meshctl cluster join} against two embedded API servers (the mesh's primary east, the joining ap):
 * the intermediate issued under the mesh root, remote secrets in both directions, the membership request
 * in the admin API's contract; and when a step fails, every earlier change undone.
 *
 * <p>The admin endpoint is a JDK HTTP server that records requests and answers as the controller's
 * {@code FederationRoutes} documents (200 with the members, or an error status with {"error": ...}):
 * a real one needs a running Raft group, which the e2e tier covers.
 */
class ClusterJoinTest {

    @TempDir
    static Path run;

    private static EmbeddedApiServer east;
    private static EmbeddedApiServer ap;
    private static CertificateAuthority root;
    private static Path rootKey;

    private HttpServer admin;
    // The new controller's Raft port: the join waits until it accepts connections.
    private java.net.ServerSocket raft;
    private String raftAddress;
    private final List<String> requests = new CopyOnWriteArrayList<>();
    private volatile int addStatus = 200;

    @BeforeAll
    static void start() throws IOException {
        east = EmbeddedApiServer.start("east", "127.0.0.1", 0);
        ap = EmbeddedApiServer.start("ap", "127.0.0.1", 0);
        east.writeKubeconfig(run.resolve("east").resolve("kubeconfig"));
        ap.writeKubeconfig(run.resolve("ap").resolve("kubeconfig"));
        root = CertificateAuthority.createRoot("Mesh", Duration.ofDays(10));
        rootKey = Files.writeString(run.resolve("root-key.pem"), root.toCacerts().get("ca-key.pem"));
        try (KubernetesClient client = east.newClient()) {
            client.resource(new NamespaceBuilder().withNewMetadata().withName("istio-system").endMetadata().build()).create();
            client.resource(new SecretBuilder().withNewMetadata().withName("cacerts").withNamespace("istio-system")
                    .endMetadata().withStringData(root.createIntermediate("east", Duration.ofDays(1)).toCacerts()).build())
                    .create();
        }
    }

    @AfterAll
    static void stop() {
        east.close();
        ap.close();
    }

    @BeforeEach
    void adminEndpoint() throws IOException {
        admin = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        admin.createContext("/federation/members", exchange -> {
            String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            requests.add(exchange.getRequestMethod() + " " + exchange.getRequestURI().getPath() + " " + body);
            int status = exchange.getRequestMethod().equals("POST") ? addStatus : 200;
            byte[] answer = (status == 200 ? "{\"members\":[\"east\",\"ap\"]}"
                    : "{\"error\":\"no quorum: the joining peer is unreachable\"}").getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(status, answer.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(answer);
            }
        });
        admin.start();
        raft = new java.net.ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        raftAddress = "127.0.0.1:" + raft.getLocalPort();
    }

    @AfterEach
    void cleanUp() throws IOException {
        admin.stop(0);
        raft.close();
        for (EmbeddedApiServer api : List.of(east, ap)) {
            try (KubernetesClient client = api.newClient()) {
                client.secrets().inNamespace("istio-system").withLabel("istio/multiCluster", "true").delete();
            }
        }
        try (KubernetesClient client = ap.newClient()) {
            client.namespaces().withName("istio-system").delete();
            client.secrets().inNamespace("istio-system").withName("cacerts").delete();
        }
    }

    @Test
    void joinIssuesTheIntermediateWritesBothSecretsAndAddsTheRaftMember() throws Exception {
        CliRunner r = CliRunner.run("cluster", "join", "--context", "ap", "--mesh", "east", "--run-dir", run.toString(),
                "--root-key", rootKey.toString(), "--mesh-admin", "127.0.0.1:" + admin.getAddress().getPort(),
                "--raft-address", raftAddress);

        assertThat(r.code).as(r.err()).isZero();
        assertThat(r.out()).contains("cluster ap: intermediate CA issued under CN=Mesh Root CA,O=Mesh",
                "cluster east: remote secret istio-system/istio-remote-secret-ap applied",
                "cluster ap: remote secret istio-system/istio-remote-secret-east applied",
                "federation: ap (" + raftAddress + ") added", "joined ap to the mesh of east");
        assertThat(r.err()).contains("warning: the remote secret of ap carries the kubeconfig's own token");
        assertThat(requests).containsExactly("POST /federation/members {\"id\":\"ap\",\"address\":\"" + raftAddress
                + "\"}");

        try (KubernetesClient apClient = ap.newClient(); KubernetesClient eastClient = east.newClient()) {
            Map<String, String> cacerts = InventoryCollector.files(apClient.secrets().inNamespace("istio-system")
                    .withName("cacerts").get());
            X509Certificate intermediate = Pem.decodeCertificate(cacerts.get("ca-cert.pem"));
            assertThat(MeshAnalyzer.signedBy(intermediate, root.root())).isTrue();
            assertThat(intermediate.getSubjectX500Principal().getName()).contains("CN=Intermediate CA ap");
            // The controller will load it: Istio's four files, consistent.
            assertThat(CertificateAuthority.fromCacerts(cacerts).root()).isEqualTo(root.root());

            Secret inEast = eastClient.secrets().inNamespace("istio-system").withName("istio-remote-secret-ap").get();
            assertThat(inEast.getMetadata().getLabels()).containsEntry("istio/multiCluster", "true");
            assertThat(inEast.getMetadata().getAnnotations()).containsEntry("networking.istio.io/cluster", "ap");
            assertThat(InventoryCollector.files(inEast).get("ap")).contains("server: " + ap.url());
            Secret inAp = apClient.secrets().inNamespace("istio-system").withName("istio-remote-secret-east").get();
            assertThat(InventoryCollector.files(inAp).get("east")).contains("server: " + east.url());
        }

        // The result passes analyze's checks of CAs and remote secrets.
        CliRunner analyze = CliRunner.run("analyze", "--run-dir", run.toString());
        assertThat(analyze.out()).doesNotContain("IST0906", "IST0907", "IST0908");
    }

    @Test
    void aRefusedMembershipChangeRollsEverythingBack() {
        addStatus = 503;

        CliRunner r = CliRunner.run("cluster", "join", "--context", "ap", "--mesh", "east", "--run-dir", run.toString(),
                "--root-key", rootKey.toString(), "--mesh-admin", "127.0.0.1:" + admin.getAddress().getPort(),
                "--raft-address", raftAddress, "--timeout", "2");

        assertThat(r.code).isEqualTo(1);
        // 503 means "not committed yet": asked (again) until the timeout, then undone.
        assertThat(requests).isNotEmpty().allMatch(q -> q.startsWith("POST /federation/members "));
        assertThat(r.err().lines().filter(l -> !l.contains("warning:")).toList()).singleElement().asString()
                .startsWith("meshctl: cluster join ap (mesh east): controller 127.0.0.1:" + admin.getAddress().getPort()
                        + " refused the Raft membership change: HTTP 503 no quorum: the joining peer is unreachable; "
                        + "rolled back: ")
                .contains("Secret istio-system/istio-remote-secret-east in ap created",
                        "Secret istio-system/istio-remote-secret-ap in east created",
                        "Secret istio-system/cacerts in ap created", "namespace istio-system created");
        try (KubernetesClient apClient = ap.newClient(); KubernetesClient eastClient = east.newClient()) {
            assertThat(apClient.secrets().inNamespace("istio-system").withName("cacerts").get()).isNull();
            assertThat(apClient.namespaces().withName("istio-system").get()).isNull();
            assertThat(eastClient.secrets().inNamespace("istio-system").withName("istio-remote-secret-ap").get()).isNull();
            assertThat(eastClient.secrets().inNamespace("istio-system").withName("cacerts").get()).isNotNull();
        }
    }

    @Test
    void aNewControllerThatDoesNotListenIsNeverAddedAndEverythingIsRolledBack() throws IOException {
        raft.close();

        CliRunner r = CliRunner.run("cluster", "join", "--context", "ap", "--mesh", "east", "--run-dir", run.toString(),
                "--root-key", rootKey.toString(), "--mesh-admin", "127.0.0.1:" + admin.getAddress().getPort(),
                "--raft-address", raftAddress, "--timeout", "1");

        assertThat(r.code).isEqualTo(1);
        assertThat(r.err().lines().filter(l -> !l.contains("warning:")).toList()).singleElement().asString()
                .startsWith("meshctl: cluster join ap (mesh east): the controller of ap does not listen on its Raft address "
                        + raftAddress + " after 1 s")
                .contains("start it before the join with --raft-join", "rolled back: ",
                        "Secret istio-system/istio-remote-secret-ap in east created");
        assertThat(requests).as("membership requests").isEmpty();
        try (KubernetesClient apClient = ap.newClient(); KubernetesClient eastClient = east.newClient()) {
            assertThat(apClient.secrets().inNamespace("istio-system").withName("cacerts").get()).isNull();
            assertThat(eastClient.secrets().inNamespace("istio-system").withName("istio-remote-secret-ap").get()).isNull();
        }
    }

    @Test
    void aClusterUnderAnotherRootIsRefusedBeforeAnyChange() {
        CertificateAuthority rogue = CertificateAuthority.createRoot("Rogue", Duration.ofDays(1));
        try (KubernetesClient client = ap.newClient()) {
            client.resource(new NamespaceBuilder().withNewMetadata().withName("istio-system").endMetadata().build()).create();
            client.resource(new SecretBuilder().withNewMetadata().withName("cacerts").withNamespace("istio-system")
                    .endMetadata().withStringData(rogue.createIntermediate("ap", Duration.ofDays(1)).toCacerts()).build())
                    .create();
        }

        CliRunner r = CliRunner.run("cluster", "join", "--context", "ap", "--mesh", "east", "--run-dir", run.toString(),
                "--root-key", rootKey.toString(), "--mesh-admin", "127.0.0.1:" + admin.getAddress().getPort());

        assertThat(r.code).isEqualTo(1);
        assertThat(r.err()).contains("meshctl: cluster join ap (mesh east): ap already has istio-system/cacerts under "
                + "another root (CN=Rogue Root CA,O=Rogue; the mesh root is CN=Mesh Root CA,O=Mesh)", "nothing was changed");
        assertThat(requests).isEmpty();
        try (KubernetesClient eastClient = east.newClient()) {
            assertThat(eastClient.secrets().inNamespace("istio-system").withName("istio-remote-secret-ap").get()).isNull();
        }
    }

    @Test
    void missingRootKeyAndUnknownClustersAreUsageErrors() {
        CliRunner noKey = CliRunner.run("cluster", "join", "--context", "ap", "--mesh", "east", "--run-dir", run.toString(),
                "--mesh-admin", "127.0.0.1:" + admin.getAddress().getPort());
        assertThat(noKey.code).isEqualTo(2);
        assertThat(noKey.err()).contains("--root-key: missing: ap has no istio-system/cacerts");
        assertThat(CliRunner.run("cluster", "join", "--context", "mars", "--mesh", "east", "--run-dir", run.toString())
                .code).isEqualTo(2);
        assertThat(CliRunner.run("cluster", "join", "--context", "ap", "--mesh", "ap", "--run-dir", run.toString())
                .code).isEqualTo(2);
        assertThat(CliRunner.run("cluster", "join", "--context", "ap", "--run-dir", run.toString()).code).isEqualTo(2);
        assertThat(requests).isEmpty();
    }
}
