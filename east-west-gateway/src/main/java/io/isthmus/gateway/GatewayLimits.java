package io.isthmus.gateway;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * Time bounds of the gateway's connections, so that no client can hold one open for free.
 *
 * @param handshakeTimeout how long a new connection may take to send a whole ClientHello (a
 *     slow-loris client trickling bytes does not extend it); then it is closed, counted as
 *     {@code timeout}
 * @param idleTimeout how long a relayed connection may carry no byte in either direction (a
 *     peer that vanished without a FIN, a half-open connection) before both sides are closed,
 *     counted as {@code idle_timeout}; Istio's TCP proxy default is 1 h
 * @param drainTimeout after a drain starts (admin {@code /drain_listeners}), how long relayed
 *     connections keep flowing before the rest are closed, counted as {@code drain_deadline}
 */
public record GatewayLimits(Duration handshakeTimeout, Duration idleTimeout, Duration drainTimeout) {

  /** 10 s to say hello, 1 h idle (Istio's TCP idle timeout), 45 s to drain (Istio's drain time). */
  public static final GatewayLimits DEFAULTS =
      new GatewayLimits(Duration.ofSeconds(10), Duration.ofHours(1), Duration.ofSeconds(45));

  public GatewayLimits {
    positive(requireNonNull(handshakeTimeout, "handshakeTimeout"), "handshakeTimeout");
    positive(requireNonNull(idleTimeout, "idleTimeout"), "idleTimeout");
    requireNonNull(drainTimeout, "drainTimeout");
    if (drainTimeout.isNegative()) {
      throw new IllegalArgumentException("drainTimeout: " + drainTimeout + " (expected: >= 0)");
    }
  }

  public GatewayLimits withHandshakeTimeout(Duration timeout) {
    return new GatewayLimits(timeout, idleTimeout, drainTimeout);
  }

  public GatewayLimits withIdleTimeout(Duration timeout) {
    return new GatewayLimits(handshakeTimeout, timeout, drainTimeout);
  }

  public GatewayLimits withDrainTimeout(Duration timeout) {
    return new GatewayLimits(handshakeTimeout, idleTimeout, timeout);
  }

  private static void positive(Duration d, String name) {
    if (d.isNegative() || d.isZero()) {
      throw new IllegalArgumentException(name + ": " + d + " (expected: > 0)");
    }
  }
}
