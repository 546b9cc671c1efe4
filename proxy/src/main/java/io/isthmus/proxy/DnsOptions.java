package io.isthmus.proxy;

import static java.util.Objects.requireNonNull;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The sidecar's DNS proxy, Istio's {@code ISTIO_META_DNS_CAPTURE}: when enabled, the sidecar asks
 * the controller for the name table (NDS), answers A/AAAA queries for mesh hosts on
 * {@code listen} (UDP and TCP; Istio's 127.0.0.1:15053, where {@code isthmus-proxy-init
 * --redirect-dns} sends the app's port-53 traffic) and forwards every other query to the
 * upstream resolvers, relaying their answer unchanged.
 *
 * @param listen where to answer; port 0 picks a free one (tests)
 * @param upstreams the resolvers to forward to, tried in order; empty: the {@code nameserver}
 *     lines of {@code resolvConf}
 * @param searchDomains the pod's search domains; empty: the {@code search} line of
 *     {@code resolvConf}. The first one gets Istio's CNAME shortcut for short names.
 * @param resolvConf the pod's resolver configuration (Istio reads {@code /etc/resolv.conf})
 * @param upstreamTimeout how long one upstream may take before the next is tried
 * @param maxPendingUpstream queries forwarded and not yet answered, at most; more are answered
 *     SERVFAIL at once
 */
public record DnsOptions(
    boolean enabled,
    InetSocketAddress listen,
    List<InetSocketAddress> upstreams,
    List<String> searchDomains,
    Path resolvConf,
    Duration upstreamTimeout,
    int maxPendingUpstream) {

  public static final int DEFAULT_PORT = 15053;
  /** The cluster's DNS domain, as in the node id {@code <ns>.svc.cluster.local}. */
  public static final String DOMAIN_SUFFIX = "cluster.local";
  public static final DnsOptions DISABLED = new DnsOptions(false,
      new InetSocketAddress("127.0.0.1", DEFAULT_PORT), List.of(), List.of(),
      Path.of("/etc/resolv.conf"), Duration.ofSeconds(2), 1024);

  public DnsOptions {
    requireNonNull(listen, "listen");
    upstreams = List.copyOf(requireNonNull(upstreams, "upstreams"));
    searchDomains = List.copyOf(requireNonNull(searchDomains, "searchDomains"));
    requireNonNull(resolvConf, "resolvConf");
    requireNonNull(upstreamTimeout, "upstreamTimeout");
    if (upstreamTimeout.isNegative() || upstreamTimeout.isZero()) {
      throw new IllegalArgumentException("upstreamTimeout: " + upstreamTimeout + " (expected: > 0)");
    }
    if (maxPendingUpstream < 1) {
      throw new IllegalArgumentException(
          "maxPendingUpstream: " + maxPendingUpstream + " (expected: >= 1)");
    }
  }

  /** Enabled on {@code listen}, everything else as {@link #DISABLED}. */
  public static DnsOptions enabledOn(InetSocketAddress listen) {
    return DISABLED.withEnabled(true).withListen(listen);
  }

  public DnsOptions withEnabled(boolean on) {
    return new DnsOptions(on, listen, upstreams, searchDomains, resolvConf, upstreamTimeout,
        maxPendingUpstream);
  }

  public DnsOptions withListen(InetSocketAddress address) {
    return new DnsOptions(enabled, address, upstreams, searchDomains, resolvConf, upstreamTimeout,
        maxPendingUpstream);
  }

  public DnsOptions withUpstreams(List<InetSocketAddress> servers) {
    return new DnsOptions(enabled, listen, servers, searchDomains, resolvConf, upstreamTimeout,
        maxPendingUpstream);
  }

  public DnsOptions withSearchDomains(List<String> domains) {
    return new DnsOptions(enabled, listen, upstreams, domains, resolvConf, upstreamTimeout,
        maxPendingUpstream);
  }

  public DnsOptions withResolvConf(Path file) {
    return new DnsOptions(enabled, listen, upstreams, searchDomains, file, upstreamTimeout,
        maxPendingUpstream);
  }

  public DnsOptions withUpstreamTimeout(Duration timeout) {
    return new DnsOptions(enabled, listen, upstreams, searchDomains, resolvConf, timeout,
        maxPendingUpstream);
  }

  public DnsOptions withMaxPendingUpstream(int max) {
    return new DnsOptions(enabled, listen, upstreams, searchDomains, resolvConf, upstreamTimeout,
        max);
  }

  /** {@code host:port} (IPv6 in brackets), as the {@code --dns-address} flag takes it. */
  public static InetSocketAddress parseAddress(String text, String flag) {
    String t = text.trim();
    int colon = t.lastIndexOf(':');
    if (colon <= 0 || colon == t.length() - 1) {
      throw new IllegalArgumentException(flag + ": " + text + " (expected: ip:port, e.g. 127.0.0.1:15053)");
    }
    String host = t.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    int port;
    try {
      port = Integer.parseInt(t.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(flag + ": " + text + " (expected: ip:port, e.g. 127.0.0.1:15053)");
    }
    if (port < 0 || port > 65535
        || (!io.netty.util.NetUtil.isValidIpV4Address(host)
            && !io.netty.util.NetUtil.isValidIpV6Address(host))) {
      throw new IllegalArgumentException(flag + ": " + text
          + " (expected: an IP address and a port 0..65535, e.g. 127.0.0.1:15053)");
    }
    return new InetSocketAddress(host, port);
  }
}
