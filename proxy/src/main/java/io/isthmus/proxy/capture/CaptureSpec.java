package io.isthmus.proxy.capture;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What the traffic-capture rules of one pod's network namespace do, with the meaning of Istio's
 * {@code istio-iptables} flags and {@code traffic.sidecar.istio.io/*} annotations: which inbound
 * ports are redirected to the sidecar's inbound capture listener (15006), which outbound
 * destinations go to its outbound capture listener (15001), and whose traffic is never captured
 * (the proxy's own UID and GID, so its upstream connections do not loop back into it).
 *
 * <p>Port and CIDR lists keep the order they were given in, since rules come out in that order.
 * {@code includeInboundPorts} and {@code includeOutboundCidrs} hold {@code "*"} alone for "all".
 *
 * @param mode REDIRECT (nat table) or TPROXY (inbound through the mangle table, keeping the
 *     original destination as the accepted socket's local address)
 * @param outboundPort the sidecar's outbound capture listener (Istio: 15001)
 * @param inboundPort the sidecar's inbound capture listener (Istio: 15006)
 * @param proxyUids UIDs whose connections are never captured (Istio: 1337)
 * @param proxyGids GIDs whose connections are never captured (Istio: 1337)
 * @param includeInboundPorts {@code "*"}, or the ports whose inbound traffic is captured; empty:
 *     no inbound capture
 * @param excludeInboundPorts ports never captured inbound, besides the proxy's own
 * @param includeOutboundCidrs {@code "*"}, or the destination ranges captured outbound; empty: no
 *     outbound capture
 * @param excludeOutboundCidrs destination ranges never captured outbound
 * @param excludeOutboundPorts destination ports never captured outbound
 * @param tproxyMark the packet mark of diverted inbound traffic (TPROXY; Istio: 1337)
 * @param tproxyRouteTable the routing table that delivers marked packets locally (TPROXY; 133)
 */
public record CaptureSpec(
    InterceptionMode mode,
    int outboundPort,
    int inboundPort,
    List<String> proxyUids,
    List<String> proxyGids,
    List<String> includeInboundPorts,
    List<Integer> excludeInboundPorts,
    List<String> includeOutboundCidrs,
    List<String> excludeOutboundCidrs,
    List<Integer> excludeOutboundPorts,
    int tproxyMark,
    int tproxyRouteTable) {

  /** How inbound connections reach the inbound capture listener. */
  public enum InterceptionMode {
    /** nat REDIRECT; the sidecar reads the original destination with SO_ORIGINAL_DST. */
    REDIRECT,
    /** mangle TPROXY; the listener is IP_TRANSPARENT and its sockets keep the destination. */
    TPROXY
  }

  /**
   * Ports of the sidecar itself that inbound capture always leaves alone, as Istio does: 15008
   * (HBONE), 15090 (Envoy's Prometheus), 15021 (health), 15020 (merged metrics).
   */
  public static final List<Integer> PROXY_INBOUND_PORTS = List.of(15008, 15090, 15021, 15020);

  /** Istio's defaults: REDIRECT, 15001/15006, UID and GID 1337, every port and destination. */
  public static final CaptureSpec DEFAULT = new CaptureSpec(InterceptionMode.REDIRECT, 15001,
      15006, List.of("1337"), List.of("1337"), List.of("*"), List.of(), List.of("*"), List.of(),
      List.of(), 1337, 133);

  public CaptureSpec {
    requireNonNull(mode, "mode");
    checkPort("outboundPort", outboundPort);
    checkPort("inboundPort", inboundPort);
    proxyUids = List.copyOf(requireNonNull(proxyUids, "proxyUids"));
    proxyGids = List.copyOf(requireNonNull(proxyGids, "proxyGids"));
    includeInboundPorts = List.copyOf(requireNonNull(includeInboundPorts, "includeInboundPorts"));
    excludeInboundPorts = List.copyOf(requireNonNull(excludeInboundPorts, "excludeInboundPorts"));
    includeOutboundCidrs =
        List.copyOf(requireNonNull(includeOutboundCidrs, "includeOutboundCidrs"));
    excludeOutboundCidrs =
        List.copyOf(requireNonNull(excludeOutboundCidrs, "excludeOutboundCidrs"));
    excludeOutboundPorts =
        List.copyOf(requireNonNull(excludeOutboundPorts, "excludeOutboundPorts"));
    for (String id : proxyUids) {
      checkId("proxyUids", id);
    }
    for (String id : proxyGids) {
      checkId("proxyGids", id);
    }
    checkWildcardOr("includeInboundPorts", includeInboundPorts, CaptureSpec::checkPortText);
    excludeInboundPorts.forEach(p -> checkPort("excludeInboundPorts", p));
    checkWildcardOr("includeOutboundCidrs", includeOutboundCidrs, CaptureSpec::checkCidr);
    excludeOutboundCidrs.forEach(c -> checkCidr("excludeOutboundCidrs", c));
    excludeOutboundPorts.forEach(p -> checkPort("excludeOutboundPorts", p));
    if (tproxyMark <= 0) {
      throw new IllegalArgumentException("tproxyMark: " + tproxyMark + " (expected: > 0)");
    }
    if (tproxyRouteTable <= 0 || tproxyRouteTable >= 253) {
      throw new IllegalArgumentException("tproxyRouteTable: " + tproxyRouteTable
          + " (expected: 1..252; 253-255 are the kernel's default, main and local tables)");
    }
  }

  /** True when every inbound port is captured (the {@code "*"} default). */
  public boolean allInbound() {
    return includeInboundPorts.equals(List.of("*"));
  }

  /** True when every outbound destination is captured (the {@code "*"} default). */
  public boolean allOutbound() {
    return includeOutboundCidrs.equals(List.of("*"));
  }

  /** Pod annotations that change capture, with the meaning Istio's injector gives them. */
  public static final String INCLUDE_INBOUND_PORTS =
      "traffic.sidecar.istio.io/includeInboundPorts";
  public static final String EXCLUDE_INBOUND_PORTS =
      "traffic.sidecar.istio.io/excludeInboundPorts";
  public static final String INCLUDE_OUTBOUND_IP_RANGES =
      "traffic.sidecar.istio.io/includeOutboundIPRanges";
  public static final String EXCLUDE_OUTBOUND_IP_RANGES =
      "traffic.sidecar.istio.io/excludeOutboundIPRanges";
  public static final String EXCLUDE_OUTBOUND_PORTS =
      "traffic.sidecar.istio.io/excludeOutboundPorts";
  public static final String INTERCEPTION_MODE = "sidecar.istio.io/interceptionMode";

  /**
   * This spec with a pod's annotations applied (the other annotations are ignored): the
   * {@code traffic.sidecar.istio.io/*} port and range lists (comma-separated; {@code "*"} for
   * all where Istio allows it) and {@code sidecar.istio.io/interceptionMode}.
   *
   * @throws IllegalArgumentException naming the annotation and the value it cannot use
   */
  public CaptureSpec withAnnotations(Map<String, String> annotations) {
    requireNonNull(annotations, "annotations");
    CaptureSpec spec = this;
    try {
      String mode = annotations.get(INTERCEPTION_MODE);
      if (mode != null) {
        spec = spec.with(InterceptionMode.valueOf(mode.trim().toUpperCase(Locale.ROOT)), null,
            null, null, null, null);
      }
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("annotation " + INTERCEPTION_MODE + ": "
          + annotations.get(INTERCEPTION_MODE) + " (expected: REDIRECT or TPROXY)");
    }
    spec = annotated(annotations, INCLUDE_INBOUND_PORTS, spec,
        (s, v) -> s.with(null, split(v), null, null, null, null));
    spec = annotated(annotations, EXCLUDE_INBOUND_PORTS, spec,
        (s, v) -> s.with(null, null, ports(v), null, null, null));
    spec = annotated(annotations, INCLUDE_OUTBOUND_IP_RANGES, spec,
        (s, v) -> s.with(null, null, null, split(v), null, null));
    spec = annotated(annotations, EXCLUDE_OUTBOUND_IP_RANGES, spec,
        (s, v) -> s.with(null, null, null, null, split(v), null));
    spec = annotated(annotations, EXCLUDE_OUTBOUND_PORTS, spec,
        (s, v) -> s.with(null, null, null, null, null, ports(v)));
    return spec;
  }

  private static CaptureSpec annotated(Map<String, String> annotations, String key,
      CaptureSpec spec, java.util.function.BiFunction<CaptureSpec, String, CaptureSpec> apply) {
    String value = annotations.get(key);
    if (value == null) {
      return spec;
    }
    try {
      return apply.apply(spec, value);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("annotation " + key + ": " + e.getMessage(), e);
    }
  }

  /** A copy with the non-null arguments replaced. */
  CaptureSpec with(InterceptionMode mode, List<String> includeInbound,
      List<Integer> excludeInbound, List<String> includeOutbound, List<String> excludeOutbound,
      List<Integer> excludeOutboundPorts) {
    return new CaptureSpec(mode != null ? mode : this.mode, outboundPort, inboundPort, proxyUids,
        proxyGids, includeInbound != null ? includeInbound : includeInboundPorts,
        excludeInbound != null ? excludeInbound : excludeInboundPorts,
        includeOutbound != null ? includeOutbound : includeOutboundCidrs,
        excludeOutbound != null ? excludeOutbound : excludeOutboundCidrs,
        excludeOutboundPorts != null ? excludeOutboundPorts : this.excludeOutboundPorts,
        tproxyMark, tproxyRouteTable);
  }

  /** {@code "a, b,,c"} → {@code [a, b, c]}; blank → empty. */
  static List<String> split(String text) {
    List<String> out = new ArrayList<>();
    for (String part : text.split(",")) {
      if (!part.isBlank()) {
        out.add(part.trim());
      }
    }
    return out;
  }

  static List<Integer> ports(String text) {
    List<Integer> out = new ArrayList<>();
    for (String part : split(text)) {
      checkPortText("port", part);
      out.add(Integer.parseInt(part));
    }
    return out;
  }

  private static void checkWildcardOr(String name, List<String> values,
      java.util.function.BiConsumer<String, String> check) {
    if (values.contains("*")) {
      if (values.size() != 1) {
        throw new IllegalArgumentException(name + ": " + values
            + " (expected: \"*\" alone, or a list without \"*\")");
      }
      return;
    }
    values.forEach(v -> check.accept(name, v));
  }

  private static void checkPortText(String name, String text) {
    try {
      checkPort(name, Integer.parseInt(text.trim()));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + ": " + text + " (expected: a port, 1..65535)");
    }
  }

  private static void checkPort(String name, int port) {
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException(name + ": " + port + " (expected: a port, 1..65535)");
    }
  }

  private static void checkId(String name, String id) {
    if (!id.matches("[0-9]{1,10}") && !id.matches("[a-z_][a-z0-9_-]{0,31}")) {
      throw new IllegalArgumentException(name + ": " + id
          + " (expected: a numeric id or a user/group name)");
    }
  }

  /** IPv4 only: the rules are written for {@code iptables}, not {@code ip6tables}. */
  private static void checkCidr(String name, String cidr) {
    String[] parts = cidr.split("/", -1);
    boolean ok = parts.length <= 2 && parts[0].matches(
        "((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])");
    if (ok && parts.length == 2) {
      ok = parts[1].matches("[0-9]{1,2}") && Integer.parseInt(parts[1]) <= 32;
    }
    if (!ok) {
      throw new IllegalArgumentException(name + ": " + cidr
          + " (expected: an IPv4 address or CIDR, e.g. 10.96.0.0/12)");
    }
  }
}
