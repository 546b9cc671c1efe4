package io.isthmus.proxy;

import static java.util.Objects.requireNonNull;

import io.isthmus.proxy.identity.MeshTrust;
import io.isthmus.proxy.identity.WorkloadIdentity;
import io.isthmus.proxy.internal.MeshContexts;
import io.isthmus.proxy.internal.ProxyBootstrap;
import io.isthmus.proxy.internal.SidecarServer;
import io.isthmus.proxy.internal.SidecarSettings;
import io.isthmus.proxy.internal.TelemetrySettings;
import io.isthmus.proxy.internal.telemetry.PeerMetadata;
import io.isthmus.proxy.internal.WorkloadInfo;
import io.isthmus.proxy.internal.dns.DnsServer;
import io.isthmus.proxy.xds.XdsClient;
import io.isthmus.proxy.xds.XdsSnapshot;
import java.net.InetSocketAddress;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running sidecar: workload certificate, listeners, and the xDS client that configures
 * them. {@link ProxyMain} starts one per process; tests start one in-process.
 *
 * <p>The listeners bind at once (not ready yet); the xDS client starts when the first
 * certificate arrives, since the controller authenticates it by that certificate.
 */
public final class Sidecar implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(Sidecar.class);

  private final WorkloadIdentity identity;
  private final SidecarServer server;
  private final DnsServer dns;
  private volatile XdsClient xds;
  private volatile XdsSnapshot staticSnapshot;
  private volatile boolean closed;

  private Sidecar(WorkloadIdentity identity, SidecarServer server, DnsServer dns) {
    this.identity = identity;
    this.server = server;
    this.dns = dns;
  }

  /** Starts a sidecar whose certificate comes from the controller's CA. */
  public static Sidecar start(ProxyOptions options) throws InterruptedException {
    MeshTrust trust = ProxyBootstrap.trust(options);
    return start(options, ProxyBootstrap.identityFromCa(options, trust), trust);
  }

  /** Starts a sidecar with the given identity source (owned by the sidecar from now on). */
  public static Sidecar start(ProxyOptions options, WorkloadIdentity identity, MeshTrust trust)
      throws InterruptedException {
    requireNonNull(options, "options");
    requireNonNull(identity, "identity");
    requireNonNull(trust, "trust");
    SidecarServer server = startServer(options, identity, trust);
    DnsServer dns = startDns(options, server, identity);
    Sidecar sidecar = new Sidecar(identity, server, dns);
    // istio-agent's switch: the node asks for the name table only with DNS capture.
    Map<String, String> metadata = dns == null ? Map.of()
        : Map.of(XdsClient.DNS_CAPTURE_METADATA, "true");
    java.util.function.Consumer<XdsSnapshot> apply = dns == null ? server::apply : snapshot -> {
      server.apply(snapshot);
      dns.update(snapshot.nameTable());
    };
    identity.firstCertificate().thenAccept(cert -> {
      synchronized (sidecar) {
        if (sidecar.closed) {
          return;
        }
        log.info("workload certificate issued for {} (until {}); connecting to xDS at {}",
            cert.identity().uri(), cert.notAfter(), options.controller());
        sidecar.xds = ProxyBootstrap.startXds(options, identity, trust, metadata, apply);
      }
    });
    return sidecar;
  }

  /**
   * Starts a sidecar without a controller: the resources and certificate of {@code bootstrap},
   * applied once ({@code options.controller()} and {@code tokenFile()} are not used).
   *
   * @throws IllegalArgumentException if a file cannot be read or a resource is invalid
   */
  public static Sidecar startStatic(ProxyOptions options, StaticBootstrap bootstrap)
      throws InterruptedException {
    requireNonNull(options, "options");
    requireNonNull(bootstrap, "bootstrap");
    XdsSnapshot config = bootstrap.snapshot();
    MeshTrust trust = ProxyBootstrap.trust(options);
    trust.update(config);
    WorkloadIdentity identity = bootstrap.identity();
    SidecarServer server = startServer(options, identity, trust);
    DnsServer dns = startDns(options, server, identity);
    Sidecar sidecar = new Sidecar(identity, server, dns);
    sidecar.staticSnapshot = config;
    server.apply(config);
    if (dns != null) {
      dns.update(config.nameTable());
    }
    log.info("static configuration {} applied ({} listeners, {} routes, {} clusters) for {}",
        bootstrap.config(), config.listeners().size(), config.routes().size(),
        config.clusters().size(), identity.current().identity().uri());
    return sidecar;
  }

  /** The DNS proxy when {@code --dns-capture} is on, else null. */
  private static DnsServer startDns(ProxyOptions options, SidecarServer server,
      WorkloadIdentity identity) throws InterruptedException {
    DnsOptions dnsOptions = options.capture().dns();
    if (!dnsOptions.enabled()) {
      return null;
    }
    try {
      return DnsServer.start(dnsOptions, options.namespace(), DnsOptions.DOMAIN_SUFFIX,
          server.metrics().registry());
    } catch (InterruptedException | RuntimeException e) {
      server.close();
      identity.close();
      throw e;
    }
  }

  private static SidecarServer startServer(ProxyOptions options, WorkloadIdentity identity,
      MeshTrust trust) throws InterruptedException {
    SidecarServer server;
    try {
      server = SidecarServer.start(
          new SidecarSettings(options.podIp(), options.localhost(), options.outboundPort(),
              options.adminPort(), options.healthPort(),
              new WorkloadInfo(options.workloadName(), options.namespace(), options.cluster()),
              options.capture(),
              // STRICT_DNS / LOGICAL_DNS clusters ask the same resolvers the DNS proxy forwards to
              // (--dns-upstreams); none given: the system's.
              options.capture().dns().upstreams(), options.eventLoops()),
          MeshContexts.dataPlane(identity.supplier(), trust, io.micrometer.core.instrument.Metrics.globalRegistry),
          identity::issued, () -> ProxyBootstrap.certs(identity),
          new TelemetrySettings(new PeerMetadata(options.podName(), options.namespace(),
              options.cluster(), PeerMetadata.workloadOfPod(options.podName()),
              options.labels().getOrDefault("app", options.workloadName()),
              options.labels().get("version")), options.telemetry()));
    } catch (InterruptedException | RuntimeException e) {
      identity.close();
      throw e;
    }
    // istio-agent's gauge: how long until the workload certificate expires (NaN before the first
    // one); the controller's dashboard reads it from the metrics it scrapes.
    io.micrometer.core.instrument.Gauge.builder("istio_agent_cert_expiry_seconds", identity,
            id -> id.currentIfIssued()
                .map(c -> (double) java.time.Duration.between(java.time.Instant.now(), c.notAfter())
                    .toSeconds())
                .orElse(Double.NaN))
        .description("Time remaining, in seconds, before the workload certificate expires")
        .tag("resource_name", "default")
        .register(server.metrics().registry());
    return server;
  }

  /** Certificate issued and the first full xDS configuration applied. */
  public boolean ready() {
    return server.ready();
  }

  public XdsSnapshot snapshot() {
    XdsSnapshot fixed = staticSnapshot;
    if (fixed != null) {
      return fixed;
    }
    XdsClient client = xds;
    return client == null ? XdsSnapshot.EMPTY : client.snapshot();
  }

  public InetSocketAddress outboundAddress() {
    return server.outboundAddress();
  }

  public InetSocketAddress adminAddress() {
    return server.adminAddress();
  }

  public InetSocketAddress healthAddress() {
    return server.healthAddress();
  }

  /** Istio's merged-metrics port ({@code podIp:15020/stats/prometheus}), if served. */
  public java.util.Optional<InetSocketAddress> statsAddress() {
    return server.statsAddress();
  }

  /** The inbound capture listener ({@code 0.0.0.0:15006}), when {@code --capture} is on. */
  public java.util.Optional<InetSocketAddress> inboundCaptureAddress() {
    return server.inboundCaptureAddress();
  }

  /** Where the DNS proxy answers (UDP and TCP), when {@code --dns-capture} is on. */
  public java.util.Optional<InetSocketAddress> dnsAddress() {
    return dns == null ? java.util.Optional.empty() : java.util.Optional.of(dns.address());
  }

  /** Ports with a bound explicit outbound TCP listener ({@code <localhost>:<port>}). */
  public java.util.Set<Integer> outboundTcpPorts() {
    return server.outboundTcpPorts();
  }

  /**
   * The {@code ip:port} of each explicit outbound listener the sidecar bound for its config (an
   * outbound listener with {@code bind_to_port: true}: Istio's egress {@code captureMode: NONE}).
   */
  public java.util.Set<String> explicitOutboundAddresses() {
    return server.explicitOutboundAddresses();
  }

  /** Inbound ports with a bound mTLS listener. */
  public java.util.Set<Integer> inboundPorts() {
    return server.inboundPorts();
  }

  @Override
  public void close() {
    synchronized (this) {
      closed = true;
    }
    XdsClient client = xds;
    if (client != null) {
      client.close();
    }
    if (dns != null) {
      dns.close();
    }
    server.close();
    identity.close();
  }
}
