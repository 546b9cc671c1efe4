package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.netty.handler.ssl.SslContext;
import java.util.List;

/**
 * Where one HTTP request goes: an address, the TLS context and SNI to reach it with
 * ({@code sslContext} null for plaintext, e.g. the local app), the SPIFFE IDs that may answer
 * there ({@link UpstreamIdentity}; empty: any the context trusts), and the HTTP version to speak.
 * For {@link UpstreamProtocol#HTTP2} over TLS, {@code sslContext} must offer ALPN {@code h2}.
 * {@code proxyHeader}, when not null, is written first on each new connection.
 */
record UpstreamTarget(String host, int port, SslContext sslContext, String sni,
    List<String> peerIdentities, UpstreamEndpoint endpoint, UpstreamProtocol protocol,
    UpstreamConnections connections, ProxyProtocolHeader proxyHeader) {

  UpstreamTarget {
    requireNonNull(host, "host");
    requireNonNull(peerIdentities, "peerIdentities");
    requireNonNull(endpoint, "endpoint");
    requireNonNull(protocol, "protocol");
    requireNonNull(connections, "connections");
  }

  /** Without a PROXY protocol header. */
  UpstreamTarget(String host, int port, SslContext sslContext, String sni,
      List<String> peerIdentities, UpstreamEndpoint endpoint, UpstreamProtocol protocol,
      UpstreamConnections connections) {
    this(host, port, sslContext, sni, peerIdentities, endpoint, protocol, connections, null);
  }

  UpstreamTarget(String host, int port, SslContext sslContext, String sni,
      UpstreamEndpoint endpoint, UpstreamProtocol protocol, UpstreamConnections connections) {
    this(host, port, sslContext, sni, List.of(), endpoint, protocol, connections);
  }

  UpstreamTarget(String host, int port, SslContext sslContext, String sni,
      UpstreamEndpoint endpoint, UpstreamProtocol protocol) {
    this(host, port, sslContext, sni, endpoint, protocol, UpstreamConnections.DEFAULT);
  }

  UpstreamTarget(String host, int port, SslContext sslContext, String sni,
      UpstreamEndpoint endpoint) {
    this(host, port, sslContext, sni, endpoint, UpstreamProtocol.HTTP1);
  }

  UpstreamTarget withProtocol(UpstreamProtocol next) {
    return new UpstreamTarget(host, port, sslContext, sni, peerIdentities, endpoint, next, connections,
        proxyHeader);
  }

  /**
   * Connections to equal keys are interchangeable, so they share a pool: one verified for some
   * identities never serves a cluster that accepts others; one that started with a PROXY protocol
   * header speaks for one downstream client (Envoy keys its pools by the header too).
   */
  record Key(String host, int port, SslContext sslContext, String sni, List<String> peerIdentities,
      UpstreamProtocol protocol, ProxyProtocolHeader proxyHeader) {}

  Key key() {
    return new Key(host, port, sslContext, sni, peerIdentities, protocol, proxyHeader);
  }
}
