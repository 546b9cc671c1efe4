package io.isthmus.proxy.xds;

import static java.util.Objects.requireNonNull;

import io.netty.handler.ssl.SslContext;
import java.time.Duration;

/**
 * How to reach the controller's ADS server.
 *
 * @param target {@code host:port} of the controller (15012 with TLS, 15010 plaintext)
 * @param authority the TLS authority to present and expect, {@code istiod.istio-system.svc}
 * @param sslContext a client context with ALPN {@code h2} that presents the workload
 *     certificate and verifies the controller, or {@code null} for plaintext
 * @param node who this proxy is
 * @param initialBackoff first reconnect delay; doubles up to {@code maxBackoff}
 */
public record XdsClientOptions(
    String target,
    String authority,
    SslContext sslContext,
    XdsNode node,
    Duration initialBackoff,
    Duration maxBackoff) {

  public static final String DEFAULT_AUTHORITY = "istiod.istio-system.svc";

  public XdsClientOptions {
    requireNonNull(target, "target");
    requireNonNull(authority, "authority");
    requireNonNull(node, "node");
    requireNonNull(initialBackoff, "initialBackoff");
    requireNonNull(maxBackoff, "maxBackoff");
    if (!target.contains(":")) {
      throw new IllegalArgumentException("target: " + target + " (expected: host:port)");
    }
    if (initialBackoff.isNegative() || initialBackoff.isZero()) {
      throw new IllegalArgumentException("initialBackoff: " + initialBackoff + " (expected: > 0)");
    }
    if (maxBackoff.compareTo(initialBackoff) < 0) {
      throw new IllegalArgumentException(
          "maxBackoff: " + maxBackoff + " (expected: >= initialBackoff " + initialBackoff + ")");
    }
  }

  /** TLS to the controller with the default authority and a 0.5 s to 10 s backoff. */
  public static XdsClientOptions of(String target, SslContext sslContext, XdsNode node) {
    return new XdsClientOptions(target, DEFAULT_AUTHORITY, sslContext, node,
        Duration.ofMillis(500), Duration.ofSeconds(10));
  }

  public XdsClientOptions withBackoff(Duration initial, Duration max) {
    return new XdsClientOptions(target, authority, sslContext, node, initial, max);
  }
}
