package io.isthmus.proxy.capture;

import io.isthmus.proxy.capture.CaptureSpec.InterceptionMode;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code isthmus-proxy-init}: writes the traffic-capture rules into the current network namespace,
 * as Istio's {@code istio-iptables} (the {@code istio-init} container) does, with the same flags
 * and their short forms. Run it as root inside the pod's namespace before the app starts
 * ({@code ip netns exec <ns> java -cp ... io.isthmus.proxy.capture.ProxyInitMain}).
 * {@code --dry-run} prints the rules instead; {@code --cleanup} removes them.
 */
@Command(name = "isthmus-proxy-init", mixinStandardHelpOptions = true,
    description = "Redirects the pod's TCP traffic to the sidecar (inbound capture port 15006,"
        + " outbound 15001) with iptables, in the current network namespace (Istio's"
        + " istio-iptables layout and flags).")
public final class ProxyInitMain implements Callable<Integer> {

  private static final long COMMAND_TIMEOUT_SECONDS = 15;

  @Option(names = {"-p", "--envoy-port"}, defaultValue = "15001",
      description = "the sidecar's outbound capture port")
  int outboundPort;

  @Option(names = {"-z", "--inbound-capture-port"}, defaultValue = "15006",
      description = "the sidecar's inbound capture port")
  int inboundPort;

  @Option(names = {"-u", "--proxy-uid"}, defaultValue = "1337",
      description = "comma-separated UIDs whose connections are never captured (the proxy's)")
  String proxyUids;

  @Option(names = {"-g", "--proxy-gid"}, defaultValue = "1337",
      description = "comma-separated GIDs whose connections are never captured (the proxy's)")
  String proxyGids;

  @Option(names = {"-m", "--istio-inbound-interception-mode"}, defaultValue = "REDIRECT",
      description = "REDIRECT or TPROXY")
  String mode;

  @Option(names = {"-b", "--istio-inbound-ports"}, defaultValue = "*",
      description = "inbound ports to capture, comma-separated; * for all, empty for none")
  String includeInboundPorts;

  @Option(names = {"-d", "--istio-local-exclude-ports"}, defaultValue = "",
      description = "inbound ports never captured (besides 15008, 15090, 15021, 15020)")
  String excludeInboundPorts;

  @Option(names = {"-i", "--istio-service-cidr"}, defaultValue = "*",
      description = "outbound destination ranges to capture; * for all, empty for none")
  String includeOutboundCidrs;

  @Option(names = {"-x", "--istio-service-exclude-cidr"}, defaultValue = "",
      description = "outbound destination ranges never captured")
  String excludeOutboundCidrs;

  @Option(names = {"-o", "--istio-local-outbound-ports-exclude"}, defaultValue = "",
      description = "outbound destination ports never captured")
  String excludeOutboundPorts;

  @Option(names = {"-t", "--inbound-tproxy-mark"}, defaultValue = "1337")
  int tproxyMark;

  @Option(names = {"-r", "--inbound-tproxy-route-table"}, defaultValue = "133")
  int tproxyRouteTable;

  @Option(names = "--annotation", description = "a pod annotation key=value"
      + " (traffic.sidecar.istio.io/*, sidecar.istio.io/interceptionMode); overrides the flags")
  List<String> annotations = new ArrayList<>();

  @Option(names = "--redirect-dns", description = "send the app's DNS (port 53, UDP and TCP) to"
      + " the sidecar's DNS proxy, as istio-iptables --redirect-dns")
  boolean redirectDns;

  @Option(names = "--capture-all-dns", description = "with --redirect-dns: every port-53 query,"
      + " not only those to the resolv.conf nameservers")
  boolean captureAllDns;

  @Option(names = "--dns-port", defaultValue = "15053", description = "the sidecar's DNS proxy port")
  int dnsPort;

  @Option(names = "--resolv-conf", defaultValue = "/etc/resolv.conf",
      description = "with --redirect-dns: where the nameservers to redirect are listed")
  java.nio.file.Path resolvConf;

  @Option(names = {"-n", "--dry-run"}, description = "print the rules, change nothing")
  boolean dryRun;

  @Option(names = "--cleanup", description = "remove the rules (any mode) instead of adding them")
  boolean cleanup;

  private PrintStream out = System.out;
  private PrintStream err = System.err;

  public static void main(String[] args) {
    System.exit(new CommandLine(new ProxyInitMain()).execute(args));
  }

