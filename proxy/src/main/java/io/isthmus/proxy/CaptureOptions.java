package io.isthmus.proxy;

import static java.util.Objects.requireNonNull;

/**
 * Whether the pod's traffic reaches the sidecar through capture rules ({@code isthmus-proxy-init})
 * and how, so the sidecar knows where to find each connection's original destination.
 *
 * <p>{@link Mode#NONE}: no inbound capture listener; the sidecar binds one inbound listener per
 * port on the pod IP, and the outbound entry (15001) serves explicit HTTP clients (it still
 * honours a connection that capture redirected to it). {@link Mode#REDIRECT} and {@link Mode#TPROXY}:
 * the inbound capture listener on {@code 0.0.0.0:<inboundPort>} takes every captured inbound
 * connection (REDIRECT: SO_ORIGINAL_DST; TPROXY: an {@code IP_TRANSPARENT} listener, whose
 * sockets keep the original destination as their local address), and per-port listeners are not
 * bound (the app owns its ports).
 *
 * @param inboundPort the inbound capture port (Istio: 15006); 0 picks a free one (tests)
 * @param dns the DNS proxy ({@code isthmus-proxy-init --redirect-dns} sends the app's DNS to it);
 *     {@link DnsOptions#DISABLED} by default
 */
public record CaptureOptions(Mode mode, int inboundPort, DnsOptions dns) {

  /** How inbound connections were captured, if at all. */
  public enum Mode { NONE, REDIRECT, TPROXY }

  public static final CaptureOptions NONE = new CaptureOptions(Mode.NONE, 15006);

  /** Capture without the DNS proxy. */
  public CaptureOptions(Mode mode, int inboundPort) {
    this(mode, inboundPort, DnsOptions.DISABLED);
  }

  public CaptureOptions {
    requireNonNull(mode, "mode");
    requireNonNull(dns, "dns");
    if (inboundPort < 0 || inboundPort > 65535) {
      throw new IllegalArgumentException("inboundPort: " + inboundPort + " (expected: 0..65535)");
    }
  }

  public CaptureOptions withDns(DnsOptions options) {
    return new CaptureOptions(mode, inboundPort, options);
  }

  public boolean enabled() {
    return mode != Mode.NONE;
  }

  /** {@code none}, {@code redirect} or {@code tproxy}, as the {@code --capture} flag takes it. */
  public static Mode parseMode(String text) {
    try {
      return Mode.valueOf(text.trim().toUpperCase(java.util.Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--capture: " + text
          + " (expected: none, redirect or tproxy, as isthmus-proxy-init's interception mode)");
    }
  }
}
