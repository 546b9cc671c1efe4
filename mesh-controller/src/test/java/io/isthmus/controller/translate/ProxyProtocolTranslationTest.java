package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.ProxyProtocolConfig;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport;
import io.envoyproxy.envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.isthmus.controller.config.ConfigException;
import io.isthmus.controller.config.ConfigParser;
import io.isthmus.controller.config.Yaml;
import org.junit.jupiter.api.Test;

/**
 * A DestinationRule's {@code trafficPolicy.proxyProtocol} as pilot's
 * {@code applyUpstreamProxyProtocol}: the cluster's transport socket (the mesh's mTLS, an
 * originated TLS, or raw bytes) wrapped in {@code envoy.transport_sockets.upstream_proxy_protocol}
 * with the version; a subset's own over the rule's.
 */
class ProxyProtocolTranslationTest {

    private static final String HOST = MeshFixture.HELLOWORLD;

    @Test
    void theMeshTlsSocketIsWrappedWithTheVersion() throws Exception {
        ProxyResources plain = PolicyFixture.translate(MeshFixture.westCurlSidecar(), "");
        ProxyResources r = PolicyFixture.translate(MeshFixture.westCurlSidecar(), rule("{version: V2}", "", ""));
        TransportSocket before = cluster(plain, "outbound|5000||" + HOST).getTransportSocket();
        ProxyProtocolUpstreamTransport wrapper = wrapper(cluster(r, "outbound|5000||" + HOST));
        assertThat(wrapper.getConfig().getVersion()).isEqualTo(ProxyProtocolConfig.Version.V2);
        // Inside: exactly what the cluster had without it.
        assertThat(wrapper.getTransportSocket()).isEqualTo(before);
        assertThat(wrapper.getTransportSocket().getTypedConfig().is(UpstreamTlsContext.class)).isTrue();
    }

    @Test
    void plaintextGetsRawBytesInsideAndTheVersionDefaultsToV1() throws Exception {
        ProxyResources r = PolicyFixture.translate(MeshFixture.westCurlSidecar(),
                rule("{}", "    tls: {mode: DISABLE}\n", ""));
        ProxyProtocolUpstreamTransport wrapper = wrapper(cluster(r, "outbound|5000||" + HOST));
        assertThat(wrapper.getConfig().getVersion()).isEqualTo(ProxyProtocolConfig.Version.V1);
        assertThat(wrapper.getTransportSocket().getName()).isEqualTo("envoy.transport_sockets.raw_buffer");
        assertThat(wrapper.getTransportSocket().getTypedConfig().is(RawBuffer.class)).isTrue();
    }

    @Test
    void aSubsetsOwnProxyProtocolWinsAndOtherSubsetsInheritTheRules() throws Exception {
        ProxyResources r = PolicyFixture.translate(MeshFixture.westCurlSidecar(), rule("{version: V1}", "",
                """
                  subsets:
                  - {name: v1, labels: {version: v1}, trafficPolicy: {proxyProtocol: {version: V2}}}
                  - {name: v2, labels: {version: v2}}
                """));
        assertThat(wrapper(cluster(r, "outbound|5000|v1|" + HOST)).getConfig().getVersion())
                .isEqualTo(ProxyProtocolConfig.Version.V2);
        assertThat(wrapper(cluster(r, "outbound|5000|v2|" + HOST)).getConfig().getVersion())
                .isEqualTo(ProxyProtocolConfig.Version.V1);
        // Without a DestinationRule asking for it, no wrapper.
        assertThat(cluster(PolicyFixture.translate(MeshFixture.westCurlSidecar(), ""), "outbound|5000||" + HOST)
                .getTransportSocket().getName()).isNotEqualTo(PolicyTranslator.PROXY_PROTOCOL_SOCKET);
    }

    @Test
    void aProxylessClientKeepsTheMeshTlsAndGetsNoHeader() {
        ProxyNode grpc = new ProxyNode("sidecar~127.102.1.7~grpc-1.sample~sample.svc.cluster.local", ProxyType.GRPC,
                "127.102.1.7", "grpc-1", "sample", "curl", "west", "net1", MeshFixture.westCurlSidecar().locality(),
                java.util.Map.of("app", "grpc"));
        ProxyResources r = PolicyFixture.translate(grpc, rule("{version: V2}", "", ""));
        TransportSocket socket = cluster(r, "outbound|5000||" + HOST).getTransportSocket();
        assertThat(socket.getTypedConfig().is(UpstreamTlsContext.class)).isTrue();
    }

    @Test
    void anUnknownVersionIsRejected() {
        assertThatThrownBy(() -> ConfigParser.parse(Yaml.resources(rule("{version: V3}", "", ""), "sample",
                PolicyFixture.CREATED).get(0)))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("spec.trafficPolicy.proxyProtocol.version: 'V3' (expected: V1 or V2)");
    }

    private static Cluster cluster(ProxyResources r, String name) {
        return r.clusters().stream().filter(c -> c.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no cluster " + name));
    }

    private static ProxyProtocolUpstreamTransport wrapper(Cluster cluster) throws Exception {
        assertThat(cluster.getTransportSocket().getName()).isEqualTo(PolicyTranslator.PROXY_PROTOCOL_SOCKET);
        return cluster.getTransportSocket().getTypedConfig().unpack(ProxyProtocolUpstreamTransport.class);
    }

    private static String rule(String proxyProtocol, String moreTrafficPolicy, String more) {
        return """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: helloworld, namespace: sample}
                spec:
                  host: helloworld
                  trafficPolicy:
                    proxyProtocol: %s
                %s%s""".formatted(proxyProtocol, moreTrafficPolicy, more);
    }
}