  /** The spec the flags and annotations describe. */
  CaptureSpec spec() {
    InterceptionMode interception;
    try {
      interception = InterceptionMode.valueOf(mode.trim().toUpperCase(java.util.Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--istio-inbound-interception-mode: " + mode
          + " (expected: REDIRECT or TPROXY)");
    }
    CaptureSpec spec = new CaptureSpec(interception, outboundPort, inboundPort,
        CaptureSpec.split(proxyUids), CaptureSpec.split(proxyGids),
        CaptureSpec.split(includeInboundPorts), CaptureSpec.ports(excludeInboundPorts),
        CaptureSpec.split(includeOutboundCidrs), CaptureSpec.split(excludeOutboundCidrs),
        CaptureSpec.ports(excludeOutboundPorts), tproxyMark, tproxyRouteTable);
    Map<String, String> pod = new LinkedHashMap<>();
    for (String annotation : annotations) {
      int eq = annotation.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException("--annotation: " + annotation
            + " (expected: key=value, e.g. traffic.sidecar.istio.io/excludeInboundPorts=9090)");
      }
      pod.put(annotation.substring(0, eq).trim(), annotation.substring(eq + 1).trim());
    }
    return spec.withAnnotations(pod);
  }

  /** The DNS part, with --redirect-dns; else null. */
  DnsCapture dnsCapture() {
    if (!redirectDns) {
      return null;
    }
    List<String> nameservers = new java.util.ArrayList<>();
    if (!captureAllDns) {
      String text;
      try {
        text = java.nio.file.Files.readString(resolvConf);
      } catch (IOException e) {
        throw new IllegalArgumentException("--redirect-dns: cannot read " + resolvConf + " (" + e
            + "; expected: the pod's resolv.conf, or --capture-all-dns)");
      }
      for (String line : text.split("\n")) {
        String[] words = line.strip().split("\\s+");
        if (words.length > 1 && words[0].equals("nameserver")
            && io.netty.util.NetUtil.isValidIpV4Address(words[1])) {
          nameservers.add(words[1]);
        }
      }
    }
    return new DnsCapture(dnsPort, captureAllDns, nameservers);
  }

  @Override
  public Integer call() {
    CaptureRules rules;
    try {
      rules = new CaptureRules(spec(), dnsCapture());
    } catch (IllegalArgumentException e) {
      err.println("isthmus-proxy-init: " + e.getMessage());
      return 2;
    }
    if (cleanup) {
      for (List<String> command : rules.cleanupCommands()) {
        if (dryRun) {
          out.println(String.join(" ", command));
        } else {
          // Absent parts (another mode's chains, a rule already gone) are not errors.
          run(command, null, false);
        }
      }
      return 0;
    }
    if (dryRun) {
      out.print(rules.render());
      return 0;
    }
    try {
      // A rerun replaces the rules rather than failing on chains that already exist.
      rules.cleanupCommands().forEach(c -> run(c, null, false));
      run(List.of("iptables-restore", "--noflush", "-w"), rules.iptablesRestore(), true);
      for (List<String> command : rules.ipCommands()) {
        run(command, null, true);
      }
    } catch (IllegalStateException e) {
      err.println("isthmus-proxy-init: " + e.getMessage());
      return 1;
    }
    out.println("isthmus-proxy-init: " + rules.spec().mode() + " capture installed (inbound → "
        + rules.spec().inboundPort() + ", outbound → " + rules.spec().outboundPort()
        + (redirectDns ? ", DNS → " + dnsPort : "") + ")");
    return 0;
  }

  /** Runs {@code command} with {@code input} on stdin; a failure throws only if {@code check}. */
  private static void run(List<String> command, String input, boolean check) {
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
      try (var stdin = p.getOutputStream()) {
        if (input != null) {
          stdin.write(input.getBytes(StandardCharsets.UTF_8));
        }
      }
      String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(COMMAND_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IllegalStateException("'" + String.join(" ", command) + "' did not finish in "
            + COMMAND_TIMEOUT_SECONDS + " s");
      }
      if (check && p.exitValue() != 0) {
        throw new IllegalStateException("'" + String.join(" ", command) + "' failed (exit "
            + p.exitValue() + "): " + output.strip()
            + "; run as root (CAP_NET_ADMIN) with iptables installed"
            + (command.get(0).equals("iptables-restore") ? "" : " and iproute2"));
      }
    } catch (IOException e) {
      if (check) {
        throw new IllegalStateException("cannot run '" + String.join(" ", command) + "': "
            + e.getMessage() + "; install iptables and iproute2", e);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while running " + command.get(0), e);
    }
  }

  /** For tests: where the command writes. */
  ProxyInitMain withOutput(PrintStream out, PrintStream err) {
    this.out = out;
    this.err = err;
    return this;
  }
}
