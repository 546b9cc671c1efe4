package io.isthmus.proxy.capture;

import static java.util.Objects.requireNonNull;

import io.isthmus.proxy.capture.CaptureSpec.InterceptionMode;
import java.util.ArrayList;
import java.util.List;

/**
 * The packet-filter rules of a {@link CaptureSpec}, in Istio's chain layout, as pure text: no
 * I/O, the same spec always gives the same rules (golden-tested). {@link ProxyInitMain} applies
 * them.
 *
 * <p>REDIRECT (nat table): {@code PREROUTING → ISTIO_INBOUND → ISTIO_IN_REDIRECT} (REDIRECT to the
 * inbound capture port) and {@code OUTPUT → ISTIO_OUTPUT → ISTIO_REDIRECT} (REDIRECT to the
 * outbound capture port), with the proxy's UIDs/GIDs and loopback excluded as Istio does.
 * TPROXY: inbound goes through the mangle table instead ({@code ISTIO_INBOUND → ISTIO_TPROXY},
 * marking packets that an {@code ip rule fwmark} sends to a local route table; {@code
 * ISTIO_DIVERT} marks packets of connections already diverted), outbound stays REDIRECT.
 */
public final class CaptureRules {

  /** The chains this layout creates, per table, in the order they are removed. */
  static final List<String> NAT_CHAINS =
      List.of("ISTIO_OUTPUT", "ISTIO_INBOUND", "ISTIO_REDIRECT", "ISTIO_IN_REDIRECT");
  static final List<String> MANGLE_CHAINS = List.of("ISTIO_INBOUND", "ISTIO_DIVERT",
      "ISTIO_TPROXY");

  /** Source address of the sidecar's inbound passthrough connections (Istio's 127.0.0.6). */
  public static final String PASSTHROUGH_SOURCE = "127.0.0.6";

  private final CaptureSpec spec;
  private final DnsCapture dns;

  public CaptureRules(CaptureSpec spec) {
    this(spec, null);
  }

  /** With {@code dns}, the app's DNS goes to the sidecar's DNS proxy too; null: it does not. */
  public CaptureRules(CaptureSpec spec, DnsCapture dns) {
    this.spec = requireNonNull(spec, "spec");
    this.dns = dns;
  }

  public CaptureSpec spec() {
    return spec;
  }

  /**
   * The rules as {@code iptables-restore --noflush} input: a {@code *mangle} section (TPROXY
   * only) and a {@code *nat} section, each ending with {@code COMMIT}. Comment lines say why.
   */
  public String iptablesRestore() {
    StringBuilder out = new StringBuilder();
    if (spec.mode() == InterceptionMode.TPROXY) {
      mangle(out);
    }
    if (dns != null) {
      raw(out);
    }
    nat(out);
    return out.toString();
  }

  private void mangle(StringBuilder out) {
    String mark = Integer.toString(spec.tproxyMark());
    out.append("*mangle\n");
    out.append(":ISTIO_INBOUND - [0:0]\n:ISTIO_DIVERT - [0:0]\n:ISTIO_TPROXY - [0:0]\n");
    out.append("# ISTIO_DIVERT: packets of a connection the sidecar already holds, marked so the\n")
        .append("# fwmark rule delivers them to its transparent socket.\n");
    out.append("-A ISTIO_DIVERT -j MARK --set-xmark ").append(hex(spec.tproxyMark()))
        .append("/0xffffffff\n");
    out.append("-A ISTIO_DIVERT -j ACCEPT\n");
    out.append("# ISTIO_TPROXY: a new inbound connection goes to the inbound capture port, its\n")
        .append("# destination untouched (the accepted socket's local address).\n");
    out.append("-A ISTIO_TPROXY ! -d 127.0.0.1/32 -p tcp -j TPROXY --on-port ")
        .append(spec.inboundPort()).append(" --on-ip 0.0.0.0 --tproxy-mark ")
        .append(hex(spec.tproxyMark())).append("/0xffffffff\n");
    out.append("-A PREROUTING -p tcp -j ISTIO_INBOUND\n");
    inboundExclusions(out);
    out.append("# Loopback carries the sidecar's own connections to the app (passthrough from\n")
        .append("# 127.0.0.6 included): diverting them again would loop.\n");
    out.append("-A ISTIO_INBOUND -p tcp -i lo -j RETURN\n");
    if (spec.allInbound()) {
      out.append("-A ISTIO_INBOUND -p tcp -m conntrack --ctstate RELATED,ESTABLISHED"
          + " -j ISTIO_DIVERT\n");
      out.append("-A ISTIO_INBOUND -p tcp -j ISTIO_TPROXY\n");
    } else {
      for (String port : spec.includeInboundPorts()) {
        out.append("-A ISTIO_INBOUND -p tcp --dport ").append(port)
            .append(" -m conntrack --ctstate RELATED,ESTABLISHED -j ISTIO_DIVERT\n");
        out.append("-A ISTIO_INBOUND -p tcp --dport ").append(port).append(" -j ISTIO_TPROXY\n");
      }
    }
    out.append("# Replies of connections the sidecar opened toward the app keep the mark.\n");
    out.append("-A PREROUTING -p tcp -m mark --mark ").append(mark)
        .append(" -j CONNMARK --save-mark\n");
    out.append("-A OUTPUT -p tcp -m connmark --mark ").append(mark)
        .append(" -j CONNMARK --restore-mark\n");
    out.append("COMMIT\n");
  }

