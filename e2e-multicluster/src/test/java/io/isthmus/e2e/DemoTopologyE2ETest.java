package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.topologies.Check;
import io.isthmus.topologies.ClusterSpec;
import io.isthmus.topologies.DemoScenario;
import io.isthmus.topologies.DemoTraffic;
import io.isthmus.topologies.DemoVerifier;
import io.isthmus.topologies.LocalMesh;
import io.isthmus.topologies.LocalMeshOptions;
import io.isthmus.topologies.MeshComponent;
import io.isthmus.topologies.Topology;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The demo topology as real processes (three embedded API servers, three controllers in one Raft
 * group, three gateways, sidecars and echo apps) on 127.111-113.x.x so it never collides with a
 * running {@code ./isthmus demo}: a request from curl in west reaches east directly and eu only
 * through eu's east-west gateway, with mTLS and the client's SPIFFE identity.
 */
class DemoTopologyE2ETest {

    private static final Logger log = LoggerFactory.getLogger(DemoTopologyE2ETest.class);

    @Test
    @Timeout(value = 6, unit = java.util.concurrent.TimeUnit.MINUTES)
    void westReachesEastDirectlyAndEuOnlyThroughItsGateway(@TempDir Path runDir) throws IOException {
        Topology topology = demoTopology().withAddressBase(111);
        DemoScenario scenario = DemoScenario.of(topology);
        LocalMeshOptions options = LocalMeshOptions.defaults(runDir)
                .withReadyTimeout(Duration.ofMinutes(3))
                .withProgress(line -> log.info("{}", line));

        try (LocalMesh mesh = LocalMesh.start(topology, options)) {
            log.info("mesh ready in {} ms", mesh.timeToReady().toMillis());
            assertThat(mesh.components()).extracting(MeshComponent::kind).contains(MeshComponent.Kind.values());

            Set<String> seen = DemoTraffic.warmUp(mesh, scenario, Duration.ofSeconds(90));
            assertThat(seen).as("clusters that answered while cross-cluster config propagated; logs in %s", runDir)
                    .contains("east", "eu");

            Map<String, Double> before = new LinkedHashMap<>();
            for (ClusterSpec c : topology.clusters()) {
                before.put(c.name(), DemoVerifier.gatewayConnections(mesh, c.name()));
            }
            DemoTraffic.Burst burst = DemoTraffic.send(mesh, scenario, 40);
            log.info("burst:\n{}", burst.table());
            List<Check> checks = DemoVerifier.verify(mesh, scenario, burst, before);
            String report = checks.stream().map(Check::line).collect(Collectors.joining("\n"));
            log.info("checks:\n{}", report);

            assertThat(checks).extracting(Check::name).contains(
                    "client sidecar holds outbound|5000||helloworld.sample.svc.cluster.local endpoints of other networks"
                            + " only as their gateways",
                    "eu (net2) answers came only via its east-west gateway 127.113.0.2",
                    "east (net1, the client's network) answers came direct",
                    "caller identity is spiffe://cluster.local/ns/sample/sa/curl on every answer");
            assertThat(checks).as("every check passes:\n%s\n%s\nlogs in %s", report, burst.table(), runDir)
                    .allMatch(Check::passed);
            assertThat(burst.answers()).extracting(DemoTraffic.Answer::cluster).contains("east", "eu");
            assertThat(mesh.unexpectedExits()).isEmpty();
        }
        assertThat(ProcessHandle.current().children().filter(ProcessHandle::isAlive).toList())
                .as("no child process left running").isEmpty();
    }

    private static Topology demoTopology() throws IOException {
        try (InputStream in = Topology.class.getResourceAsStream("/io/isthmus/topologies/demo.yaml")) {
            assertThat(in).as("demo.yaml on the class path").isNotNull();
            return Topology.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
    }
}
