package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.netty.handler.ssl.SslContext;

/**
 * Where one HTTP request goes: an address, and the TLS context and SNI to reach it with
 * ({@code sslContext} null for plaintext, e.g. the local app).
 */
record UpstreamTarget(String host, int port, SslContext sslContext, String sni,
    UpstreamEndpoint endpoint) {

  UpstreamTarget {
    requireNonNull(host, "host");
    requireNonNull(endpoint, "endpoint");
  }

  /** Connections to equal keys are interchangeable, so they share a pool. */
  record Key(String host, int port, SslContext sslContext, String sni) {}

  Key key() {
    return new Key(host, port, sslContext, sni);
  }
}
