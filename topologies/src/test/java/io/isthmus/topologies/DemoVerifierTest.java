package io.isthmus.topologies;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.topologies.sample.EchoServer;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.json.JsonMapper;

class DemoVerifierTest {

    private static final Topology DEMO = Topology.load(Path.of("demo.yaml")).withAddressBase(151);
    private static final DemoScenario SCENARIO = DemoScenario.of(DEMO);

    @Test
    void scenarioOfTheDemoIsCurlCallingHelloworld() {
        assertThat(SCENARIO.client().name()).isEqualTo("curl");
        assertThat(SCENARIO.authority()).isEqualTo("helloworld.sample.svc.cluster.local:5000");
        assertThat(SCENARIO.outboundCluster()).isEqualTo("outbound|5000||helloworld.sample.svc.cluster.local");
        assertThat(SCENARIO.servers()).extracting(WorkloadSpec::cluster).containsExactly("east", "eu");
    }

    @Test
    void pathIsDirectFromTheClientPodAndViaAGatewayFromItsAddress() {
        assertThat(DemoTraffic.describePath(DEMO, SCENARIO, Optional.of("127.152.1.1"))).isEqualTo("direct");
        assertThat(DemoTraffic.describePath(DEMO, SCENARIO, Optional.of("127.153.0.2")))
                .isEqualTo("via 127.153.0.2 (east-west gateway)");
        assertThat(DemoTraffic.describePath(DEMO, SCENARIO, Optional.of("10.0.0.1"))).isEqualTo("via 10.0.0.1");
        assertThat(DemoTraffic.describePath(DEMO, SCENARIO, Optional.empty())).startsWith("unknown");
    }

    @Test
    void requestsLeaveFromTheClientsLocalhostOnLoopbackOnlyBecauseTheLauncherCannotOwnItInNamespaces() {
        assertThat(DemoTraffic.sourceAddress(DEMO, "127.152.2.1")).contains("127.152.2.1");
        assertThat(DemoTraffic.sourceAddress(DEMO.withNetworkMode(NetworkMode.NETNS), "10.152.2.1")).isEmpty();
    }

    @Test
    void readsEndpointsOfOneClusterFromEnvoysClusterLoadAssignmentJson() {
        String dump = """
                {"endpoints": [
                  {"clusterName": "outbound|5000||helloworld.sample.svc.cluster.local", "endpoints": [
                    {"locality": {"region": "us-east"}, "lbEndpoints": [{"endpoint": {"address": {"socketAddress":
                      {"address": "127.151.1.1", "portValue": 5000}}}}]},
                    {"locality": {"region": "eu-central"}, "lbEndpoints": [{"endpoint": {"address": {"socketAddress":
                      {"address": "127.153.0.2", "portValue": 15443}}}}]}]},
                  {"clusterName": "outbound|9080||other.sample.svc.cluster.local", "endpoints": [
                    {"lbEndpoints": [{"endpoint": {"address": {"socketAddress":
                      {"address": "127.153.1.9", "portValue": 9080}}}}]}]}]}
                """;

        assertThat(DemoVerifier.endpointsOf(JsonMapper.builder().build().readTree(dump), SCENARIO.outboundCluster()))
                .containsExactly("127.151.1.1:5000", "127.153.0.2:15443");
    }

    @Test
    void sumsIstioTcpConnectionCounters() {
        String metrics = """
                # TYPE istio_tcp_connections_opened_total counter
                istio_tcp_connections_opened_total{destination_cluster="eu",reporter="destination"} 2.0
                istio_tcp_connections_opened_total{destination_cluster="eu",reporter="source"} 3.0
                some_other_connections_total 100
                isthmus_gateway_rejected_connections_total{reason="unknown_sni"} 323.0
                """;
        assertThat(DemoVerifier.sumConnectionMetrics(metrics)).isEqualTo(5.0);
        assertThat(DemoVerifier.sumConnectionMetrics(
                "isthmus_gateway_rejected_connections_total{reason=\"unknown_sni\"} 323.0\n")).isZero();
        assertThat(DemoVerifier.sumConnectionMetrics("# nothing\n")).isZero();
    }

    @Test
    void plaintextCheckFailsWhenTheServerAnswersPlainHttp() throws Exception {
        // An echo app (plain HTTP) where the sidecar's mTLS listener should be: the check must fail.
        WorkloadSpec v2 = DEMO.workload("helloworld-v2");
        EchoServer plain = EchoServer.start(new EchoServer.Options(DEMO.podIp(v2), 5000, OptionalInt.empty(), "eu", "v2",
                "p", "sample", ""));
        try {
            Check check = DemoVerifier.plaintextRefused(DEMO, v2, SCENARIO);
            assertThat(check.passed()).isFalse();
            assertThat(check.detail()).isEqualTo("answered in plaintext HTTP");
        } finally {
            plain.close();
        }
    }

    @Test
    void plaintextCheckPassesWhenTheServerClosesAndFailsWhenNothingListens() throws Exception {
        WorkloadSpec v2 = DEMO.workload("helloworld-v2");
        assertThat(DemoVerifier.plaintextRefused(DEMO, v2, SCENARIO).passed()).as("nothing listening").isFalse();

        try (ServerSocket closer = new ServerSocket()) {
            closer.bind(new InetSocketAddress(DEMO.podIp(v2), 5000));
            Thread t = new Thread(() -> {
                try (Socket s = closer.accept()) {
                    s.getInputStream().read(new byte[64]);
                } catch (Exception ignored) {
                    // the client went away
                }
            });
            t.start();
            Check check = DemoVerifier.plaintextRefused(DEMO, v2, SCENARIO);
            t.join(10_000);
            assertThat(check.passed()).isTrue();
            assertThat(check.detail()).isEqualTo("connection closed without an answer");
        }
    }
}
