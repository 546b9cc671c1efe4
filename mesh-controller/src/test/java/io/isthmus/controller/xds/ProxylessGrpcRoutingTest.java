package io.isthmus.controller.xds;

import static io.isthmus.controller.xds.ProxylessMesh.EAST;
import static io.isthmus.controller.xds.ProxylessMesh.WEST;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.isthmus.discovery.Endpoint;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 6, item 5: the real grpc-xds client follows what the controller serves for Istio
 * configuration, not just endpoints: a VirtualService weight split between DestinationRule
 * subsets (weighted clusters in the route), and locality-aware endpoints across clusters
 * (localities at Istio's failover priorities in the ClusterLoadAssignment, on when the
 * DestinationRule has outlier detection), with a third cluster on another network in the mix.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class ProxylessGrpcRoutingTest {

    private static final String SUBSETS = """
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: greeter}
            spec:
              host: greeter
              subsets:
              - {name: v1, labels: {version: v1}}
              - {name: v2, labels: {version: v2}}
            """;
    /** Outlier detection turns Istio's locality priorities on; us-east fails over to eu-west first. */
    private static final String LOCALITY_FAILOVER = """
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: greeter}
            spec:
              host: greeter
              trafficPolicy:
                outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s}
                loadBalancer:
                  localityLbSetting:
                    failover:
                    - {from: us-east, to: eu-west}
            """;

    private ProxylessMesh mesh;

    @AfterEach
    void stop() throws InterruptedException {
        if (mesh != null) {
            mesh.close();
        }
    }

    @Test
    void followsAVirtualServiceWeightSplitAndItsChange() throws Exception {
        mesh = ProxylessMesh.start(2);
        List<Endpoint> pods = List.of(mesh.endpoint(0, "east", EAST, "v1"), mesh.endpoint(1, "east", EAST, "v2"));
        mesh.push(pods, SUBSETS + "---\n" + split(80, 20));

        // grpc-xds picks a weighted cluster at random per call, so the v2 count of n = 400 calls
        // is Binomial(400, 0.2): mean 80, sigma sqrt(400 * 0.2 * 0.8) = 8. Accepting 80 ± 5 sigma
        // (40..120) fails a correct client with probability < 1e-6, and still rejects an even
        // split (200) or no split (0 or 400) by far more than 5 sigma.
        int[] served = mesh.call(400);
        assertThat(served[0] + served[1]).isEqualTo(400);
        assertThat(served[1]).isBetween(40, 120);

        // The weights move to 0/100: the controller pushes the route, and the client follows.
        mesh.push(pods, SUBSETS + "---\n" + split(0, 100));
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(mesh.call(20)[0]).isZero());
        assertThat(mesh.call(100)).containsExactly(0, 100);
    }

    @Test
    void staysInItsLocalityAndFailsOverToTheOtherClusterWhileItsLocalEndpointsAreGone() throws Exception {
        mesh = ProxylessMesh.start(2);
        Endpoint local = mesh.endpoint(0, "east", EAST, "v1");
        Endpoint remote = mesh.endpoint(1, "west", WEST, "v1");
        // A sidecar here would get us-east at priority 0, eu-west (the failover region) at 1 and
        // us-west at 2. eu's pod is behind a gateway the client cannot cross, so it gets us-east
        // at 0 and us-west at 1: grpc-xds NACKs sparse priorities (0, 2), which would leave it
        // with no endpoints at all.
        List<Endpoint> all = List.of(local, remote, ProxylessMesh.behindGateway());
        mesh.push(all, LOCALITY_FAILOVER);

        // Every call stays in the client's locality (without priorities, round robin over the
        // localities would send half of them to west).
        assertThat(mesh.call(40)).containsExactly(40, 0);

        // The local pod leaves (an EDS push): calls fail over to west's.
        mesh.push(List.of(remote, ProxylessMesh.behindGateway()), LOCALITY_FAILOVER);
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(mesh.call(10)).containsExactly(0, 10));

        // It comes back: calls return to the client's locality.
        mesh.push(all, LOCALITY_FAILOVER);
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(mesh.call(10)).containsExactly(10, 0));
    }

    private static String split(int v1, int v2) {
        return """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: greeter}
                spec:
                  hosts: [greeter]
                  http:
                  - route:
                    - destination: {host: greeter, subset: v1}
                      weight: %d
                    - destination: {host: greeter, subset: v2}
                      weight: %d
                """.formatted(v1, v2);
    }
}
