package io.isthmus.controller.xds;

import static io.isthmus.controller.xds.ProxylessMesh.EAST;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 6, "Done when": a gRPC-Java proxyless client ({@code xds:///} target, grpc-xds, bootstrap
 * naming the controller's ADS server) calls real gRPC servers through the routes, clusters and
 * endpoints the controller serves it, and follows an endpoint change pushed by the controller.
 * {@link ProxylessGrpcRoutingTest} does the same for a weight split and locality failover.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class ProxylessGrpcTest {

    private ProxylessMesh mesh;

    @BeforeEach
    void start() throws Exception {
        mesh = ProxylessMesh.start(2);
    }

    @AfterEach
    void stop() throws InterruptedException {
        if (mesh != null) {
            mesh.close();
        }
    }

    @Test
    void callsBothEndpointsThroughTheServedConfigAndFollowsAnEndpointPush() {
        mesh.push(List.of(mesh.endpoint(0, "east", EAST, "v1"), mesh.endpoint(1, "east", EAST, "v1")));
        // Round robin picks among the connected endpoints only: until the second connection is up
        // (slow on a loaded machine) every call goes to the first. Both answer once both are up.
        int[] warm = new int[2];
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            int[] answered = mesh.call(1);
            warm[0] += answered[0];
            warm[1] += answered[1];
            assertThat(warm[0]).as("calls backend 0 answered").isPositive();
            assertThat(warm[1]).as("calls backend 1 answered").isPositive();
        });
        int[] served = mesh.call(20);
        // Round robin over the two endpoints of one locality.
        assertThat(served[0]).isGreaterThanOrEqualTo(5);
        assertThat(served[1]).isGreaterThanOrEqualTo(5);

        // The first endpoint leaves the mesh: the controller pushes EDS and the client follows.
        mesh.push(List.of(mesh.endpoint(1, "east", EAST, "v1")));
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(mesh.call(10)[0]).isZero());
    }
}
