package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.isthmus.topologies.Check;
import io.isthmus.topologies.ClusterSpec;
import io.isthmus.topologies.DemoScenario;
import io.isthmus.topologies.DemoTraffic;
import io.isthmus.topologies.DemoVerifier;
import io.isthmus.topologies.LocalMesh;
import io.isthmus.topologies.MeshComponent;
import io.isthmus.topologies.NetworkMode;
import io.isthmus.topologies.Topology;
import io.isthmus.topologies.WorkloadSpec;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
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

/**
 * topologies/multi-primary-multi-network.yaml with each cluster in its own network namespace
 * (needs root; CI runs as root), on 10.201-203.x.x with namespaces isthmus201-p<pid36>-*: cross-network
 * requests succeed only through eu's east-west gateway, a direct connection from west's namespace
 * to eu's pod is reset by the router's firewall, the gateway relays no service the mesh does not
 * export, an unmodified client in the curl pod's own namespace calls helloworld by name and is
 * captured by its sidecar both ways (outbound 15001, DNS proxy, the server's inbound 15006), and
 * killing eu's gateway moves helloworld's traffic to east within 2 s. Runs wherever
 * network namespaces can be made (root, iproute2, iptables), skips and says why elsewhere.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class NetnsMultiNetworkE2ETest {

    private static final Logger log = LoggerFactory.getLogger(NetnsMultiNetworkE2ETest.class);

    @TempDir
    static Path runDir;

    private static Topology topology;
    private static DemoScenario scenario;
    private static LocalMesh mesh;

    @BeforeAll
    static void startMeshInNamespaces() throws IOException {
        Optional<String> unavailable = LocalMesh.networkNamespacesUnavailable();
        assumeTrue(unavailable.isEmpty(), () -> "skipped: " + unavailable.orElse("") + " (this test runs each"
                + " cluster in its own network namespace; CI runs it as root)");
        topology = OwnMesh.topology("/io/isthmus/topologies/multi-primary-multi-network.yaml").withAddressBase(201);
        assertThat(topology.networkMode()).isEqualTo(NetworkMode.NETNS);
        scenario = DemoScenario.of(topology);
        mesh = OwnMesh.start(NetnsMultiNetworkE2ETest.class, topology, runDir, Duration.ofMinutes(3));
        assertThat(mesh.topology().networkMode()).isEqualTo(NetworkMode.NETNS);
        OwnMesh.awaitAnswersFrom(mesh, scenario, "east", "eu");
    }

    @AfterAll
    static void stopAndRemoveNamespaces() throws Exception {
        OwnMesh.stop(mesh);
        if (mesh != null) {
            // The pods' resolv.conf directories go with their namespaces.
            try (var left = java.nio.file.Files.list(Path.of("/etc/netns"))) {
                String ours = "isthmus201-p" + Long.toString(ProcessHandle.current().pid(), 36) + "-";
                assertThat(left.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith(ours));
            } catch (java.nio.file.NoSuchFileException none) {
                // nothing was ever written there
            }
        }
    }

    @Test
    @Order(1)
    void crossNetworkRequestsSucceedOnlyThroughTheGateway() throws Exception {
        Map<String, Double> before = new LinkedHashMap<>();
        for (ClusterSpec c : topology.clusters()) {
            before.put(c.name(), DemoVerifier.gatewayConnections(mesh, c.name()));
        }
        DemoTraffic.Burst burst = DemoTraffic.send(mesh, scenario, 30);
        List<Check> checks = DemoVerifier.verify(mesh, scenario, burst, before);
        String report = checks.stream().map(Check::line).collect(Collectors.joining("\n"));
        log.info("burst:\n{}\nchecks:\n{}", burst.table(), report);
        assertThat(checks).as("every check passes:\n%s\nlogs in %s", report, runDir).allMatch(Check::passed);
        assertThat(burst.answers()).extracting(DemoTraffic.Answer::cluster).contains("east", "eu");
        assertThat(burst.answers()).filteredOn(a -> a.cluster().equals("eu"))
                .allSatisfy(a -> assertThat(a.forwardedFor()).contains(topology.gatewayAddress("eu")));

        String euPod = topology.podIp(topology.workload("helloworld-v2"));
        String eastPod = topology.podIp(topology.workload("helloworld-v1"));
        // From curl's namespace (west, net1): east's pod directly, eu's only via its gateway.
        assertThat(connectFrom("west", eastPod, 5000)).as("west → east's pod (same network)").isTrue();
        assertThat(connectFrom("west", topology.gatewayAddress("eu"), 15443)).as("west → eu's gateway").isTrue();
        assertThat(connectFrom("west", euPod, 5000)).as("west → eu's pod directly (other network)").isFalse();
        assertThat(connectFrom("eu", eastPod, 5000)).as("eu → east's pod directly (other network)").isFalse();
    }

    /**
     * {@code ip netns exec <curl's pod> curl http://helloworld.sample:5000/hello}, as root like every
     * process of the launcher: its DNS query goes to the sidecar's DNS proxy, its connection to the
     * VIP to the outbound capture port, the request over mTLS to a helloworld pod, where the capture
     * rules hand it to that sidecar's 15006 (the app's port has no listener of the sidecar's).
     */
    @Test
    @Order(2)
    void anAppInThePodCallsTheServiceByNameAndBothSidecarsCaptureIt() throws Exception {
        WorkloadSpec curl = scenario.client();
        String podNs = mesh.podNetworkNamespace(curl).orElseThrow();
        assertThat(podNs).isEqualTo("isthmus201-p" + Long.toString(ProcessHandle.current().pid(), 36) + "-west-curl");
        List<WorkloadSpec> servers = topology.workloads().stream()
                .filter(w -> w.role() == WorkloadSpec.Role.SERVER).toList();
        Map<String, Double> capturedBefore = new LinkedHashMap<>();
        Map<String, Double> servedBefore = new LinkedHashMap<>();
        for (WorkloadSpec w : servers) {
            capturedBefore.put(w.name(), podCounter(w, CAPTURE, "direction=\"inbound\"", "decision=\"chain\""));
            servedBefore.put(w.name(), podCounter(w, REQUESTS, "reporter=\"destination\"",
                    "source_workload=\"curl\"", "connection_security_policy=\"mutual_tls\""));
        }
        double outboundBefore = podCounter(curl, CAPTURE, "direction=\"outbound\"", "decision=\"http\"");

        Map<String, String> answeredBy = new LinkedHashMap<>();
        for (String url : List.of("http://helloworld.sample.svc.cluster.local:5000/hello",
                "http://helloworld.sample:5000/hello", "http://helloworld.sample:5000/hello?again")) {
            String body = OwnMesh.run(List.of("ip", "netns", "exec", podNs, "curl", "-sS", "--max-time", "10", url));
            tools.jackson.databind.JsonNode answer = tools.jackson.databind.json.JsonMapper.builder().build()
                    .readTree(body);
            assertThat(answer.path("callerIdentity").asString()).as("%s: %s", url, body)
                    .isEqualTo("spiffe://cluster.local/ns/sample/sa/curl");
            assertThat(answer.path("path").asString()).startsWith("/hello");
            answeredBy.put(url, answer.path("pod").asString());
        }
        log.info("answered from inside {}: {}", podNs, answeredBy);
        assertThat(podCounter(curl, CAPTURE, "direction=\"outbound\"", "decision=\"http\""))
                .as("connections curl's sidecar captured on 15001").isGreaterThanOrEqualTo(outboundBefore + 3);
        for (WorkloadSpec w : servers) {
            long answers = answeredBy.values().stream().filter(p -> p.equals(topology.podName(w))).count();
            if (answers == 0) {
                continue;
            }
            assertThat(podCounter(w, REQUESTS, "reporter=\"destination\"", "source_workload=\"curl\"",
                    "connection_security_policy=\"mutual_tls\""))
                    .as("%s's sidecar served curl's requests over mTLS", w.name())
                    .isGreaterThanOrEqualTo(servedBefore.get(w.name()) + answers);
        }
        // The requests above may ride pooled connections opened before; a fresh one from another
        // pod's namespace (the gateway's) to the app's port lands on the capture port 15006 too.
        for (WorkloadSpec w : servers) {
            int port = w.ports().get(0).targetPort();
            assertThat(connectFrom(w.cluster(), topology.podIp(w), port)).as("%s → %s:%d", w.cluster(),
                    topology.podIp(w), port).isTrue();
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5)).untilAsserted(() ->
                    assertThat(podCounter(w, CAPTURE, "direction=\"inbound\"", "decision=\"chain\""))
                            .as("%s's sidecar took the connection to its app's port %d on 15006", w.name(), port)
                            .isGreaterThan(capturedBefore.get(w.name())));
        }
    }

    @Test
    @Order(3)
    void theGatewayRelaysNoServiceTheMeshDoesNotExport() throws Exception {
        String gateway = topology.gatewayAddress("eu");
        double unknownBefore = gatewayCounter("eu", "isthmus_gateway_rejected_connections_total", "reason=\"unknown_sni\"");
        // The API server's Service exists in every real cluster but is no mesh service.
        byte[] notExported = sendHello(gateway, "outbound_.443_._.kubernetes.default.svc.cluster.local");
        assertThat(notExported).as("bytes back for a service the mesh does not export").isEmpty();
        assertThat(gatewayCounter("eu", "isthmus_gateway_rejected_connections_total", "reason=\"unknown_sni\""))
                .isEqualTo(unknownBefore + 1);
        // The control: the exported service's SNI is relayed to eu's sidecar, which answers the hello.
        byte[] exported = sendHello(gateway, "outbound_.5000_._.helloworld.sample.svc.cluster.local");
        assertThat(exported).as("the sidecar's TLS answer, relayed").isNotEmpty();
    }

    @Test
    @Order(4)
    void killingEusGatewayMovesTrafficToEastWithinTwoSeconds() {
        MeshComponent euGateway = mesh.components().stream()
                .filter(c -> c.kind() == MeshComponent.Kind.GATEWAY && c.cluster().equals("eu")).findFirst()
                .orElseThrow();
        long start = System.nanoTime();
        List<String> timeline = new ArrayList<>();
        long killedAt = 0;
        long lastBadAfterKill = -1;
        int failuresAfterKill = 0;
        int euBeforeKill = 0;
        while (System.nanoTime() - start < Duration.ofSeconds(8).toNanos()) {
            if (killedAt == 0 && System.nanoTime() - start > Duration.ofSeconds(2).toNanos()) {
                mesh.kill(euGateway);
                killedAt = System.nanoTime();
                timeline.add(String.format("t+%.2fs killed eu's gateway", (killedAt - start) / 1e9));
            }
            DemoTraffic.Burst one = DemoTraffic.send(mesh, scenario, 1);
            long t = System.nanoTime();
            String outcome = one.errors().isEmpty() ? one.answers().get(0).cluster() : "error: " + one.errors().get(0);
            timeline.add(String.format("t+%.2fs %s", (t - start) / 1e9, outcome));
            if (killedAt == 0) {
                euBeforeKill += outcome.equals("eu") ? 1 : 0;
            } else if (!outcome.equals("east")) {
                lastBadAfterKill = t;
                failuresAfterKill += outcome.startsWith("error") ? 1 : 0;
            }
        }
        String report = String.join("\n", timeline);
        log.info("failover timeline:\n{}", report);
        double settled = lastBadAfterKill < 0 ? 0 : (lastBadAfterKill - killedAt) / 1e9;
        log.info("after killing eu's gateway: {} failed requests, last answer not from east {} s after the kill",
                failuresAfterKill, settled);
        assertThat(euBeforeKill).as("eu answered before its gateway was killed:\n%s", report).isPositive();
        assertThat(settled).as("seconds from the kill to the last request not answered by east:\n%s", report)
                .isLessThanOrEqualTo(2.0);
        assertThat(mesh.unexpectedExits()).isEmpty();
    }

    /** A TCP connect from inside a cluster's network namespace (bash's /dev/tcp), within 3 s. */
    private static boolean connectFrom(String cluster, String ip, int port) {
        String ns = mesh.networkNamespace(cluster).orElseThrow();
        try {
            OwnMesh.run(List.of("ip", "netns", "exec", ns, "timeout", "3", "bash", "-c",
                    "exec 3<>/dev/tcp/" + ip + "/" + port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Sends a ClientHello naming {@code sni} to the gateway's 15443 and returns what comes back until it closes. */
    private static byte[] sendHello(String gateway, String sni) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(gateway, 15443), 3000);
            s.setSoTimeout(5000);
            s.getOutputStream().write(clientHello(sni));
            try {
                byte[] first = new byte[5];
                int n = s.getInputStream().read(first);
                return n <= 0 ? new byte[0] : java.util.Arrays.copyOf(first, n);
            } catch (SocketException reset) {
                return new byte[0];
            }
        }
    }

    /** A minimal TLS 1.2 ClientHello with one server_name (and the groups a server needs for ECDHE). */
    private static byte[] clientHello(String sni) {
        byte[] host = sni.getBytes(StandardCharsets.US_ASCII);
        ByteBuffer ext = ByteBuffer.allocate(host.length + 64);
        ext.putShort((short) 0).putShort((short) (host.length + 5)).putShort((short) (host.length + 3))
                .put((byte) 0).putShort((short) host.length).put(host);
        ext.putShort((short) 10).putShort((short) 4).putShort((short) 2).putShort((short) 23); // secp256r1
        ext.putShort((short) 11).putShort((short) 2).put((byte) 1).put((byte) 0); // uncompressed points
        ext.flip();
        ByteBuffer body = ByteBuffer.allocate(ext.remaining() + 64);
        body.putShort((short) 0x0303).put(new byte[32]).put((byte) 0).putShort((short) 2)
                .putShort((short) 0xc02b).put((byte) 1).put((byte) 0).putShort((short) ext.remaining()).put(ext);
        body.flip();
        ByteBuffer record = ByteBuffer.allocate(body.remaining() + 9);
        record.put((byte) 22).putShort((short) 0x0301).putShort((short) (body.remaining() + 4))
                .put((byte) 1).put((byte) 0).putShort((short) body.remaining()).put(body);
        return java.util.Arrays.copyOf(record.array(), record.position());
    }

    private static final String CAPTURE = "isthmus_capture_connections_total";
    private static final String REQUESTS = "istio_requests_total";

    /** The sum of a metric's series with all these labels, on a pod's sidecar (its admin port). */
    private static double podCounter(WorkloadSpec pod, String name, String... labels) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create(mesh.sidecarAdminUrl(pod) + "/stats/prometheus")).timeout(Duration.ofSeconds(5)).build(),
                HttpResponse.BodyHandlers.ofString());
        double sum = 0;
        Matcher m = Pattern.compile("(?m)^" + name + "\\{([^}]*)\\} (\\S+)$").matcher(r.body());
        while (m.find()) {
            String series = m.group(1);
            if (java.util.Arrays.stream(labels).allMatch(series::contains)) {
                sum += Double.parseDouble(m.group(2));
            }
        }
        return sum;
    }

    private static double gatewayCounter(String cluster, String name, String label) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create(mesh.gatewayAdminUrl(cluster) + "/stats/prometheus")).timeout(Duration.ofSeconds(5)).build(),
                HttpResponse.BodyHandlers.ofString());
        Matcher m = Pattern.compile("(?m)^" + name + "\\{[^}]*" + Pattern.quote(label) + "[^}]*\\} (\\S+)$")
                .matcher(r.body());
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }
}
