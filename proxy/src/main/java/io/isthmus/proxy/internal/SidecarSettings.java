package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.isthmus.proxy.CaptureOptions;

/**
 * Where the sidecar listens. Port 0 picks a free port (tests); the contract ports are
 * 15001 (outbound), 15000 (admin), 15021 (health) and, with capture, 15006 (inbound capture).
 */
public record SidecarSettings(String podIp, String localhost, int outboundPort, int adminPort,
    int healthPort, WorkloadInfo self, CaptureOptions capture) {

  public SidecarSettings {
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

  /** Settings without traffic capture. */
  public SidecarSettings(String podIp, String localhost, int outboundPort, int adminPort,
      int healthPort, WorkloadInfo self) {
    this(podIp, localhost, outboundPort, adminPort, healthPort, self, CaptureOptions.NONE);
  }
}
