package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.netty.handler.ssl.SslContext;

/**
 * Where one HTTP request goes: an address, the TLS context and SNI to reach it with
 * ({@code sslContext} null for plaintext, e.g. the local app), and the HTTP version to speak.
 * For {@link UpstreamProtocol#HTTP2} over TLS, {@code sslContext} must offer ALPN {@code h2}.
 * {@code proxyHeader}, when not null, is written first on each new connection.
 */
record UpstreamTarget(String host, int port, SslContext sslContext, String sni,
    UpstreamEndpoint endpoint, UpstreamProtocol protocol, UpstreamConnections connections,
    ProxyProtocolHeader proxyHeader) {

  UpstreamTarget {
    requireNonNull(host, "host");
    requireNonNull(endpoint, "endpoint");
    requireNonNull(protocol, "protocol");
    requireNonNull(connections, "connections");
  }

  /** Without a PROXY protocol header. */
  UpstreamTarget(String host, int port, SslContext sslContext, String sni,
      UpstreamEndpoint endpoint, UpstreamProtocol protocol, UpstreamConnections connections) {
    this(host, port, sslContext, sni, endpoint, protocol, connections, null);
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
    return new UpstreamTarget(host, port, sslContext, sni, endpoint, next, connections,
        proxyHeader);
  }

  /**
   * Connections to equal keys are interchangeable, so they share a pool. A connection that
   * started with a PROXY protocol header speaks for one downstream client, so the header is part
   * of the key (Envoy keys its pools by it too).
   */
  record Key(String host, int port, SslContext sslContext, String sni,
      UpstreamProtocol protocol, ProxyProtocolHeader proxyHeader) {}

  Key key() {
    return new Key(host, port, sslContext, sni, protocol, proxyHeader);
  }
}
