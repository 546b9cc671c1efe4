package io.isthmus.proxy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import io.isthmus.trust.TrustBundle;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The sidecar's command-line flags as a picocli mixin, shared with the gateway. Each flag
 * is the one in contracts.md; the port flags exist for tests.
 */
public final class ProxyFlags {

  @Option(names = "--pod-ip", required = true, description = "the pod's IP (inbound listeners, health, source address)")
  String podIp;

  @Option(names = "--localhost", description = "the pod's localhost (app, outbound 15001, admin 15000); default: --pod-ip")
  String localhost;

  @Mixin
  WorkloadFlags workload = new WorkloadFlags();

  @Option(names = "--network", required = true)
  String network;

  @Option(names = "--controller", description = "host:port of the controller's 15012 (required unless --static-config)")
  String controller;

  @Option(names = "--root-cert", required = true)
  Path rootCert;

  @Option(names = "--token-file", description = "the service-account token for the CA (required unless --static-config)")
  Path tokenFile;

  @Option(names = "--static-config", description = "run without a controller: xDS resources from this JSON file"
      + " ({\"resources\": [...]}, each an Envoy v3 resource with its @type); needs --cert-chain and --key")
  Path staticConfig;

  @Option(names = "--cert-chain", description = "with --static-config: the workload certificate chain (PEM, leaf first)")
  Path certChain;

  @Option(names = "--key", description = "with --static-config: the leaf's private key (PKCS#8 PEM)")
  Path key;

  @Option(names = "--cert-ttl", defaultValue = "24h", description = "e.g. 24h, 30m, 90s, or ISO-8601")
  String certTtl;

  @Option(names = "--type", defaultValue = "sidecar", description = "sidecar or router")
  String type;

  @Option(names = "--trust-domain", defaultValue = "cluster.local")
  String trustDomain;

  @Option(names = "--trust-domain-aliases", defaultValue = "",
      description = "comma-separated trust domains whose SPIFFE identities peers may carry besides --trust-domain")
  String trustDomainAliases;

  @Option(names = "--xds-plaintext", description = "plaintext xDS (controller port 15010)")
  boolean xdsPlaintext;

  @Option(names = "--admin-port", defaultValue = "15000")
  int adminPort;

  @Option(names = "--outbound-port", defaultValue = "15001")
  int outboundPort;

  @Option(names = "--health-port", defaultValue = "15021")
  int healthPort;

  @Option(names = "--stats-port", defaultValue = "15020",
      description = "Istio's merged-metrics port on --pod-ip (/stats/prometheus); -1: none")
  int statsPort;

  @Option(names = "--capture", defaultValue = "none",
      description = "none, redirect or tproxy: how isthmus-proxy-init captures this pod's traffic"
          + " (redirect/tproxy: inbound capture listener on 0.0.0.0:--inbound-capture-port)")
  String capture;

  @Option(names = "--inbound-capture-port", defaultValue = "15006")
  int inboundCapturePort;

  @Option(names = "--dns-capture",
      description = "answer DNS for mesh hosts (Istio's ISTIO_META_DNS_CAPTURE): ask the controller for"
          + " the name table and serve it on --dns-address; isthmus-proxy-init --redirect-dns sends the"
          + " app's DNS there")
  boolean dnsCapture;

  @Option(names = "--dns-address", defaultValue = "127.0.0.1:15053",
      description = "ip:port of the DNS proxy (UDP and TCP)")
  String dnsAddress;

  @Option(names = "--dns-upstreams", defaultValue = "",
      description = "ip:port,... resolvers for names outside the mesh; default: --resolv-conf's nameservers")
  String dnsUpstreams;

  @Option(names = "--resolv-conf", defaultValue = "/etc/resolv.conf",
      description = "the pod's resolver configuration: upstream nameservers and search domains")
  Path resolvConf;

  @Option(names = "--otlp-endpoint", defaultValue = "",
      description = "host:port of an OTLP/gRPC collector (Jaeger, OpenTelemetry Collector); spans per hop")
  String otlpEndpoint;

  @Option(names = "--trace-sampling", defaultValue = "1.0",
      description = "percentage of new traces sampled (0-100); a traceparent keeps its caller's decision")
  double traceSampling;

