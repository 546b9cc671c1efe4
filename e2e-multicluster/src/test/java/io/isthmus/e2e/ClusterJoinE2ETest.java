package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.isthmus.meshctl.Meshctl;
import io.isthmus.topologies.ClusterSpec;
import io.isthmus.topologies.DemoScenario;
import io.isthmus.topologies.DemoTraffic;
import io.isthmus.topologies.LocalMesh;
import io.isthmus.topologies.PortSpec;
import io.isthmus.topologies.WorkloadSpec;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.Pem;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Issue 9, "Done when", and issue 4 item 4: two primaries (east, west) run as a mesh; a third
 * cluster, north, is brought up next to it (its own API server, a controller waiting with
 * {@code --raft-join}), and {@code meshctl cluster join} (in-process, through its picocli entry point)
 * issues north's intermediate under the mesh root, writes the remote secrets both ways and adds
 * north's controller to the Raft group. Then north's client reaches helloworld in east (through
 * east's east-west gateway: north is on another network) with mTLS, its certificate issued by
 * north's new intermediate; {@code meshctl federation status} shows three members; the time from
 * the join command's start to the first answered request is measured and printed.
 *
 * <p>First, the failure case: joining a cluster whose {@code cacerts} chain to another root fails
 * with one line and changes nothing in either cluster or in the group.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterJoinE2ETest {

    private static final Logger log = LoggerFactory.getLogger(ClusterJoinE2ETest.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Duration JOIN_GOAL = Duration.ofSeconds(30);

    @TempDir
    static Path runDir;

    private static LocalMesh mesh;

    @BeforeAll
    static void startMesh() {
        mesh = OwnMesh.start(ClusterJoinE2ETest.class, OwnMesh.topology("/cluster-join.yaml"), runDir,
                Duration.ofMinutes(3));
    }

    @AfterAll
    static void stopMesh() throws IOException {
        OwnMesh.stop(mesh);
    }

    @Test
    @Order(1)
    void joiningAClusterUnderAnotherRootFailsInOneLineAndChangesNothing() {
        mesh.addCluster(new ClusterSpec("rogue", "net3", "ap-south", "ap-south-1a", ""), List.of(),
                Duration.ofSeconds(60));
        CertificateAuthority otherRoot = CertificateAuthority.createRoot("Rogue", Duration.ofDays(30));
        try (KubernetesClient rogue = mesh.apiServer("rogue").newClient()) {
            rogue.resource(new SecretBuilder().withNewMetadata().withName("cacerts").withNamespace("istio-system")
                    .endMetadata().withType("Opaque")
                    .withStringData(otherRoot.createIntermediate("rogue", Duration.ofDays(10)).toCacerts()).build())
                    .create();
        }
        List<String> eastBefore = secrets("east");
        List<String> rogueBefore = secrets("rogue");

        Run join = meshctl("cluster", "join", "--context", "rogue", "--mesh", "east", "--run-dir", runDir.toString(),
                "--root-key", mesh.rootKeyFile().toString());

        assertThat(join.code()).as("exit code; out: %s", join.out()).isEqualTo(1);
        assertThat(join.err().strip().lines().toList()).as("stderr").hasSize(1);
        assertThat(join.err()).startsWith("meshctl: cluster join rogue (mesh east): rogue already has istio-system/cacerts"
                + " under another root").contains("nothing was changed");
        assertThat(secrets("east")).as("east's Secrets (namespace/name@resourceVersion) after the refused join")
                .isEqualTo(eastBefore).noneMatch(s -> s.contains("istio-remote-secret-"));
        assertThat(secrets("rogue")).as("rogue's Secrets (namespace/name@resourceVersion) after the refused join")
                .isEqualTo(rogueBefore).noneMatch(s -> s.contains("istio-remote-secret-"));
        assertThat(members("east")).as("Raft members after the refused join").containsExactly("east", "west");
    }

    @Test
    @Order(2)
    void aJoinedPrimaryServesItsClientCrossClusterWithMtlsUnderTheSharedRoot() throws Exception {
        WorkloadSpec curl = new WorkloadSpec("curl", "north", "sample", Optional.empty(), "curl",
                Map.of("app", "curl", "version", "v1"), List.<PortSpec>of(), WorkloadSpec.Role.CLIENT);
        mesh.addCluster(new ClusterSpec("north", "net2", "eu-north", "eu-north-1a", ""), List.of(curl),
                Duration.ofSeconds(60));
        // The new cluster's controller is deployed first; it waits for the cacerts the join writes.
        mesh.startJoiningController("north");
        // Its JVM start is the deployment's, not the join's: the measure starts once it waits for its CA.
        Path controllerLog = runDir.resolve("north").resolve("controller.log");
        await("the joining controller logging what it waits for (" + controllerLog + ")")
                .atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100))
                .until(() -> Files.readString(controllerLog).contains("waiting: "));

        String rootKey = mesh.rootKeyFile().toString();
        long joinStart = System.nanoTime();
        java.util.concurrent.atomic.AtomicLong joinedAt = new java.util.concurrent.atomic.AtomicLong();
        CompletableFuture<Run> joining = CompletableFuture.supplyAsync(() -> {
            Run r = meshctl("cluster", "join", "--context", "north", "--mesh", "east", "--run-dir", runDir.toString(),
                    "--root-key", rootKey);
            joinedAt.set(System.nanoTime());
            return r;
        });
        // North's pods are deployed with it: their gateway and sidecar start once its controller
        // listens (the join wrote its cacerts), and are ready once the join added it to the group.
        mesh.startDataPlane("north", Duration.ofSeconds(90));
        long dataPlaneUp = System.nanoTime();
        Run join = joining.get(90, TimeUnit.SECONDS);
        long joined = joinedAt.get();
        assertThat(join.code()).as("meshctl cluster join exit code; stderr: %s; logs in %s", join.err(), runDir)
                .isZero();
        assertThat(join.out()).contains("cluster north: intermediate CA issued under",
                "cluster east: remote secret istio-system/istio-remote-secret-north applied",
                "cluster north: remote secret istio-system/istio-remote-secret-east applied",
                "federation: north (" + mesh.topology().controllerAddress("north") + ":" + LocalMesh.RAFT_PORT
                        + ") added", "joined north to the mesh of east");

        DemoScenario scenario = DemoScenario.of(mesh.topology());
        assertThat(scenario.client()).isEqualTo(mesh.topology().workload("curl"));
        List<String> failures = new ArrayList<>();
        DemoTraffic.Answer first = await("a first answer to the client after the join")
                .atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100))
                .until(() -> {
                    DemoTraffic.Burst b = DemoTraffic.send(mesh, scenario, 1);
                    failures.addAll(b.errors());
                    return b.answers().isEmpty() ? null : b.answers().get(0);
                }, a -> a != null);
        long firstAnswer = System.nanoTime();
        Duration joinToFirst = Duration.ofNanos(firstAnswer - joinStart);
        log.info("CLUSTER JOIN: join-to-first-request {} ms (meshctl cluster join returned after {} ms, north's"
                        + " gateway and sidecar ready after {} ms, first answer {} ms after both, {} failed attempts"
                        + " before it)", joinToFirst.toMillis(), (joined - joinStart) / 1_000_000,
                (dataPlaneUp - joinStart) / 1_000_000, (firstAnswer - Math.max(joined, dataPlaneUp)) / 1_000_000,
                failures.size());
        System.out.printf("CLUSTER JOIN: join-to-first-request %d ms (goal <= %d s)%n", joinToFirst.toMillis(),
                JOIN_GOAL.toSeconds());

        String eastGateway = mesh.topology().gatewayAddress("east");
        assertThat(first.cluster()).as("who answered north's client").isEqualTo("east");
        assertThat(first.path()).as("the path from north (net2) to east (net1)").contains(eastGateway);
        assertThat(first.callerIdentity()).as("the caller identity east's sidecar verified (mTLS)")
                .contains(curl.identity("cluster.local"));
        assertThat(joinToFirst).as("join-to-first-request time").isLessThan(JOIN_GOAL.multipliedBy(2));

        // North's client certificate: issued by the intermediate the join put in north's cacerts,
        // which the mesh root signed.
        X509Certificate root = Pem.decodeCertificate(Files.readString(mesh.rootCertFile()));
        X509Certificate intermediate;
        try (KubernetesClient north = mesh.apiServer("north").newClient()) {
            Secret cacerts = north.secrets().inNamespace("istio-system").withName("cacerts").get();
            assertThat(cacerts).as("north's istio-system/cacerts, written by the join").isNotNull();
            // The embedded API server keeps stringData as written (a real one folds it into data).
            String pem = cacerts.getStringData() != null && cacerts.getStringData().containsKey("ca-cert.pem")
                    ? cacerts.getStringData().get("ca-cert.pem")
                    : new String(Base64.getDecoder().decode(cacerts.getData().get("ca-cert.pem")),
                            StandardCharsets.UTF_8);
            intermediate = Pem.decodeCertificate(pem);
        }
        JsonNode certs = JSON.readTree(E2eSupport.get(mesh.sidecarAdminUrl(scenario.client()) + "/certs"));
        List<X509Certificate> chain = Pem.decodeCertificates(certs.path("chainPem").asString());
        assertThat(certs.path("identity").asString()).isEqualTo(curl.identity("cluster.local"));
        assertThat(chain).as("north's client certificate chain").hasSizeGreaterThanOrEqualTo(2);
        assertThat(chain.get(1)).as("the issuer of north's client certificate").isEqualTo(intermediate);
        chain.get(0).verify(intermediate.getPublicKey());
        intermediate.verify(root.getPublicKey());

        // Ten more, all answered by east with north's client identity.
        DemoTraffic.Burst burst = DemoTraffic.send(mesh, scenario, 10);
        assertThat(burst.errors()).as("failed requests after the first success").isEmpty();
        assertThat(burst.clusters()).containsOnly("east");

        Run status = meshctl("federation", "status", "--run-dir", runDir.toString());
        assertThat(status.code()).as("meshctl federation status; stderr: %s", status.err()).isZero();
        log.info("meshctl federation status:\n{}", status.out());
        assertThat(members("north")).as("Raft members seen by north").containsExactly("east", "north", "west");
        String peers = status.out().lines().filter(l -> l.startsWith("north") || l.startsWith("east")
                || l.startsWith("west")).findFirst().orElse("");
        assertThat(peers).as("a PEER row of meshctl federation status\n%s", status.out()).contains("east,north,west");
        assertThat(status.out().lines().filter(l -> l.matches("^(east|west|north)\\s.*\\s(leader|follower)\\s.*")))
                .as("one PEER row per controller\n%s", status.out()).hasSize(3);
        // The remote secrets go both ways, but each primary's registration stays its own controller's:
        // north does not publish east as its remote (east's own controller address, not north's).
        String eastRow = status.out().lines().filter(l -> l.matches("^east\\s+net\\S*\\s.*"))
                .findFirst().orElse("");
        assertThat(eastRow).as("east's CLUSTER row\n%s", status.out())
                .contains(mesh.topology().controllerAddress("east"))
                .doesNotContain(mesh.topology().controllerAddress("north"));
        assertThat(mesh.unexpectedExits()).isEmpty();
    }

    private static List<String> secrets(String cluster) {
        try (KubernetesClient client = mesh.apiServer(cluster).newClient()) {
            return client.secrets().inAnyNamespace().list().getItems().stream()
                    .map(s -> s.getMetadata().getNamespace() + "/" + s.getMetadata().getName() + "@"
                            + s.getMetadata().getResourceVersion())
                    .sorted().toList();
        }
    }

    private static List<String> members(String cluster) {
        JsonNode status = JSON.readTree(E2eSupport.get(mesh.controllerAdminUrl(cluster) + "/federation/status"));
        TreeSet<String> members = new TreeSet<>();
        status.path("status").path("members").forEach(m -> members.add(m.asString()));
        return List.copyOf(members);
    }

    private record Run(int code, String out, String err) {}

    private static Run meshctl(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Meshctl.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
        log.info("meshctl {} → {}\n{}{}", String.join(" ", args), code, out, err);
        return new Run(code, out.toString(), err.toString());
    }
}
