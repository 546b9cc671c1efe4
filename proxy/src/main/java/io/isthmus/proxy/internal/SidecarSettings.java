package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

/**
 * Where the sidecar listens. Port 0 picks a free port (tests); the contract ports are
 * 15001 (outbound), 15000 (admin) and 15021 (health).
 */
public record SidecarSettings(String podIp, String localhost, int outboundPort, int adminPort,
    int healthPort, WorkloadInfo self) {

  public SidecarSettings {
    requireNonNull(podIp, "podIp");
    requireNonNull(localhost, "localhost");
    requireNonNull(self, "self");
    for (int port : new int[] {outboundPort, adminPort, healthPort}) {
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException("port: " + port + " (expected: 0..65535)");
      }
    }
  }
}
