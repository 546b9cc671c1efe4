package io.isthmus.proxy;

import static java.util.Objects.requireNonNull;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;

/**
 * Everything a sidecar (or the gateway) is started with; see contracts.md, "Processes and
 * their command lines". Ports default to the contract's (15000 admin, 15001 outbound,
 * 15021 health); tests pass 0 for free ports.
 *
 * @param localhost the pod's "localhost" where the app and the outbound entry live
 * @param locality {@code region/zone/subzone}
 * @param controller {@code host:port} of the controller's xDS and CA port (15012)
 * @param xdsPlaintext speak plaintext xDS (the controller's 15010) instead of mTLS
 * @param telemetry metrics port, tracing and access log
 * @param trustDomainAliases trust domains whose SPIFFE identities peers may carry besides
 *     {@code trustDomain} (Istio's meshConfig {@code trustDomainAliases}); empty by default
 * @param capture whether and how the pod's traffic is captured ({@code isthmus-proxy-init});
 *     {@link CaptureOptions#NONE} by default
 * @param concurrency the data plane's event loops (worker threads), Istio's
 *     {@code proxy.istio.io/config} {@code concurrency}: 0 for one per core; by default
 *     {@value #SIDECAR_CONCURRENCY} for a sidecar (as Istio injects) and 0 for a router (as
 *     Istio's gateways)
 */
