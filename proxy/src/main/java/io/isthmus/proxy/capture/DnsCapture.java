package io.isthmus.proxy.capture;

import static java.util.Objects.requireNonNull;

import java.util.List;

/**
 * {@code isthmus-proxy-init --redirect-dns} (istio-iptables' flag): the app's DNS queries, UDP and
 * TCP port 53, go to the sidecar's DNS proxy instead of the resolver, except the proxy's own (its
 * UIDs/GIDs), which must reach the real resolvers. Only queries to {@code nameservers} (the pod's
 * resolv.conf) are redirected, or every port-53 packet with {@code captureAll}
 * ({@code --capture-all-dns}).
 *
 * @param dnsPort the DNS proxy's port (Istio: 15053)
 */
public record DnsCapture(int dnsPort, boolean captureAll, List<String> nameservers) {

  public DnsCapture {
    nameservers = List.copyOf(requireNonNull(nameservers, "nameservers"));
    if (dnsPort < 1 || dnsPort > 65535) {
      throw new IllegalArgumentException("dnsPort: " + dnsPort + " (expected: 1..65535)");
    }
    for (String ip : nameservers) {
      if (!io.netty.util.NetUtil.isValidIpV4Address(ip)) {
        throw new IllegalArgumentException("nameserver: " + ip
            + " (expected: an IPv4 address; IPv6 capture (ip6tables) is not supported)");
      }
    }
    if (!captureAll && nameservers.isEmpty()) {
      throw new IllegalArgumentException("--redirect-dns: no IPv4 nameserver in resolv.conf"
          + " (expected: one, or --capture-all-dns to redirect every port-53 query)");
    }
  }
}
