package io.isthmus.gateway;

import io.isthmus.proxy.internal.AdminServer;
import io.isthmus.proxy.internal.AdminServer.Page;
import io.isthmus.proxy.internal.ConfigDump;
import io.isthmus.proxy.internal.EndpointPicker;
import io.isthmus.proxy.internal.ProxyMetrics;
import io.isthmus.proxy.internal.Transports;
import io.isthmus.proxy.xds.XdsResources;
import io.isthmus.proxy.xds.XdsSnapshot;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.time.Instant;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * The gateway's listeners: SNI passthrough on {@code address:port}, admin and health.
 * Configured by {@link #apply(XdsSnapshot)}: each CDS cluster name is an SNI it accepts.
 */
final class GatewayServer implements AutoCloseable {

  private final EventLoopGroup group;
  private final ExecutorService adminExecutor = Executors.newSingleThreadExecutor(r -> {
    Thread t = new Thread(r, "isthmus-gateway-admin");
    t.setDaemon(true);
    return t;
  });
  private static final Logger log = LoggerFactory.getLogger(GatewayServer.class);
  private static final long REJECTION_LOG_INTERVAL_MS = 5_000;

  private final ProxyMetrics metrics = new ProxyMetrics();
  private final RejectionLog rejections =
      new RejectionLog(REJECTION_LOG_INTERVAL_MS, java.time.Clock.systemUTC());
  private Map<String, java.util.List<String>> routed = Map.of();
  private final AtomicReference<XdsSnapshot> snapshot = new AtomicReference<>(XdsSnapshot.EMPTY);
  private final AtomicReference<Map<String, EndpointPicker>> clusters =
      new AtomicReference<>(Map.of());
  private final BooleanSupplier certificateReady;
  private final GatewayLimits limits;
  /** Every accepted downstream connection still open; a drain deadline closes what is left. */
  private final ChannelGroup connections = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
  private final AtomicReference<Instant> drainingSince = new AtomicReference<>();
  private Channel listener;
  private final java.util.List<Channel> controllerListeners = new java.util.concurrent.CopyOnWriteArrayList<>();
  private AdminServer admin;
  private AdminServer health;

  private GatewayServer(int eventLoops, BooleanSupplier certificateReady, GatewayLimits limits) {
    this.group = Transports.newGroup(eventLoops, "isthmus-gateway");
    this.certificateReady = certificateReady;
    this.limits = limits;
  }

  static GatewayServer start(int eventLoops, String address, int port, int adminPort,
      int healthPort, String localCluster, GatewayLimits limits, BooleanSupplier certificateReady,
      Supplier<ObjectNode> certs) throws InterruptedException {
    return start(eventLoops, address, port, adminPort, healthPort, localCluster, limits,
        certificateReady, certs, java.util.Optional.empty());
  }

  static GatewayServer start(int eventLoops, String address, int port, int adminPort,
      int healthPort, String localCluster, GatewayLimits limits, BooleanSupplier certificateReady,
      Supplier<ObjectNode> certs, java.util.Optional<ControllerRoute> controllerRoute)
      throws InterruptedException {
    GatewayServer server = new GatewayServer(eventLoops, certificateReady, limits);
    try {
      server.bind(address, port, adminPort, healthPort, localCluster, certs);
      if (controllerRoute.isPresent()) {
        server.bindControllerPorts(address, localCluster, controllerRoute.get());
      }
    } catch (InterruptedException | RuntimeException e) {
      server.close();
      throw e;
    }
    return server;
  }

  private void bind(String address, int port, int adminPort, int healthPort, String localCluster,
      Supplier<ObjectNode> certs) throws InterruptedException {
    ServerBootstrap bootstrap = new ServerBootstrap()
        .group(group)
        .channel(Transports.serverChannel(group))
        .childOption(ChannelOption.TCP_NODELAY, true)
        .childOption(ChannelOption.SO_KEEPALIVE, true);
    // Several gateway replicas of one network may share its address and port; the kernel
    // spreads new connections over them (Linux SO_REUSEPORT).
    Transports.reusePort(group, bootstrap);
    listener = bootstrap
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            connections.add(ch);
            ch.pipeline().addLast(
                new IdleStateHandler(0, 0, limits.idleTimeout().toMillis(), TimeUnit.MILLISECONDS),
                new IdleCloser(ctx -> closed("idle_timeout", ch, "no byte either way for "
                    + limits.idleTimeout())),
                new SniSniffer(limits.handshakeTimeout().toMillis(), reason -> {
                  rejections.rejected(reason, null, ch.remoteAddress(), "");
                  metrics.counter("isthmus_gateway_rejected_connections", "reason", reason);
                }),
                new GatewayRouter(clusters::get, address, metrics, localCluster, rejections));
          }
        })
        .bind(address, port).sync().channel();
    Map<String, Supplier<Page>> pages = new HashMap<>();
    pages.put("/ready", this::readyPage);
    pages.put("/drain_listeners", this::drainPage);
    pages.put("/config_dump", () -> Page.json(ConfigDump.render(ConfigDump.toJson(snapshot.get()))));
    pages.put("/certs", () -> Page.json(ConfigDump.render(certs.get())));
    pages.put("/stats/prometheus",
        () -> new Page(200, "text/plain; version=0.0.4; charset=utf-8", metrics.scrape()));
    admin = AdminServer.start(group, address, adminPort, pages, adminExecutor);
    health = AdminServer.start(group, address, healthPort, Map.of("/healthz/ready", this::readyPage),
        adminExecutor);
  }

  /**
   * Listens on each carried controller port at the gateway's address and relays every connection
   * to the controller on the same port (primary-remote: remote clusters' proxies on other
   * networks reach 15012 only this way). Same bounds as 15443: idle timeout, drain.
   */
  private void bindControllerPorts(String address, String localCluster, ControllerRoute route)
      throws InterruptedException {
    TcpMetrics tcp = TcpMetrics.of(metrics, ControllerRelay.SERVICE, localCluster);
    for (int port : route.ports()) {
      InetSocketAddress controller = new InetSocketAddress(route.controllerHost(), port);
      ServerBootstrap bootstrap = new ServerBootstrap()
          .group(group)
          .channel(Transports.serverChannel(group))
          .childOption(ChannelOption.AUTO_READ, false)
          .childOption(ChannelOption.TCP_NODELAY, true)
          .childOption(ChannelOption.SO_KEEPALIVE, true);
      Transports.reusePort(group, bootstrap);
      Channel ch = bootstrap.childHandler(new ChannelInitializer<Channel>() {
        @Override
        protected void initChannel(Channel ch) {
          connections.add(ch);
          ch.pipeline().addLast(
              new IdleStateHandler(0, 0, limits.idleTimeout().toMillis(), TimeUnit.MILLISECONDS),
              new IdleCloser(ctx -> closed("idle_timeout", ch, "no byte either way for "
                  + limits.idleTimeout())),
              new ControllerRelay(controller, address, tcp, (reason, client, detail) -> {
                rejections.rejected(reason, null, client.remoteAddress(), detail);
                metrics.counter("isthmus_gateway_rejected_connections", "reason", reason);
              }));
        }
      }).bind(address, port).sync().channel();
      controllerListeners.add(ch);
      log.info("carrying the controller's port {} for remote clusters: {} → {}", port,
          ch.localAddress(), controller);
    }
  }

  private Page readyPage() {
    Instant draining = drainingSince.get();
    if (draining != null) {
      return Page.text(503, "not ready: draining since " + draining + ", " + connections.size()
          + " connections open\n");
    }
    return ready() ? Page.text(200, "ready\n")
        : Page.text(503, "not ready: certificate " + (certificateReady.getAsBoolean() ? "issued"
            : "pending") + ", xDS " + snapshot.get().versions().keySet() + "\n");
  }

  private Page drainPage() {
    Instant deadline = drain();
    return Page.text(200, "draining: listener closed, " + connections.size()
        + " connections keep relaying until " + deadline + "\n");
  }

  /**
   * Stops accepting (closes the 15443 listener, health turns 503 so a load balancer stops
   * sending), keeps relaying open connections, and closes whatever is still open after
   * {@link GatewayLimits#drainTimeout()}. Idempotent: a second call keeps the first deadline.
   *
   * @return the deadline
   */
  Instant drain() {
    Instant now = Instant.now();
    if (!drainingSince.compareAndSet(null, now)) {
      return drainingSince.get().plus(limits.drainTimeout());
    }
    log.info("draining: closed the listener on {}; {} connections may relay until {}",
        listener.localAddress(), connections.size(), now.plus(limits.drainTimeout()));
    listener.close();
    controllerListeners.forEach(Channel::close);
    group.schedule(() -> {
      for (Channel ch : connections) {
        closed("drain_deadline", ch, "still open " + limits.drainTimeout() + " after the drain began");
        ch.close();
      }
    }, limits.drainTimeout().toMillis(), TimeUnit.MILLISECONDS);
    return now.plus(limits.drainTimeout());
  }

  boolean draining() {
    return drainingSince.get() != null;
  }

  int openConnections() {
    return connections.size();
  }

  private void closed(String reason, Channel ch, String detail) {
    rejections.rejected(reason, null, ch.remoteAddress(), detail);
    metrics.counter("isthmus_gateway_closed_connections", "reason", reason);
  }

  boolean ready() {
    return drainingSince.get() == null && certificateReady.getAsBoolean() && snapshot.get().initialConfigApplied(false);
  }

  void apply(XdsSnapshot next) {
    Map<String, EndpointPicker> pickers = new HashMap<>();
    for (var cluster : next.clusters().values()) {
      var assignment = cluster.getType() == io.envoyproxy.envoy.config.cluster.v3.Cluster.DiscoveryType.EDS
          ? next.endpoints().get(XdsResources.edsServiceName(cluster))
          : cluster.getLoadAssignment();
      pickers.put(cluster.getName().toLowerCase(java.util.Locale.ROOT),
          assignment == null ? EndpointPicker.EMPTY : EndpointPicker.of(assignment));
    }
    clusters.set(Map.copyOf(pickers));
    snapshot.set(next);
    logRoutes(pickers);
  }

  /**
   * One line per change of what the gateway routes, so a log shows when an SNI became known
   * and which endpoints it led to (apply runs on the one xDS notifier thread).
   */
  private void logRoutes(Map<String, EndpointPicker> pickers) {
    Map<String, java.util.List<String>> now = new java.util.TreeMap<>();
    pickers.forEach((sni, picker) -> now.put(sni,
        picker.endpoints().stream().map(e -> e.address()).sorted().toList()));
    if (now.equals(routed)) {
      return;
    }
    routed = now;
    if (now.isEmpty()) {
      log.info("routing no SNI yet (xDS versions {})", snapshot.get().versions());
      return;
    }
    now.forEach((sni, endpoints) -> log.info("routing SNI {} → {}", sni,
        endpoints.isEmpty() ? "(no endpoints: connections are rejected as no_endpoint)" : endpoints));
  }

  ProxyMetrics metrics() {
    return metrics;
  }

  InetSocketAddress address() {
    return (InetSocketAddress) listener.localAddress();
  }

  InetSocketAddress adminAddress() {
    return admin.address();
  }

  @Override
  public void close() {
    if (listener != null) {
      listener.close();
    }
    controllerListeners.forEach(Channel::close);
    if (admin != null) {
      admin.close();
    }
    if (health != null) {
      health.close();
    }
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    adminExecutor.shutdownNow();
  }
}