public record ProxyOptions(
    String type,
    String podIp,
    String localhost,
    String podName,
    String namespace,
    String serviceAccount,
    String cluster,
    String network,
    String locality,
    Map<String, String> labels,
    String controller,
    Path rootCert,
    Path tokenFile,
    Duration certTtl,
    String trustDomain,
    boolean xdsPlaintext,
    int adminPort,
    int outboundPort,
    int healthPort,
    TelemetryOptions telemetry,
    Set<String> trustDomainAliases,
    CaptureOptions capture,
    int concurrency) {

  /** Istio's injected sidecars run two worker threads ({@code concurrency: 2}). */
  public static final int SIDECAR_CONCURRENCY = 2;

  /** Options with the default concurrency of {@code type}. */
  public ProxyOptions(String type, String podIp, String localhost, String podName,
      String namespace, String serviceAccount, String cluster, String network, String locality,
      Map<String, String> labels, String controller, Path rootCert, Path tokenFile,
      Duration certTtl, String trustDomain, boolean xdsPlaintext, int adminPort,
      int outboundPort, int healthPort, TelemetryOptions telemetry,
      Set<String> trustDomainAliases, CaptureOptions capture) {
    this(type, podIp, localhost, podName, namespace, serviceAccount, cluster, network, locality,
        labels, controller, rootCert, tokenFile, certTtl, trustDomain, xdsPlaintext, adminPort,
        outboundPort, healthPort, telemetry, trustDomainAliases, capture,
        defaultConcurrency(type));
  }

  /** {@value #SIDECAR_CONCURRENCY} for a sidecar, 0 (one per core) for a router. */
  public static int defaultConcurrency(String type) {
    return "router".equals(type) ? 0 : SIDECAR_CONCURRENCY;
  }

  /** Options without traffic capture. */
  public ProxyOptions(String type, String podIp, String localhost, String podName,
      String namespace, String serviceAccount, String cluster, String network, String locality,
      Map<String, String> labels, String controller, Path rootCert, Path tokenFile,
      Duration certTtl, String trustDomain, boolean xdsPlaintext, int adminPort,
      int outboundPort, int healthPort, TelemetryOptions telemetry,
      Set<String> trustDomainAliases) {
    this(type, podIp, localhost, podName, namespace, serviceAccount, cluster, network, locality,
        labels, controller, rootCert, tokenFile, certTtl, trustDomain, xdsPlaintext, adminPort,
        outboundPort, healthPort, telemetry, trustDomainAliases, CaptureOptions.NONE);
  }

  /** Options without trust-domain aliases. */
  public ProxyOptions(String type, String podIp, String localhost, String podName,
      String namespace, String serviceAccount, String cluster, String network, String locality,
      Map<String, String> labels, String controller, Path rootCert, Path tokenFile,
      Duration certTtl, String trustDomain, boolean xdsPlaintext, int adminPort,
      int outboundPort, int healthPort, TelemetryOptions telemetry) {
    this(type, podIp, localhost, podName, namespace, serviceAccount, cluster, network, locality,
        labels, controller, rootCert, tokenFile, certTtl, trustDomain, xdsPlaintext, adminPort,
        outboundPort, healthPort, telemetry, Set.of());
  }

  /**
   * Options with {@link TelemetryOptions#DEFAULT} telemetry; with an admin port of 0 (tests),
   * the metrics port is a free one too, so concurrent runs never fight over 15020.
   */
  public ProxyOptions(String type, String podIp, String localhost, String podName,
      String namespace, String serviceAccount, String cluster, String network, String locality,
      Map<String, String> labels, String controller, Path rootCert, Path tokenFile,
      Duration certTtl, String trustDomain, boolean xdsPlaintext, int adminPort,
      int outboundPort, int healthPort) {
    this(type, podIp, localhost, podName, namespace, serviceAccount, cluster, network, locality,
        labels, controller, rootCert, tokenFile, certTtl, trustDomain, xdsPlaintext, adminPort,
        outboundPort, healthPort,
        TelemetryOptions.DEFAULT.withStatsPort(
            adminPort == 0 ? 0 : TelemetryOptions.DEFAULT.statsPort()));
  }

  public ProxyOptions {
    requireNonNull(type, "type");
    requireNonNull(podIp, "podIp");
    requireNonNull(localhost, "localhost");
    requireNonNull(podName, "podName");
    requireNonNull(namespace, "namespace");
    requireNonNull(serviceAccount, "serviceAccount");
    requireNonNull(cluster, "cluster");
    requireNonNull(network, "network");
    requireNonNull(locality, "locality");
    labels = Map.copyOf(requireNonNull(labels, "labels"));
    requireNonNull(controller, "controller");
    requireNonNull(rootCert, "rootCert");
    requireNonNull(tokenFile, "tokenFile");
    requireNonNull(certTtl, "certTtl");
    requireNonNull(trustDomain, "trustDomain");
    requireNonNull(telemetry, "telemetry");
    trustDomainAliases = Set.copyOf(requireNonNull(trustDomainAliases, "trustDomainAliases"));
    requireNonNull(capture, "capture");
    if (!type.equals("sidecar") && !type.equals("router")) {
      throw new IllegalArgumentException("type: " + type + " (expected: sidecar or router)");
    }
    if (concurrency < 0) {
      throw new IllegalArgumentException("concurrency: " + concurrency
          + " (expected: >= 0, 0 for one event loop per core)");
    }
    if (certTtl.isNegative() || certTtl.isZero()) {
      throw new IllegalArgumentException("certTtl: " + certTtl + " (expected: > 0)");
    }
  }

  /** The workload name used in telemetry: the {@code app} label, else the pod name. */
  public String workloadName() {
    return labels.getOrDefault("app", podName);
  }

  public ProxyOptions withPorts(int admin, int outbound, int health) {
    return new ProxyOptions(type, podIp, localhost, podName, namespace, serviceAccount, cluster,
        network, locality, labels, controller, rootCert, tokenFile, certTtl, trustDomain,
        xdsPlaintext, admin, outbound, health, telemetry, trustDomainAliases, capture,
        concurrency);
  }

  public ProxyOptions withTelemetry(TelemetryOptions options) {
    return new ProxyOptions(type, podIp, localhost, podName, namespace, serviceAccount, cluster,
        network, locality, labels, controller, rootCert, tokenFile, certTtl, trustDomain,
        xdsPlaintext, adminPort, outboundPort, healthPort, options, trustDomainAliases, capture,
        concurrency);
  }

  public ProxyOptions withTrustDomainAliases(Set<String> aliases) {
    return new ProxyOptions(type, podIp, localhost, podName, namespace, serviceAccount, cluster,
        network, locality, labels, controller, rootCert, tokenFile, certTtl, trustDomain,
        xdsPlaintext, adminPort, outboundPort, healthPort, telemetry, aliases, capture,
        concurrency);
  }

  public ProxyOptions withConcurrency(int threads) {
    return new ProxyOptions(type, podIp, localhost, podName, namespace, serviceAccount, cluster,
        network, locality, labels, controller, rootCert, tokenFile, certTtl, trustDomain,
        xdsPlaintext, adminPort, outboundPort, healthPort, telemetry, trustDomainAliases, capture,
        threads);
  }

  /** The event loops to run: {@link #concurrency}, or one per available core when it is 0. */
  public int eventLoops() {
    return concurrency > 0 ? concurrency : Runtime.getRuntime().availableProcessors();
  }

  public ProxyOptions withCapture(CaptureOptions options) {
    return new ProxyOptions(type, podIp, localhost, podName, namespace, serviceAccount, cluster,
        network, locality, labels, controller, rootCert, tokenFile, certTtl, trustDomain,
        xdsPlaintext, adminPort, outboundPort, healthPort, telemetry, trustDomainAliases, options,
        concurrency);
  }
}