  /**
   * Conntrack zones, as istio-iptables sets them: the proxy's upstream queries (zone 1) and its
   * answers to the app (zone 2, from 15053) are tracked apart, so an app query and a proxy query
   * with the same source port cannot be taken for one flow and mis-NATed.
   */
  private void raw(StringBuilder out) {
    out.append("*raw\n");
    out.append("# DNS: the proxy's queries upstream and its answers to the app in their own\n")
        .append("# conntrack zones.\n");
    for (String[] owner : owners()) {
      out.append("-A OUTPUT -p udp --dport 53 -m owner ").append(owner[0]).append(' ')
          .append(owner[1]).append(" -j CT --zone 1\n");
      out.append("-A OUTPUT -p udp --sport ").append(dns.dnsPort()).append(" -m owner ")
          .append(owner[0]).append(' ').append(owner[1]).append(" -j CT --zone 2\n");
    }
    // The app's queries: zone 2 too, so the DNS proxy's answers find their NAT entry and go back
    // as from the resolver (the first CT target a packet meets wins: the proxy's own are zone 1).
    for (String nameserver : dnsTargets()) {
      out.append("-A OUTPUT -p udp").append(nameserver.isEmpty() ? "" : " -d " + nameserver + "/32")
          .append(" --dport 53 -j CT --zone 2\n");
    }
    for (String nameserver : dnsTargets()) {
      out.append("-A PREROUTING -p udp").append(nameserver.isEmpty() ? "" : " -s " + nameserver + "/32")
          .append(" --sport 53 -j CT --zone 1\n");
    }
    out.append("COMMIT\n");
  }

  /** The nameservers whose traffic is captured; one empty string for every port-53 packet. */
  private List<String> dnsTargets() {
    return dns.captureAll() ? List.of("") : dns.nameservers();
  }

  private List<String[]> owners() {
    List<String[]> out = new ArrayList<>();
    spec.proxyUids().forEach(id -> out.add(new String[] {"--uid-owner", id}));
    spec.proxyGids().forEach(id -> out.add(new String[] {"--gid-owner", id}));
    return out;
  }

  /** The app's port-53 traffic (UDP in OUTPUT, TCP in ISTIO_OUTPUT) to the DNS proxy. */
  private void dnsRedirects(StringBuilder out, String chain, String protocol) {
    for (String[] owner : owners()) {
      out.append("-A ").append(chain).append(" -p ").append(protocol).append(" --dport 53 -m owner ")
          .append(owner[0]).append(' ').append(owner[1]).append(" -j RETURN\n");
    }
    for (String nameserver : dnsTargets()) {
      out.append("-A ").append(chain).append(" -p ").append(protocol)
          .append(nameserver.isEmpty() ? "" : " -d " + nameserver + "/32")
          .append(" --dport 53 -j REDIRECT --to-ports ").append(dns.dnsPort()).append('\n');
    }
  }

