package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.topologies.Check;
import io.isthmus.topologies.ClusterSpec;
import io.isthmus.topologies.DemoScenario;
import io.isthmus.topologies.DemoTraffic;
import io.isthmus.topologies.DemoVerifier;
import io.isthmus.topologies.LocalMesh;
import io.isthmus.topologies.MeshComponent;
import io.isthmus.topologies.Topology;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * topologies/primary-remote.yaml on 10.231-232.x.x (namespaces isthmus231-*; on loopback,
 * 127.231-232.x.x, where namespaces cannot be made): east is the primary, eu (another network) a
 * remote with no controller. The demo's cross-cluster checks pass as in multi-primary: curl in eu
 * gets answers from eu directly and from east only through east's gateway, with its SPIFFE
 * identity, which means eu's proxies got certificates and xDS from east's controller, through
 * east's gateway (counted there as istiod connections), and east's controller watches eu's API
 * server through the remote secret (the client's sidecar holds eu's pod, which only that watch
 * can have published: eu runs no controller).
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class PrimaryRemoteE2ETest {

    private static final Logger log = LoggerFactory.getLogger(PrimaryRemoteE2ETest.class);

    @TempDir
    static Path runDir;

    private static Topology topology;
    private static DemoScenario scenario;
    private static LocalMesh mesh;

    @BeforeAll
    static void startPrimaryAndRemote() {
        topology = OwnMesh.topology("/io/isthmus/topologies/primary-remote.yaml").withAddressBase(231);
        scenario = DemoScenario.of(topology);
        mesh = OwnMesh.start(PrimaryRemoteE2ETest.class, topology, runDir, Duration.ofMinutes(3));
        OwnMesh.awaitAnswersFrom(mesh, scenario, "east", "eu");
    }

    @AfterAll
    static void stop() throws Exception {
        OwnMesh.stop(mesh);
    }

    @Test
    void theRemotesClientReachesBothClustersAsInMultiPrimaryThroughConfigFromThePrimary() throws Exception {
        assertThat(mesh.components()).filteredOn(c -> c.kind() == MeshComponent.Kind.CONTROLLER)
                .extracting(MeshComponent::cluster).containsExactly("east");
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
        String eastGateway = mesh.topology().gatewayAddress("east");
        assertThat(burst.answers()).filteredOn(a -> a.cluster().equals("east"))
                .allSatisfy(a -> assertThat(a.forwardedFor()).contains(eastGateway));

        // eu's sidecars and gateway hold their xDS streams (and asked for certificates) through
        // east's gateway, which carries the controller's 15012.
        assertThat(gatewayCounter("east", "istio_tcp_connections_opened_total",
                "destination_service=\"istiod.istio-system.svc.cluster.local\""))
                .as("connections east's gateway relayed to its controller").isGreaterThanOrEqualTo(3);
    }

    private static double gatewayCounter(String cluster, String name, String label) throws Exception {
        Matcher m = Pattern.compile("(?m)^" + name + "\\{[^}]*" + Pattern.quote(label) + "[^}]*\\} (\\S+)$")
                .matcher(get(mesh.gatewayAdminUrl(cluster) + "/stats/prometheus").body());
        double sum = 0;
        while (m.find()) {
            sum += Double.parseDouble(m.group(1));
        }
        return sum;
    }

    private static HttpResponse<String> get(String url) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url))
                .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
