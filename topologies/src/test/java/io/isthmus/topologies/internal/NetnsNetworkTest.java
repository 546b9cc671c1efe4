package io.isthmus.topologies.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;
import static org.awaitility.Awaitility.await;

import io.isthmus.topologies.LocalMeshOptions;
import io.isthmus.topologies.NetworkMode;
import io.isthmus.topologies.Topology;
import io.isthmus.topologies.WorkloadSpec;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The namespaces and firewall of a netns topology, with real listeners (echo server JVMs) inside
 * the clusters' and pods' namespaces and connections made from inside others: the same network
 * reaches pods, another network only the gateway and controller ports; the launcher reaches a
 * pod's 127.0.0.1 through its localhost window, and nobody else does. Runs only as root (CI is root).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class NetnsNetworkTest {

    /** addressBase 206: 10.206-208.x.x, namespaces isthmus206-p<pid36>-*; no other test uses them. */
    private static final String TOPOLOGY_TEXT = """
            name: netns-probe
            addressBase: 206
            network: netns
            clusters:
              - {name: a, network: net1, region: r1, zone: z1}
              - {name: b, network: net1, region: r2, zone: z2}
              - {name: c, network: net2, region: r3, zone: z3}
            workloads:
              - {name: srv-a, cluster: a, namespace: ns, service: svc, ports: [{name: http, port: 5000}]}
              - {name: srv-c, cluster: c, namespace: ns, service: svc, ports: [{name: http, port: 5000}]}
              - {name: cli, cluster: b, namespace: ns, role: client}
            """;
    private static final Topology TOPOLOGY = Topology.parse(TOPOLOGY_TEXT);

    @TempDir
    static Path logs;

    private NetnsNetwork network;
    private final List<Process> listeners = new ArrayList<>();

    @BeforeAll
    void createNamespacesAndListeners() throws IOException {
        assumeThat(NetnsNetwork.unavailableReason()).as("network namespaces need root").isEmpty();
        assertThat(TOPOLOGY.networkMode()).isEqualTo(NetworkMode.NETNS);
        network = NetnsNetwork.create(TOPOLOGY, line -> {});
        listen(network.inPod(TOPOLOGY.workload("srv-a"), List.of()), "srv-a", "0.0.0.0", 5000);
        listen(network.inPod(TOPOLOGY.workload("srv-c"), List.of()), "srv-c", "0.0.0.0", 5000);
        // Only on the pod's own loopback, as the app and the sidecar's admin port are.
        listen(network.inPod(TOPOLOGY.workload("cli"), List.of()), "cli", "127.0.0.1", 15000);
        listen(network.inCluster("c", List.of()), "c", TOPOLOGY.gatewayAddress("c"), 15443);
        // From the launcher's namespace every listener is reachable (readiness checks, demo traffic).
        await().atMost(Duration.ofSeconds(30)).until(() ->
                accepts("10.206.1.1", 5000) && accepts("10.208.1.1", 5000) && accepts("10.208.0.2", 15443)
                        && accepts(TOPOLOGY.podLocalhost(TOPOLOGY.workload("cli")), 15000));
    }

    @AfterAll
    void removeEverything() throws InterruptedException {
        for (Process p : listeners) {
            p.destroyForcibly();
            p.waitFor(5, TimeUnit.SECONDS);
        }
        if (network != null) {
            String ours = network.runPrefix();
            String cli = network.podNamespace(TOPOLOGY.workload("cli"));
            network.close();
            // This run's, not another checkout's running the same test at once.
            assertThat(NetnsNetwork.run(List.of("ip", "netns", "list"))).doesNotContain(ours);
            assertThat(NetnsNetwork.run(List.of("ip", "link", "show"))).doesNotContain(network.hostLink());
            assertThat(Path.of("/etc/netns/" + cli)).doesNotExist();
        }
    }

    @Test
    void sameNetworkReachesPodsDirectly() {
        assertThat(connectFrom("b", "10.206.1.1", 5000)).as("b → a's pod (both net1)").isTrue();
    }

    @Test
    void everyPodHasItsOwnNamespaceWithItsPodIpAndResolvConf() throws IOException {
        WorkloadSpec cli = TOPOLOGY.workload("cli");
        // Named after this run (the JVM's pid in base 36), so two checkouts never share one.
        assertThat(network.podNamespace(cli)).isEqualTo(
                "isthmus206-p" + Long.toString(ProcessHandle.current().pid(), 36) + "-b-cli");
        assertThat(network.runPrefix()).isEqualTo(NetnsNetwork.runPrefix(206, ProcessHandle.current().pid()));
        assertThat(NetnsNetwork.run(network.inPod(cli, List.of("ip", "-4", "addr", "show", "eth0"))))
                .contains("inet 10.207.1.1/32", "inet 10.207.2.1/32");
        assertThat(NetnsNetwork.run(network.inCluster("b", List.of("ip", "-4", "addr", "show"))))
                .as("the pod's addresses left the cluster's namespace").doesNotContain("10.207.1.1");
        // ip netns exec mounts it over /etc/resolv.conf.
        assertThat(NetnsNetwork.run(network.inPod(cli, List.of("cat", "/etc/resolv.conf"))))
                .contains("search ns.svc.cluster.local svc.cluster.local cluster.local", "nameserver 10.207.0.10",
                        "options ndots:5");
    }

    @Test
    void podsReachEachOtherAcrossClustersOfOneNetworkButNotAcrossNetworks() {
        WorkloadSpec cli = TOPOLOGY.workload("cli");
        assertThat(connect(network.inPod(cli, List.of()), "10.206.1.1", 5000)).as("b's pod → a's pod").isTrue();
        assertThat(connect(network.inPod(cli, List.of()), "10.208.0.2", 15443)).as("b's pod → c's gateway").isTrue();
        assertThat(connect(network.inPod(cli, List.of()), "10.208.1.1", 5000)).as("b's pod → c's pod").isFalse();
    }

    @Test
    void onlyTheLauncherReachesAPodsLocalhostThroughItsWindow() {
        String window = TOPOLOGY.podLocalhost(TOPOLOGY.workload("cli"));
        assertThat(accepts(window, 15000)).as("launcher → the pod's 127.0.0.1:15000").isTrue();
        assertThat(connect(network.inPod(TOPOLOGY.workload("srv-a"), List.of()), window, 15000))
                .as("another pod → the pod's localhost window").isFalse();
        assertThat(connect(network.inCluster("b", List.of()), window, 15000))
                .as("its cluster's namespace → the pod's localhost window").isFalse();
    }

    @Test
    void otherNetworkReachesOnlyTheGateway() {
        assertThat(connectFrom("b", "10.208.0.2", 15443)).as("b (net1) → c's gateway 15443").isTrue();
        assertThat(connectFrom("b", "10.208.1.1", 5000)).as("b (net1) → c's pod (net2)").isFalse();
        assertThat(connectFrom("c", "10.206.1.1", 5000)).as("c (net2) → a's pod (net1)").isFalse();
    }

    @Test
    void clustersReachTheirApiServerInTheLaunchersNamespace() throws IOException {
        try (var server = new java.net.ServerSocket(0, 5,
                java.net.InetAddress.getByName(TOPOLOGY.apiServerAddress("c")))) {
            assertThat(connectFrom("c", TOPOLOGY.apiServerAddress("c"), server.getLocalPort())).isTrue();
        }
    }

    @Test
    void sweepRemovesOnlyTheNamespacesOfRunsThatAreOver() throws Exception {
        // A run that is over: a pid that has exited (its process started before the namespace).
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor(10, TimeUnit.SECONDS);
        String deadRun = NetnsNetwork.runPrefix(209, gone.pid());
        // A live run: pid 1, started long before its namespace (another checkout's launcher, say).
        String liveRun = NetnsNetwork.runPrefix(209, 1);
        List<String> made = List.of(deadRun + "east", deadRun + "east-helloworld-v1", liveRun + "east",
                "isthmus209-east-legacy");
        try {
            for (String ns : made) {
                NetnsNetwork.run(List.of("ip", "netns", "add", ns));
            }
            java.nio.file.Files.createDirectories(Path.of("/etc/netns/" + deadRun + "east-helloworld-v1"));
            java.nio.file.Files.writeString(Path.of("/etc/netns/" + deadRun + "east-helloworld-v1/resolv.conf"),
                    "x\n");
            java.nio.file.Files.createDirectories(Path.of("/etc/netns/" + deadRun + "gone"));
            java.nio.file.Files.createDirectories(Path.of("/etc/netns/" + liveRun + "kept"));

            assertThat(NetnsNetwork.sweep(209)).containsExactlyInAnyOrder(deadRun + "east",
                    deadRun + "east-helloworld-v1", "isthmus209-east-legacy");
            String left = NetnsNetwork.run(List.of("ip", "netns", "list"));
            assertThat(left).doesNotContain(deadRun).doesNotContain("isthmus209-east-legacy")
                    .contains(liveRun + "east");
            assertThat(Path.of("/etc/netns/" + deadRun + "east-helloworld-v1")).doesNotExist();
            assertThat(Path.of("/etc/netns/" + deadRun + "gone")).doesNotExist();
            assertThat(Path.of("/etc/netns/" + liveRun + "kept")).exists();

            // While that run lives, its addressBase is refused with a clear reason, and nothing of it is touched.
            Topology same = Topology.parse(TOPOLOGY_TEXT.replace("addressBase: 206", "addressBase: 209"));
            assertThatThrownBy(() -> NetnsNetwork.create(same, line -> {}))
                    .isInstanceOf(io.isthmus.topologies.LocalMeshException.class)
                    .hasMessageContaining("addressBase 209 is in use by a running mesh (launcher pid 1");
            assertThat(NetnsNetwork.run(List.of("ip", "netns", "list"))).contains(liveRun + "east");
        } finally {
            for (String ns : made) {
                try {
                    NetnsNetwork.run(List.of("ip", "netns", "del", ns));
                } catch (RuntimeException alreadyGone) {
                    // swept
                }
            }
            for (String dir : List.of(liveRun + "kept", deadRun + "gone", deadRun + "east-helloworld-v1")) {
                NetnsNetwork.run(List.of("rm", "-rf", "/etc/netns/" + dir));
            }
        }
    }

    @Test
    void ownerIsReadBackFromNamespaceAndLinkNames() {
        long pid = 4_194_303L;
        assertThat(NetnsNetwork.owner(NetnsNetwork.runPrefix(206, pid) + "east-helloworld-v1")).contains(pid);
        assertThat(NetnsNetwork.owner(NetnsNetwork.hostLink(250, pid))).contains(pid);
        assertThat(NetnsNetwork.hostLink(250, pid)).hasSizeLessThanOrEqualTo(15);
        assertThat(NetnsNetwork.owner("isthmus206-east")).isEmpty();
    }

    private void listen(List<String> where, String name, String address, int port) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(LocalMeshOptions.defaultJava()));
        cmd.addAll(LocalMeshOptions.SMALL_JVM);
        cmd.addAll(List.of("-cp", LocalMeshOptions.defaultClassPath(), "io.isthmus.topologies.sample.EchoServer",
                "--address", address, "--http-port", String.valueOf(port), "--cluster", name, "--version", "v1",
                "--pod", "probe", "--namespace", "ns", "--locality", "r/z/"));
        Path log = logs.resolve(name + "-" + port + ".log");
        List<String> command = new ArrayList<>(where);
        command.addAll(cmd);
        listeners.add(new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start());
    }

    /** A TCP connect from inside a cluster's namespace (bash's /dev/tcp), within 3 s. */
    private boolean connectFrom(String cluster, String ip, int port) {
        return connect(network.inCluster(cluster, List.of()), ip, port);
    }

    /** A TCP connect from inside the namespace {@code where} enters, within 3 s. */
    private static boolean connect(List<String> where, String ip, int port) {
        List<String> cmd = new ArrayList<>(where);
        cmd.addAll(List.of("timeout", "3", "bash", "-c", "exec 3<>/dev/tcp/" + ip + "/" + port));
        try {
            NetnsNetwork.run(cmd);
            return true;
        } catch (RuntimeException refused) {
            return false;
        }
    }

    private static boolean accepts(String ip, int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(ip, port), 1000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