  private void nat(StringBuilder out) {
    boolean redirectInbound = spec.mode() == InterceptionMode.REDIRECT;
    out.append("*nat\n");
    if (redirectInbound) {
      out.append(":ISTIO_INBOUND - [0:0]\n");
    }
    out.append(":ISTIO_REDIRECT - [0:0]\n:ISTIO_IN_REDIRECT - [0:0]\n:ISTIO_OUTPUT - [0:0]\n");
    out.append("-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports ").append(spec.outboundPort())
        .append('\n');
    out.append("-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports ").append(spec.inboundPort())
        .append('\n');
    if (redirectInbound && !spec.includeInboundPorts().isEmpty()) {
      out.append("# Inbound: connections to the pod's ports go to the inbound capture port.\n");
      out.append("-A PREROUTING -p tcp -j ISTIO_INBOUND\n");
      inboundExclusions(out);
      if (spec.allInbound()) {
        out.append("-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT\n");
      } else {
        for (String port : spec.includeInboundPorts()) {
          out.append("-A ISTIO_INBOUND -p tcp --dport ").append(port)
              .append(" -j ISTIO_IN_REDIRECT\n");
        }
      }
    }
    if (dns != null) {
      out.append("# DNS: the app's queries go to the sidecar's DNS proxy; the proxy's own go out.\n");
      dnsRedirects(out, "OUTPUT", "udp");
    }
    out.append("# Outbound: what the app opens goes to the outbound capture port.\n");
    out.append("-A OUTPUT -p tcp -j ISTIO_OUTPUT\n");
    if (dns != null) {
      // Before the loopback and owner rules, which would let a query to a local resolver pass.
      dnsRedirects(out, "ISTIO_OUTPUT", "tcp");
    }
    for (int port : spec.excludeOutboundPorts()) {
      out.append("-A ISTIO_OUTPUT -p tcp --dport ").append(port).append(" -j RETURN\n");
    }
    out.append("# The sidecar's inbound passthrough connects from ").append(PASSTHROUGH_SOURCE)
        .append(": never captured again.\n");
    out.append("-A ISTIO_OUTPUT -o lo -s ").append(PASSTHROUGH_SOURCE).append("/32 -j RETURN\n");
    out.append("# The proxy's own connections are not captured, except a call to its own pod\n")
        .append("# over loopback (app → own service IP), which is inbound traffic; other\n")
        .append("# loopback traffic is left alone.\n");
    owner(out, "--uid-owner", spec.proxyUids());
    owner(out, "--gid-owner", spec.proxyGids());
    out.append("-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n");
    for (String cidr : spec.excludeOutboundCidrs()) {
      out.append("-A ISTIO_OUTPUT -d ").append(cidr).append(" -j RETURN\n");
    }
    if (spec.allOutbound()) {
      out.append("-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n");
    } else {
      for (String cidr : spec.includeOutboundCidrs()) {
        out.append("-A ISTIO_OUTPUT -d ").append(cidr).append(" -j ISTIO_REDIRECT\n");
      }
    }
    out.append("COMMIT\n");
  }

  private void owner(StringBuilder out, String match, List<String> ids) {
    for (String id : ids) {
      out.append("-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -m owner ").append(match).append(' ')
          .append(id).append(" -j ISTIO_IN_REDIRECT\n");
      out.append("-A ISTIO_OUTPUT -o lo -m owner ! ").append(match).append(' ').append(id)
          .append(" -j RETURN\n");
      out.append("-A ISTIO_OUTPUT -m owner ").append(match).append(' ').append(id)
          .append(" -j RETURN\n");
    }
  }

  private void inboundExclusions(StringBuilder out) {
    List<Integer> excluded = new ArrayList<>(CaptureSpec.PROXY_INBOUND_PORTS);
    for (int port : spec.excludeInboundPorts()) {
      if (!excluded.contains(port)) {
        excluded.add(port);
      }
    }
    for (int port : excluded) {
      out.append("-A ISTIO_INBOUND -p tcp --dport ").append(port).append(" -j RETURN\n");
    }
  }

  /**
   * The {@code ip} commands TPROXY needs besides the rules (none for REDIRECT): marked packets
   * look up a table whose only route delivers everything locally.
   */
  public List<List<String>> ipCommands() {
    if (spec.mode() != InterceptionMode.TPROXY) {
      return List.of();
    }
    return List.of(
        List.of("ip", "-f", "inet", "rule", "add", "fwmark", Integer.toString(spec.tproxyMark()),
            "lookup", Integer.toString(spec.tproxyRouteTable())),
        List.of("ip", "-f", "inet", "route", "add", "local", "default", "dev", "lo", "table",
            Integer.toString(spec.tproxyRouteTable())));
  }

