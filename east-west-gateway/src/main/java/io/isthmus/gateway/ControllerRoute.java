package io.isthmus.gateway;

import static java.util.Objects.requireNonNull;

import java.util.List;

/**
 * The controller ports an east-west gateway carries for remote clusters (primary-remote across
 * networks, Istio's "expose istiod" gateway): each port is listened on at the gateway's address and
 * every connection is relayed as plain TCP to {@code controllerHost} on the same port. The
 * controller's mTLS (15012) stays end to end; the gateway reads no byte of it.
 *
 * @param controllerHost the primary's controller address, reachable from the gateway
 * @param ports the ports to carry, 15012 (xDS and certificates) and 15017 (webhooks) by default
 */
public record ControllerRoute(String controllerHost, List<Integer> ports) {

  /** The controller ports Istio's east-west gateway exposes for remote clusters. */
  public static final List<Integer> DEFAULT_PORTS = List.of(15012, 15017);

  public ControllerRoute {
    requireNonNull(controllerHost, "controllerHost");
    if (controllerHost.isBlank()) {
      throw new IllegalArgumentException("controllerHost: '' (expected: the controller's address, e.g. 10.201.0.1)");
    }
    ports = List.copyOf(requireNonNull(ports, "ports"));
    if (ports.isEmpty()) {
      throw new IllegalArgumentException("ports: [] (expected: at least one, e.g. " + DEFAULT_PORTS + ")");
    }
    for (int p : ports) {
      if (p < 1 || p > 65535) {
        throw new IllegalArgumentException("ports: " + p + " (expected: 1..65535)");
      }
    }
    if (ports.stream().distinct().count() != ports.size()) {
      throw new IllegalArgumentException("ports: " + ports + " (expected: each port once)");
    }
  }

  /** The default ports, 15012 and 15017, to {@code controllerHost}. */
  public static ControllerRoute to(String controllerHost) {
    return new ControllerRoute(controllerHost, DEFAULT_PORTS);
  }
}
