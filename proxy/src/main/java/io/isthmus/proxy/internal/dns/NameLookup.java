package io.isthmus.proxy.internal.dns;

import static java.util.Objects.requireNonNull;

import io.isthmus.trust.nds.NameTable;
import io.netty.util.NetUtil;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The DNS proxy's answers, compiled once per name table as istio-agent's lookup table: every
 * host of the table, and for a Kubernetes service in the proxy's own domain
 * ({@code svc.cluster.local}) its short forms {@code name.ns}, {@code name.ns.svc} and, in the
 * proxy's namespace, {@code name}; each of those once more with the first search domain
 * appended, as a CNAME to the name itself (a resolver with {@code ndots:5} asks
 * {@code helloworld.sample.svc.cluster.local.sample.svc.cluster.local} first, and the CNAME
 * answers it at once instead of forwarding it to fail upstream). Wildcard hosts
 * ({@code *.example.com}) answer any name under them.
 *
 * <p>Immutable and thread-safe. Names are matched case-insensitively.
 */
final class NameLookup {

  /** What the table says about one query. */
  sealed interface Result {}

  /** Not a mesh name (or a query type the table does not answer): forward it upstream. */
  record NotOurs() implements Result {}

  /**
   * A mesh name: answer authoritatively with these records (possibly none: NODATA, never
   * NXDOMAIN, for a host without an address of the asked family).
   *
   * @param cname the name the query name is an alias of, if any
   * @param name the owner name of the address records (the CNAME target, else the query name)
   */
  record Answer(Optional<String> cname, String name, List<InetAddress> addresses)
      implements Result {
    Answer {
      requireNonNull(cname, "cname");
      requireNonNull(name, "name");
      addresses = List.copyOf(addresses);
    }
  }

  static final int TYPE_A = 1;
  static final int TYPE_AAAA = 28;

  static final NameLookup EMPTY = new NameLookup(Map.of(), Map.of());

  private final Map<String, List<InetAddress>> addresses;
  private final Map<String, String> cnames;

  private NameLookup(Map<String, List<InetAddress>> addresses, Map<String, String> cnames) {
    this.addresses = addresses;
    this.cnames = cnames;
  }

  /**
   * @param proxyNamespace the sidecar's namespace: its services answer by their bare name
   * @param domainSuffix the cluster's DNS domain, {@code cluster.local}
   * @param searchDomains the pod's search domains; the first one gets the CNAME shortcut
   */
  static NameLookup of(NameTable table, String proxyNamespace, String domainSuffix,
      List<String> searchDomains) {
    requireNonNull(table, "table");
    requireNonNull(proxyNamespace, "proxyNamespace");
    requireNonNull(domainSuffix, "domainSuffix");
    requireNonNull(searchDomains, "searchDomains");
    String proxyDomain = "svc." + trimDots(domainSuffix);
    Map<String, List<InetAddress>> addresses = new HashMap<>();
    Map<String, String> cnames = new HashMap<>();
    String firstSearch = searchDomains.isEmpty() ? null : DnsNames.canonical(searchDomains.get(0));
    // Sorted, so that when two entries claim one alias the outcome does not depend on map order.
    for (String host : new java.util.TreeSet<>(table.getTableMap().keySet())) {
      NameTable.NameInfo info = table.getTableMap().get(host);
      List<InetAddress> ips = parse(info.getIpsList());
      Set<String> names = new LinkedHashSet<>();
      String fqdn = DnsNames.canonical(host);
      names.add(fqdn);
      String bare = trimDots(host).toLowerCase(java.util.Locale.ROOT);
      if (!info.getShortname().isEmpty() && !info.getNamespace().isEmpty()
          && bare.endsWith("." + proxyDomain)) {
        String shortName = info.getShortname().toLowerCase(java.util.Locale.ROOT);
        String ns = info.getNamespace().toLowerCase(java.util.Locale.ROOT);
        names.add(shortName + "." + ns + ".");
        names.add(shortName + "." + ns + ".svc.");
        if (ns.equals(proxyNamespace.toLowerCase(java.util.Locale.ROOT))) {
          names.add(shortName + ".");
        }
      }
      for (String name : names) {
        // The full host name of one entry beats another entry's alias of the same text.
        if (!addresses.containsKey(name) || name.equals(fqdn)) {
          addresses.put(name, ips);
        }
      }
      if (firstSearch != null) {
        for (String name : names) {
          String expanded = name + firstSearch;
          if (!names.contains(expanded)) {
            cnames.putIfAbsent(expanded, fqdn);
          }
        }
      }
    }
    cnames.keySet().removeAll(addresses.keySet());
    return new NameLookup(Map.copyOf(addresses), Map.copyOf(cnames));
  }

  /** The answer to a question of {@code type} (1 = A, 28 = AAAA) for {@code name}. */
  Result lookup(String name, int type) {
    String query = DnsNames.canonical(name);
    Optional<String> cname = Optional.empty();
    String owner = query;
    String target = cnames.get(query);
    if (target != null) {
      cname = Optional.of(target);
      owner = target;
    }
    List<InetAddress> ips = addresses.get(owner);
    if (ips == null) {
      ips = wildcard(owner);
      if (ips == null) {
        return new NotOurs();
      }
    }
    if (type != TYPE_A && type != TYPE_AAAA) {
      // istio-agent answers only A and AAAA; anything else (SRV, PTR, MX, TXT) goes upstream.
      return new NotOurs();
    }
    List<InetAddress> family = new ArrayList<>();
    for (InetAddress ip : ips) {
      if (type == TYPE_A ? ip instanceof Inet4Address : ip instanceof Inet6Address) {
        family.add(ip);
      }
    }
    return new Answer(cname, owner, family);
  }

  int size() {
    return addresses.size() + cnames.size();
  }

  private List<InetAddress> wildcard(String name) {
    String rest = name;
    while (true) {
      int dot = rest.indexOf('.');
      if (dot < 0 || dot == rest.length() - 1) {
        return null;
      }
      rest = rest.substring(dot + 1);
      List<InetAddress> ips = addresses.get("*." + rest);
      if (ips != null) {
        return ips;
      }
    }
  }

  private static List<InetAddress> parse(List<String> ips) {
    List<InetAddress> out = new ArrayList<>();
    for (String ip : ips) {
      byte[] bytes = NetUtil.createByteArrayFromIpAddressString(ip);
      if (bytes == null) {
        continue; // validated by the xDS client; never here
      }
      try {
        out.add(InetAddress.getByAddress(bytes));
      } catch (UnknownHostException e) {
        throw new IllegalStateException("4 or 16 bytes are always an address", e);
      }
    }
    return List.copyOf(out);
  }

  private static String trimDots(String name) {
    String n = name;
    while (n.endsWith(".")) {
      n = n.substring(0, n.length() - 1);
    }
    return n;
  }
}
