package io.isthmus.controller.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.Locality;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.isthmus.controller.translate.ProxyNode;
import io.isthmus.controller.translate.ProxyType;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ProxyNodeParserTest {

    private static final String GATEWAY_ID =
            "router~127.103.0.2~istio-eastwestgateway-eu.istio-system~istio-system.svc.cluster.local";

    @Test
    void parsesASidecarNode() {
        ProxyNode node = ProxyNodeParser.parse(XdsServerTest.westCurlNode());

        assertThat(node.type()).isEqualTo(ProxyType.SIDECAR);
        assertThat(node.ip()).isEqualTo("127.102.1.1");
        assertThat(node.podName()).isEqualTo("curl-west-1");
        assertThat(node.namespace()).isEqualTo("sample");
        assertThat(node.serviceAccount()).isEqualTo("curl");
        assertThat(node.cluster()).isEqualTo("west");
        assertThat(node.network()).isEqualTo("net1");
        assertThat(node.locality()).isEqualTo(new io.isthmus.discovery.Locality("us-west", "us-west-1a", ""));
        assertThat(node.labels()).isEqualTo(Map.of("app", "curl"));
    }

    @Test
    void aSidecarNodeWithTheGrpcGeneratorIsAProxylessClient() {
        Node sidecar = XdsServerTest.westCurlNode();
        ProxyNode node = ProxyNodeParser.parse(sidecar.toBuilder().setMetadata(sidecar.getMetadata().toBuilder()
                .putFields("GENERATOR", string("grpc"))).build());

        assertThat(node.type()).isEqualTo(ProxyType.GRPC);
        assertThat(node.namespace()).isEqualTo("sample");
    }

    @Test
    void parsesAGatewayAndTakesPodAndNamespaceFromTheIdWhenMetadataOmitsThem() {
        ProxyNode node = ProxyNodeParser.parse(Node.newBuilder()
                .setId(GATEWAY_ID)
                .setMetadata(Struct.newBuilder()
                        .putFields("CLUSTER_ID", string("eu"))
                        .putFields("NETWORK", string("net2"))
                        .putFields("ROUTER_MODE", string("sni-dnat")))
                .build());

        assertThat(node.type()).isEqualTo(ProxyType.ROUTER);
        assertThat(node.namespace()).isEqualTo("istio-system");
        assertThat(node.podName()).isEqualTo("istio-eastwestgateway-eu");
    }

    static Stream<Arguments> malformed() {
        return Stream.of(
                Arguments.of("id with 3 parts", (UnaryOperator<Node.Builder>) n -> n.setId("sidecar~1.2.3.4~x.y"),
                        "expected: <sidecar|router>~<ip>"),
                Arguments.of("unknown type", (UnaryOperator<Node.Builder>) n -> n.setId("waypoint~1.2.3.4~x.y~y.svc"),
                        "expected: sidecar or router"),
                Arguments.of("no ip", (UnaryOperator<Node.Builder>) n -> n.setId("sidecar~~x.y~y.svc"), "has no IP"),
                Arguments.of("no cluster", (UnaryOperator<Node.Builder>) n -> n.setMetadata(
                        n.getMetadata().toBuilder().removeFields("CLUSTER_ID")), "CLUSTER_ID"),
                Arguments.of("non-string network", (UnaryOperator<Node.Builder>) n -> n.setMetadata(
                        n.getMetadata().toBuilder().putFields("NETWORK", Value.newBuilder().setNumberValue(1).build())),
                        "NETWORK"),
                Arguments.of("router without sni-dnat", (UnaryOperator<Node.Builder>) n -> n.setId(GATEWAY_ID),
                        "ROUTER_MODE"),
                Arguments.of("slash in locality", (UnaryOperator<Node.Builder>) n -> n.setLocality(
                        Locality.newBuilder().setRegion("us/west")), "locality"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformed")
    void rejectsAMalformedNodeSayingWhatIsWrong(String label, UnaryOperator<Node.Builder> change, String message) {
        Node node = change.apply(XdsServerTest.westCurlNode().toBuilder()).build();

        assertThatThrownBy(() -> ProxyNodeParser.parse(node))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(message);
    }

    private static Value string(String s) {
        return Value.newBuilder().setStringValue(s).build();
    }
}
