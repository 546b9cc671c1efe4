package io.isthmus.topologies;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The launcher's failure paths; the happy path runs in e2e-multicluster's DemoTopologyE2ETest. */
class LocalMeshTest {

    private static final String ONE_CLUSTER = """
            name: tiny
            addressBase: 141
            clusters:
              - {name: solo, network: n1, region: r, zone: z}
            workloads:
              - {name: echo, cluster: solo, namespace: sample, service: echo, ports: [{name: http, port: 5000}]}
              - {name: cli, cluster: solo, namespace: sample, role: client}
            """;

    @Test
    void plansEveryListenerOfTheContract() {
        Topology demo = Topology.load(Path.of("demo.yaml"));
        var planned = LocalMesh.plannedListeners(demo);

        assertThat(planned).containsEntry(new InetSocketAddress("127.101.0.1", 6443), "east API server")
                .containsEntry(new InetSocketAddress("127.102.0.1", 15031), "west controller")
                .containsEntry(new InetSocketAddress("127.103.0.2", 15443), "eu east-west gateway")
                .containsEntry(new InetSocketAddress("127.103.1.1", 5000), "eu/helloworld-v2 sidecar (inbound http)")
                .containsEntry(new InetSocketAddress("127.103.2.1", 5000), "eu/helloworld-v2 app")
                .containsEntry(new InetSocketAddress("127.102.2.1", 15001), "west/curl sidecar");
        assertThat(planned).doesNotContainKey(new InetSocketAddress("127.102.2.1", 5000));
    }

    @Test
    void anAddressInUseIsNamedWithItsOwnerAndNothingStarts(@TempDir Path dir) throws Exception {
        Topology topology = Topology.parse(ONE_CLUSTER);
        try (ServerSocket squatter = new ServerSocket()) {
            squatter.bind(new InetSocketAddress("127.141.0.2", 15443));

            assertThatThrownBy(() -> LocalMesh.start(topology, LocalMeshOptions.defaults(dir.resolve("run"))))
                    .isInstanceOf(LocalMeshException.class)
                    .hasMessageContaining("127.141.0.2:15443 (for the solo east-west gateway)")
                    .hasMessageContaining("in use by pid " + ProcessHandle.current().pid())
                    .hasMessageContaining("another addressBase");
        }
        assertThat(dir.resolve("run")).doesNotExist();
    }

    @Test
    void aComponentThatDiesEarlyIsReportedWithItsLogAndEverythingStops(@TempDir Path dir) throws Exception {
        Topology topology = Topology.parse(ONE_CLUSTER);
        // A class path without the Isthmus modules: every child JVM fails to find its main class.
        LocalMeshOptions options = new LocalMeshOptions(dir.resolve("run"), dir.toString(), LocalMeshOptions.defaultJava(),
                LocalMeshOptions.SMALL_JVM, Duration.ofSeconds(60), line -> {});

        assertThatThrownBy(() -> LocalMesh.start(topology, options))
                .isInstanceOf(LocalMeshException.class)
                .hasMessageContaining("exited with code 1 before it was ready")
                .hasMessageContaining("Could not find or load main class");

        assertThat(ProcessHandle.current().children().filter(ProcessHandle::isAlive).toList()).isEmpty();
        Path run = dir.resolve("run");
        assertThat(run.resolve("solo/kubeconfig")).content().contains("server: https://127.141.0.1:6443");
        assertThat(run.resolve("root-cert.pem")).content().startsWith("-----BEGIN CERTIFICATE-----");
        // The API server is stopped: its address is free again.
        try (ServerSocket again = new ServerSocket()) {
            again.bind(new InetSocketAddress("127.141.0.1", 6443));
        }
    }

    @Test
    void refusesARunDirectoryItDidNotMake(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("precious.txt"), "keep me");

        assertThatThrownBy(() -> LocalMesh.start(Topology.parse(ONE_CLUSTER), LocalMeshOptions.defaults(dir)))
                .isInstanceOf(LocalMeshException.class)
                .hasMessageContaining("is not empty and was not made by Isthmus");
        assertThat(dir.resolve("precious.txt")).exists();
        assertThat(List.of(dir.toFile().list())).containsExactly("precious.txt");
    }
}
