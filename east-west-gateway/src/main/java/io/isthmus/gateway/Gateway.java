package io.isthmus.gateway;

import static java.util.Objects.requireNonNull;

import io.isthmus.proxy.ProxyOptions;
import io.isthmus.proxy.identity.MeshTrust;
import io.isthmus.proxy.identity.WorkloadIdentity;
import io.isthmus.proxy.internal.ProxyBootstrap;
import io.isthmus.proxy.xds.XdsClient;
import io.isthmus.proxy.xds.XdsSnapshot;
import java.net.InetSocketAddress;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running east-west gateway: SNI passthrough on {@code --pod-ip:--port} (15443), its
 * certificate (used only for xDS mTLS) and the xDS client (node type {@code router},
 * {@code ROUTER_MODE=sni-dnat}). {@link GatewayMain} starts one per process.
 */
public final class Gateway implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(Gateway.class);
  static final Map<String, String> ROUTER_METADATA = Map.of("ROUTER_MODE", "sni-dnat");

  private final WorkloadIdentity identity;
  private final GatewayServer server;
  private volatile XdsClient xds;
  private volatile XdsSnapshot staticSnapshot;
  private boolean closed;

  private Gateway(WorkloadIdentity identity, GatewayServer server) {
    this.identity = identity;
    this.server = server;
  }

  public static Gateway start(ProxyOptions options, int port, GatewayLimits limits)
      throws InterruptedException {
    MeshTrust trust = ProxyBootstrap.trust(options);
    return start(options, port, ProxyBootstrap.identityFromCa(options, trust), trust, limits);
  }

  /**
   * Starts a gateway that also carries the controller's ports for remote clusters
   * ({@link ControllerRoute}), as a primary cluster's gateway does in primary-remote.
   */
  public static Gateway start(ProxyOptions options, int port, GatewayLimits limits,
      java.util.Optional<ControllerRoute> controllerRoute) throws InterruptedException {
    MeshTrust trust = ProxyBootstrap.trust(options);
    return start(options, port, ProxyBootstrap.identityFromCa(options, trust), trust, limits,
        controllerRoute);
  }

  /** Starts with the given identity source, which the gateway owns from now on. */
  public static Gateway start(ProxyOptions options, int port, WorkloadIdentity identity,
      MeshTrust trust, GatewayLimits limits) throws InterruptedException {
    return start(options, port, identity, trust, limits, java.util.Optional.empty());
  }

  /** Starts with the given identity source, which the gateway owns from now on. */
  public static Gateway start(ProxyOptions options, int port, WorkloadIdentity identity,
      MeshTrust trust, GatewayLimits limits, java.util.Optional<ControllerRoute> controllerRoute)
      throws InterruptedException {
    requireNonNull(options, "options");
    requireNonNull(controllerRoute, "controllerRoute");
    requireNonNull(limits, "limits");
    requireNonNull(identity, "identity");
    requireNonNull(trust, "trust");
    if (!options.type().equals("router")) {
      throw new IllegalArgumentException("type: " + options.type() + " (expected: router)");
    }
    GatewayServer server;
    try {
      server = GatewayServer.start(options.eventLoops(), options.podIp(), port,
          options.adminPort(),
          options.healthPort(), options.cluster(), limits, identity::issued,
          () -> ProxyBootstrap.certs(identity), controllerRoute);
    } catch (InterruptedException | RuntimeException e) {
      identity.close();
      throw e;
    }
    Gateway gateway = new Gateway(identity, server);
    log.info("east-west gateway passing SNI through on {}", server.address());
    identity.firstCertificate().thenAccept(cert -> {
      synchronized (gateway) {
        if (gateway.closed) {
          return;
        }
        gateway.xds = ProxyBootstrap.startXds(options, identity, trust, ROUTER_METADATA,
            server::apply);
      }
    });
    return gateway;
  }

  /**
   * Starts a gateway without a controller: the clusters (named by SNI) and endpoints of
   * {@code bootstrap}, applied once; its certificate is only shown on {@code /certs}.
   *
   * @throws IllegalArgumentException if a file cannot be read or a resource is invalid
   */
  public static Gateway startStatic(ProxyOptions options, int port, GatewayLimits limits,
      io.isthmus.proxy.StaticBootstrap bootstrap) throws InterruptedException {
    requireNonNull(options, "options");
    requireNonNull(limits, "limits");
    requireNonNull(bootstrap, "bootstrap");
    XdsSnapshot config = bootstrap.snapshot();
    WorkloadIdentity identity = bootstrap.identity();
    GatewayServer server;
    try {
      server = GatewayServer.start(options.eventLoops(), options.podIp(), port,
          options.adminPort(),
          options.healthPort(), options.cluster(), limits, identity::issued,
          () -> ProxyBootstrap.certs(identity));
    } catch (InterruptedException | RuntimeException e) {
      identity.close();
      throw e;
    }
    Gateway gateway = new Gateway(identity, server);
    gateway.staticSnapshot = config;
    server.apply(config);
    log.info("east-west gateway passing SNI through on {} (static configuration {})",
        server.address(), bootstrap.config());
    return gateway;
  }

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

  /**
   * Starts a graceful drain, as admin {@code /drain_listeners} does: no new connection is
   * accepted, health reports not ready, open connections relay until the drain deadline.
   *
   * @return when connections still open will be closed
   */
  public java.time.Instant drain() {
    return server.drain();
  }

  /** Downstream connections open now (being sniffed or relayed). */
  public int openConnections() {
    return server.openConnections();
  }

  public InetSocketAddress address() {
    return server.address();
  }

  public InetSocketAddress adminAddress() {
    return server.adminAddress();
  }

  /** A counter's value from the gateway's registry, e.g. rejected connections by reason. */
  public double counter(String name, String... tags) {
    return server.metrics().count(name, tags);
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
    server.close();
    identity.close();
  }
}
