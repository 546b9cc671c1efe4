package io.isthmus.proxy.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Any;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.ProxyProtocolConfig;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport;
import io.envoyproxy.envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import org.junit.jupiter.api.Test;

/**
 * A cluster's {@code upstream_proxy_protocol} transport socket: accepted around TLS or raw bytes
 * in V1 or V2, its TLS context still read through it, anything else rejected by name.
 */
class ProxyProtocolTransportTest {

  @Test
  void theWrapperAroundTlsOrRawBytesIsAcceptedAndReadThrough() {
    UpstreamTlsContext tls = UpstreamTlsContext.newBuilder().setSni("outbound_.80_._.app").build();
    Cluster aroundTls = cluster(wrap(ProxyProtocolConfig.Version.V2, Any.pack(tls)));
    XdsValidator.validate(aroundTls);
    assertThat(XdsResources.upstreamTlsContext(aroundTls)).contains(tls);
    assertThat(XdsResources.upstreamProxyProtocol(aroundTls)).contains(ProxyProtocolConfig.Version.V2);

    Cluster aroundRaw = cluster(wrap(ProxyProtocolConfig.Version.V1, Any.pack(RawBuffer.getDefaultInstance())));
    XdsValidator.validate(aroundRaw);
    assertThat(XdsResources.upstreamTlsContext(aroundRaw)).isEmpty();
    assertThat(XdsResources.upstreamProxyProtocol(aroundRaw)).contains(ProxyProtocolConfig.Version.V1);

    Cluster plain = Cluster.newBuilder().setName("app").setType(Cluster.DiscoveryType.EDS).build();
    assertThat(XdsResources.upstreamProxyProtocol(plain)).isEmpty();
  }

  @Test
  void anythingElseIsRejectedByName() {
    assertThatThrownBy(() -> XdsValidator.validate(cluster(wrap(ProxyProtocolConfig.Version.V1,
        Any.pack(ProxyProtocolConfig.getDefaultInstance())))))
        .hasMessageContaining("cluster app: transport_socket upstream_proxy_protocol.transport_socket"
            + " type.googleapis.com/envoy.config.core.v3.ProxyProtocolConfig (expected:");
    // A raw_buffer alone is not something the controller sends.
    assertThatThrownBy(() -> XdsValidator.validate(cluster(TransportSocket.newBuilder().setName("raw")
        .setTypedConfig(Any.pack(RawBuffer.getDefaultInstance())).build())))
        .hasMessageContaining("cluster app: transport_socket type.googleapis.com/"
            + "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer (expected:");
  }

  private static Cluster cluster(TransportSocket socket) {
    return Cluster.newBuilder().setName("app").setType(Cluster.DiscoveryType.EDS)
        .setTransportSocket(socket).build();
  }

  private static TransportSocket wrap(ProxyProtocolConfig.Version version, Any inner) {
    return TransportSocket.newBuilder().setName("envoy.transport_sockets.upstream_proxy_protocol")
        .setTypedConfig(Any.pack(ProxyProtocolUpstreamTransport.newBuilder()
            .setConfig(ProxyProtocolConfig.newBuilder().setVersion(version))
            .setTransportSocket(TransportSocket.newBuilder().setName("inner").setTypedConfig(inner))
            .build()))
        .build();
  }
}
