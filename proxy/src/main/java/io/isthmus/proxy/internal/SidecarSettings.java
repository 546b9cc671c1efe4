package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.isthmus.proxy.CaptureOptions;

/**
 * Where the sidecar listens. Port 0 picks a free port (tests); the contract ports are
 * 15001 (outbound), 15000 (admin), 15021 (health) and, with capture, 15006 (inbound capture).
 *
 * @param dnsServers the DNS servers STRICT_DNS and LOGICAL_DNS clusters are resolved with, in
 *     order; empty for the system's ({@code /etc/resolv.conf})
 * @param eventLoops the data plane's event loops (at least 1): every listener's connections and
 *     their upstream connections share them
 */
public record SidecarSettings(String podIp, String localhost, int outboundPort, int adminPort,
    int healthPort, WorkloadInfo self, CaptureOptions capture,
    java.util.List<java.net.InetSocketAddress> dnsServers, int eventLoops) {

  public SidecarSettings {
    if (eventLoops < 1) {
      throw new IllegalArgumentException("eventLoops: " + eventLoops + " (expected: >= 1)");
    }
    dnsServers = java.util.List.copyOf(dnsServers);
    requireNonNull(podIp, "podIp");
    requireNonNull(localhost, "localhost");
    requireNonNull(self, "self");
    requireNonNull(capture, "capture");
    for (int port : new int[] {outboundPort, adminPort, healthPort}) {
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException("port: " + port + " (expected: 0..65535)");
      }
    }
  }

  /** Settings with a sidecar's default two event loops. */
  public SidecarSettings(String podIp, String localhost, int outboundPort, int adminPort,
      int healthPort, WorkloadInfo self, CaptureOptions capture,
      java.util.List<java.net.InetSocketAddress> dnsServers) {
    this(podIp, localhost, outboundPort, adminPort, healthPort, self, capture, dnsServers,
        io.isthmus.proxy.ProxyOptions.SIDECAR_CONCURRENCY);
  }

  /** Settings whose DNS clusters ask the system's DNS servers ({@code /etc/resolv.conf}). */
  public SidecarSettings(String podIp, String localhost, int outboundPort, int adminPort,
      int healthPort, WorkloadInfo self, CaptureOptions capture) {
    this(podIp, localhost, outboundPort, adminPort, healthPort, self, capture, java.util.List.of());
  }

  /** Settings without traffic capture. */
  public SidecarSettings(String podIp, String localhost, int outboundPort, int adminPort,
      int healthPort, WorkloadInfo self) {
    this(podIp, localhost, outboundPort, adminPort, healthPort, self, CaptureOptions.NONE);
  }
}