  /**
   * The commands that remove everything {@link #iptablesRestore()} and {@link #ipCommands()} add,
   * whatever the mode it ran with (each may fail harmlessly when that part is absent).
   */
  public List<List<String>> cleanupCommands() {
    List<List<String>> out = new ArrayList<>();
    out.add(List.of("iptables", "-w", "-t", "nat", "-D", "PREROUTING", "-p", "tcp", "-j",
        "ISTIO_INBOUND"));
    out.add(List.of("iptables", "-w", "-t", "nat", "-D", "OUTPUT", "-p", "tcp", "-j",
        "ISTIO_OUTPUT"));
    out.add(List.of("iptables", "-w", "-t", "mangle", "-D", "PREROUTING", "-p", "tcp", "-j",
        "ISTIO_INBOUND"));
    String mark = Integer.toString(spec.tproxyMark());
    out.add(List.of("iptables", "-w", "-t", "mangle", "-D", "PREROUTING", "-p", "tcp", "-m",
        "mark", "--mark", mark, "-j", "CONNMARK", "--save-mark"));
    out.add(List.of("iptables", "-w", "-t", "mangle", "-D", "OUTPUT", "-p", "tcp", "-m",
        "connmark", "--mark", mark, "-j", "CONNMARK", "--restore-mark"));
    // --redirect-dns: the UDP rules live in the built-in chains; a rerun must not double them.
    for (String[] owner : owners()) {
      out.add(List.of("iptables", "-w", "-t", "nat", "-D", "OUTPUT", "-p", "udp", "--dport", "53",
          "-m", "owner", owner[0], owner[1], "-j", "RETURN"));
      out.add(List.of("iptables", "-w", "-t", "raw", "-D", "OUTPUT", "-p", "udp", "--dport", "53",
          "-m", "owner", owner[0], owner[1], "-j", "CT", "--zone", "1"));
    }
    if (dns != null) {
      for (String nameserver : dnsTargets()) {
        List<String> zone2 = new ArrayList<>(List.of("iptables", "-w", "-t", "raw", "-D", "OUTPUT",
            "-p", "udp"));
        List<String> zone1 = new ArrayList<>(List.of("iptables", "-w", "-t", "raw", "-D",
            "PREROUTING", "-p", "udp"));
        if (!nameserver.isEmpty()) {
          zone2.addAll(List.of("-d", nameserver + "/32"));
          zone1.addAll(List.of("-s", nameserver + "/32"));
        }
        zone2.addAll(List.of("--dport", "53", "-j", "CT", "--zone", "2"));
        zone1.addAll(List.of("--sport", "53", "-j", "CT", "--zone", "1"));
        out.add(zone2);
        out.add(zone1);
      }
      for (String[] owner : owners()) {
        out.add(List.of("iptables", "-w", "-t", "raw", "-D", "OUTPUT", "-p", "udp", "--sport",
            Integer.toString(dns.dnsPort()), "-m", "owner", owner[0], owner[1], "-j", "CT",
            "--zone", "2"));
      }
      for (String nameserver : dns.captureAll() ? List.of("") : dns.nameservers()) {
        List<String> rule = new ArrayList<>(List.of("iptables", "-w", "-t", "nat", "-D", "OUTPUT",
            "-p", "udp"));
        if (!nameserver.isEmpty()) {
          rule.addAll(List.of("-d", nameserver + "/32"));
        }
        rule.addAll(List.of("--dport", "53", "-j", "REDIRECT", "--to-ports",
            Integer.toString(dns.dnsPort())));
        out.add(rule);
      }
    }
    for (String chain : NAT_CHAINS) {
      out.add(List.of("iptables", "-w", "-t", "nat", "-F", chain));
      out.add(List.of("iptables", "-w", "-t", "nat", "-X", chain));
    }
    for (String chain : MANGLE_CHAINS) {
      out.add(List.of("iptables", "-w", "-t", "mangle", "-F", chain));
      out.add(List.of("iptables", "-w", "-t", "mangle", "-X", chain));
    }
    out.add(List.of("ip", "-f", "inet", "rule", "del", "fwmark", mark, "lookup",
        Integer.toString(spec.tproxyRouteTable())));
    out.add(List.of("ip", "-f", "inet", "route", "flush", "table",
        Integer.toString(spec.tproxyRouteTable())));
    return out;
  }

  /** What a dry run prints: the restore input, then the {@code ip} commands. */
  public String render() {
    StringBuilder out = new StringBuilder();
    out.append("# iptables-restore --noflush <<EOF\n").append(iptablesRestore()).append("# EOF\n");
    for (List<String> command : ipCommands()) {
      out.append(String.join(" ", command)).append('\n');
    }
    return out.toString();
  }

  private static String hex(int value) {
    return "0x" + Integer.toHexString(value);
  }
}