  @Option(names = "--access-log", defaultValue = "off",
      description = "off, - (stdout) or a file: one line per request")
  String accessLog;

  @Option(names = "--access-log-format", defaultValue = "text", description = "text or json")
  String accessLogFormat;

  @Option(names = "--concurrency", paramLabel = "<threads>",
      description = "event loops (worker threads) of the data plane, Istio's proxy.istio.io/config"
          + " concurrency; 0: one per core; default: 2 for a sidecar, 0 for a router")
  Integer concurrency;

  /** The options these flags describe, with {@code type} forced when non-null. */
  public ProxyOptions toOptions(String forcedType) {
    if (staticConfig == null && (controller == null || tokenFile == null)) {
      throw new IllegalArgumentException("--controller and --token-file are required"
          + " (or --static-config with --cert-chain and --key, to run without a controller)");
    }
    return new ProxyOptions(forcedType != null ? forcedType : type, podIp,
        localhost != null ? localhost : podIp, workload.podName, workload.namespace,
        workload.serviceAccount, workload.cluster, network, workload.locality, workload.labelMap(),
        controller != null ? controller : "",
        rootCert, tokenFile != null ? tokenFile : staticConfig,
        parseDuration(certTtl), trustDomain, xdsPlaintext, adminPort, outboundPort, healthPort,
        new TelemetryOptions(statsPort, otlpEndpoint, traceSampling, accessLog, accessLogFormat,
            TelemetryOptions.DEFAULT.maxSeries()),
        TrustBundle.parseAliases(trustDomainAliases),
        new CaptureOptions(CaptureOptions.parseMode(capture), inboundCapturePort, dnsOptions()),
        concurrency != null ? concurrency
            : ProxyOptions.defaultConcurrency(forcedType != null ? forcedType : type));
  }

  private DnsOptions dnsOptions() {
    java.util.List<java.net.InetSocketAddress> upstreams = new java.util.ArrayList<>();
    for (String part : dnsUpstreams.split(",")) {
      if (!part.isBlank()) {
        upstreams.add(DnsOptions.parseAddress(part, "--dns-upstreams"));
      }
    }
    return DnsOptions.DISABLED.withEnabled(dnsCapture)
        .withListen(DnsOptions.parseAddress(dnsAddress, "--dns-address"))
        .withUpstreams(upstreams).withResolvConf(resolvConf);
  }

  /** The static bootstrap, when {@code --static-config} was given. */
  public java.util.Optional<StaticBootstrap> staticBootstrap() {
    if (staticConfig == null) {
      if (certChain != null || key != null) {
        throw new IllegalArgumentException("--cert-chain and --key are only used with --static-config"
            + " (a proxy with a controller gets its certificate from the controller's CA)");
      }
      return java.util.Optional.empty();
    }
    if (certChain == null || key == null) {
      throw new IllegalArgumentException("--static-config " + staticConfig + " needs --cert-chain"
          + " and --key (the workload certificate chain, leaf first, and its PKCS#8 key)");
    }
    return java.util.Optional.of(new StaticBootstrap(staticConfig, certChain, key));
  }

  static Map<String, String> parseLabels(String text) {
    Map<String, String> labels = new LinkedHashMap<>();
    for (String pair : text.split(",")) {
      if (pair.isBlank()) {
        continue;
      }
      int eq = pair.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException("--labels: " + pair + " (expected: key=value)");
      }
      labels.put(pair.substring(0, eq).trim(), pair.substring(eq + 1).trim());
    }
    return labels;
  }

  static Duration parseDuration(String text) {
    String t = text.trim();
    try {
      if (t.startsWith("P") || t.startsWith("p")) {
        return Duration.parse(t);
      }
      long value = Long.parseLong(t.substring(0, t.length() - 1));
      return switch (Character.toLowerCase(t.charAt(t.length() - 1))) {
        case 'h' -> Duration.ofHours(value);
        case 'm' -> Duration.ofMinutes(value);
        case 's' -> Duration.ofSeconds(value);
        case 'd' -> Duration.ofDays(value);
        default -> throw new IllegalArgumentException();
      };
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(
          "--cert-ttl: " + text + " (expected: e.g. 24h, 30m, 90s or ISO-8601 PT24H)");
    }
  }
}
