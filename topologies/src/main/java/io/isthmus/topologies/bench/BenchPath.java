package io.isthmus.topologies.bench;

import java.util.Locale;

/** One way a request can go from the load generator to the backend. */
public enum BenchPath {
  DIRECT("direct (load generator → app)", false),
  ISTHMUS_PLAIN("isthmus: one plain hop", false),
  HAPROXY_PLAIN("haproxy: one plain hop", false),
  ISTHMUS_MTLS("isthmus: sidecar → mTLS → sidecar", true),
  /** As {@link #ISTHMUS_MTLS}, the sidecars speaking HTTP/2 (ALPN h2, multiplexed) between them. */
  ISTHMUS_MTLS_H2("isthmus: sidecar → mTLS h2 → sidecar", true),
  HAPROXY_TLS("haproxy: two TLS hops (client cert)", true),
  ISTHMUS_GATEWAY("isthmus: sidecar → gateway → sidecar", true),
  /** Only in the fixed-rate run: the client speaks TLS to the app itself. */
  DIRECT_TLS("direct TLS (load generator → app, TLS)", true);

  private final String label;
  private final boolean tls;

  BenchPath(String label, boolean tls) {
    this.label = label;
    this.tls = tls;
  }

  public String label() {
    return label;
  }

  boolean tls() {
    return tls;
  }

  /** The name on the command line ({@code --paths}): {@code isthmus-plain}, ... */
  public String flag() {
    return name().toLowerCase(Locale.ROOT).replace('_', '-');
  }

  public static BenchPath ofFlag(String flag) {
    for (BenchPath path : values()) {
      if (path.flag().equals(flag.trim())) {
        return path;
      }
    }
    throw new IllegalArgumentException("--paths: " + flag + " (expected: some of "
        + java.util.Arrays.stream(values()).map(BenchPath::flag).toList() + ")");
  }

  /** The peer row an Isthmus row is compared with, or null. */
  BenchPath peer() {
    return switch (this) {
      case ISTHMUS_PLAIN -> HAPROXY_PLAIN;
      case ISTHMUS_MTLS, ISTHMUS_MTLS_H2 -> HAPROXY_TLS;
      default -> null;
    };
  }
}
