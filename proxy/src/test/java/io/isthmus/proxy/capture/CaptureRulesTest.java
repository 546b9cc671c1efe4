package io.isthmus.proxy.capture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.isthmus.proxy.capture.CaptureSpec.InterceptionMode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The capture rules as text, against golden files in {@code src/test/resources/capture/}
 * (refresh with {@code -Dgolden.refresh=true} and read the diff), and the flags and annotations
 * that shape them.
 */
class CaptureRulesTest {

  private static final Path GOLDEN = Path.of("src/test/resources/capture");

  static Stream<Arguments> specs() {
    return Stream.of(
        Arguments.of("redirect-default", new String[] {}),
        Arguments.of("redirect-selective", new String[] {"-b", "8080,9090", "-d", "8443",
            "-i", "10.96.0.0/12,10.1.0.0/16", "-x", "10.96.0.1/32", "-o", "5432,6379",
            "-u", "0,1337", "-g", "1337"}),
        Arguments.of("tproxy-default", new String[] {"-m", "TPROXY"}),
        Arguments.of("redirect-dns", new String[] {"--redirect-dns", "--resolv-conf",
            "src/test/resources/capture/resolv.conf"}),
        Arguments.of("tproxy-dns-all", new String[] {"-m", "TPROXY", "--redirect-dns",
            "--capture-all-dns", "-u", "0,1337", "-g", "1337"}),
        Arguments.of("tproxy-ports", new String[] {"-m", "tproxy", "-b", "8080", "-t", "7",
            "-r", "77"}),
        Arguments.of("annotated", new String[] {
            "--annotation", "traffic.sidecar.istio.io/includeInboundPorts=",
            "--annotation", "traffic.sidecar.istio.io/excludeOutboundIPRanges=169.254.169.254/32",
            "--annotation", "traffic.sidecar.istio.io/excludeOutboundPorts=53"}));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("specs")
  void dryRunPrintsTheRulesOfTheFlags(String name, String[] flags) throws IOException {
    String[] args = Stream.concat(Stream.of("--dry-run"), Stream.of(flags))
        .toArray(String[]::new);
    String printed = run(args);
    Path golden = GOLDEN.resolve(name + ".txt");
    if (Boolean.getBoolean("golden.refresh")) {
      Files.writeString(golden, printed);
    }
    assertThat(printed).isEqualTo(Files.readString(golden));
  }

  @Test
  void defaultsAreIstios() {
    ProxyInitMain main = new ProxyInitMain();
    new CommandLine(main).parseArgs();
    assertThat(main.spec()).isEqualTo(CaptureSpec.DEFAULT);
  }

  @Test
  void theProxysOwnConnectionsAndItsPortsAreNeverCaptured() {
    String rules = new CaptureRules(CaptureSpec.DEFAULT).iptablesRestore();
    assertThat(rules)
        .contains("-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n")
        .contains("-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN\n")
        .contains("-A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN\n")
        .contains("-A ISTIO_INBOUND -p tcp --dport 15020 -j RETURN\n");
    // The owner exclusion comes before the catch-all redirect, or the proxy would loop.
    assertThat(rules.indexOf("--uid-owner 1337 -j RETURN"))
        .isLessThan(rules.indexOf("-A ISTIO_OUTPUT -j ISTIO_REDIRECT"));
  }

  @Test
  void dnsQueriesOfTheProxyAreNeverRedirected() {
    String rules = new CaptureRules(CaptureSpec.DEFAULT,
        new DnsCapture(15053, false, List.of("10.96.0.10"))).iptablesRestore();
    String udpReturn = "-A OUTPUT -p udp --dport 53 -m owner --uid-owner 1337 -j RETURN\n";
    String udpRedirect = "-A OUTPUT -p udp -d 10.96.0.10/32 --dport 53 -j REDIRECT --to-ports 15053\n";
    String tcpReturn = "-A ISTIO_OUTPUT -p tcp --dport 53 -m owner --uid-owner 1337 -j RETURN\n";
    String tcpRedirect =
        "-A ISTIO_OUTPUT -p tcp -d 10.96.0.10/32 --dport 53 -j REDIRECT --to-ports 15053\n";
    assertThat(rules).contains(udpReturn, udpRedirect, tcpReturn, tcpRedirect);
    assertThat(rules.indexOf(udpReturn)).isLessThan(rules.indexOf(udpRedirect));
    assertThat(rules.indexOf(tcpReturn)).isLessThan(rules.indexOf(tcpRedirect));
    // Before the loopback rule that lets other loopback traffic pass (a local resolver).
    assertThat(rules.indexOf(tcpRedirect)).isLessThan(rules.indexOf("-o lo -m owner ! --uid-owner"));
    assertThatThrownBy(() -> new DnsCapture(15053, false, List.of()))
        .hasMessageContaining("--capture-all-dns");
    ProxyInitMain main = new ProxyInitMain();
    new CommandLine(main).parseArgs("--redirect-dns", "--resolv-conf", "/nonexistent/resolv.conf");
    assertThatThrownBy(main::dnsCapture).hasMessageStartingWith(
        "--redirect-dns: cannot read /nonexistent/resolv.conf");
  }

  @Test
  void annotationsOverrideFlagsAndBadValuesNameTheAnnotation() {
    CaptureSpec spec = CaptureSpec.DEFAULT.withAnnotations(Map.of(
        CaptureSpec.INCLUDE_INBOUND_PORTS, "80, 443",
        CaptureSpec.INTERCEPTION_MODE, "TPROXY"));
    assertThat(spec.includeInboundPorts()).containsExactly("80", "443");
    assertThat(spec.mode()).isEqualTo(InterceptionMode.TPROXY);

    assertThatThrownBy(() -> CaptureSpec.DEFAULT.withAnnotations(
        Map.of(CaptureSpec.EXCLUDE_OUTBOUND_IP_RANGES, "10.0.0.0/33")))
        .hasMessage("annotation traffic.sidecar.istio.io/excludeOutboundIPRanges:"
            + " excludeOutboundCidrs: 10.0.0.0/33 (expected: an IPv4 address or CIDR,"
            + " e.g. 10.96.0.0/12)");
    assertThatThrownBy(() -> CaptureSpec.DEFAULT.withAnnotations(
        Map.of(CaptureSpec.EXCLUDE_INBOUND_PORTS, "http")))
        .hasMessageContaining("annotation traffic.sidecar.istio.io/excludeInboundPorts: port:"
            + " http (expected: a port, 1..65535)");
    assertThatThrownBy(() -> CaptureSpec.DEFAULT.withAnnotations(
        Map.of(CaptureSpec.INTERCEPTION_MODE, "NONE")))
        .hasMessageContaining("(expected: REDIRECT or TPROXY)");
  }

  @Test
  void aWildcardMixedWithPortsIsRefused() {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code = new CommandLine(new ProxyInitMain().withOutput(
        new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true)))
        .execute("--dry-run", "-b", "*,80");
    assertThat(code).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains(
        "includeInboundPorts: [*, 80] (expected: \"*\" alone, or a list without \"*\")");
  }

  @Test
  void cleanupDryRunListsTheRemovalOfEveryChainOfBothModes() {
    String printed = run("--cleanup", "--dry-run");
    for (String chain : CaptureRules.NAT_CHAINS) {
      assertThat(printed).contains("iptables -w -t nat -X " + chain + "\n");
    }
    for (String chain : CaptureRules.MANGLE_CHAINS) {
      assertThat(printed).contains("iptables -w -t mangle -X " + chain + "\n");
    }
    assertThat(printed).contains("ip -f inet rule del fwmark 1337 lookup 133\n");
    assertThat(List.of(printed.split("\n"))).allMatch(l -> l.startsWith("iptables ")
        || l.startsWith("ip "));
  }

  private static String run(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code = new CommandLine(new ProxyInitMain().withOutput(new PrintStream(out, true),
        new PrintStream(err, true))).execute(args);
    assertThat(code).as("exit code; stderr: %s", err).isZero();
    return out.toString(StandardCharsets.UTF_8);
  }
}
