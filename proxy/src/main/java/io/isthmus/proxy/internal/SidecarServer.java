package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.isthmus.proxy.CaptureOptions;
import io.isthmus.proxy.internal.AdminServer.Page;
import io.isthmus.proxy.internal.capture.CaptureConfig;
import io.isthmus.proxy.internal.capture.OriginalDestination;
import io.isthmus.proxy.internal.telemetry.TcpTelemetryHandler;
import io.isthmus.proxy.internal.telemetry.Telemetry;
import io.isthmus.proxy.xds.XdsSnapshot;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpServerCodec;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * The sidecar's data plane: the outbound HTTP entry on {@code localhost:15001}, one mTLS
 * inbound listener on {@code podIp:<port>} per {@code virtualInbound} filter chain, the
 * admin server on {@code localhost:15000} and health on {@code podIp:15021}. Configured
 * only through {@link #apply(XdsSnapshot)}.
 *
 * <p>Thread-safety: {@link #apply} is called from one thread (the xDS notifier); the
 * current config is swapped atomically and read by event loops per request.
 */
public final class SidecarServer implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(SidecarServer.class);
  /** A client that says nothing this long on the HTTP entry is not an HTTP client. */
  private static final java.time.Duration ENTRY_DETECTION_TIMEOUT =
      java.time.Duration.ofSeconds(10);

  private final SidecarSettings settings;
  private final TlsContexts tls;
  private final BooleanSupplier certificateReady;
  private final Supplier<ObjectNode> certs;
  private final EventLoopGroup group;
  private final ExecutorService adminExecutor;
  // Retries inbound binds that failed (e.g. the port was briefly taken): a quiet mesh may send
  // no further config, so waiting for the next one could leave the port unserved for good.
  private final ScheduledExecutorService rebinder;
  private final ProxyMetrics metrics = new ProxyMetrics();
  private final Telemetry telemetry;
  private final int statsPort;
  private final HttpRelay relay;
  // Every slot a circuit breaker refuses, inbound and outbound, per cluster and limit (Envoy's
  // upstream_rq_pending_overflow, upstream_cx_overflow, upstream_rq_retry_overflow).
  private final ClusterRuntimes runtimes =
      new ClusterRuntimes(java.time.Clock.systemUTC(), java.util.random.RandomGenerator.getDefault(),
          (cluster, limit) -> metrics.counter("isthmus_upstream_overflow", "cluster", cluster,
              "limit", limit));
  private final AtomicReference<DataPlaneConfig> config =
      new AtomicReference<>(DataPlaneConfig.EMPTY);
  private final InboundSecurity security = new InboundSecurity(config::get);
  private final Map<Integer, Channel> inbound = new ConcurrentHashMap<>();
  private final Map<Integer, Channel> outboundTcp = new ConcurrentHashMap<>();
  /** Explicit outbound listeners by {@code ip:port} (bind_to_port: Istio's captureMode NONE). */
  private final Map<String, Channel> explicitOutbound = new ConcurrentHashMap<>();
  private final AtomicReference<CaptureConfig> capture = new AtomicReference<>(CaptureConfig.EMPTY);
  // STRICT_DNS / LOGICAL_DNS clusters' addresses, resolved off the data plane's event loops.
  private final DnsClusters dns;
  private final OriginationContexts origination = new OriginationContexts();
  private Channel outbound;
  private Channel inboundCapture;
  private AdminServer admin;
  private AdminServer health;
  private AdminServer stats;

  private SidecarServer(SidecarSettings settings, TlsContexts tls,
      BooleanSupplier certificateReady, Supplier<ObjectNode> certs,
      TelemetrySettings telemetrySettings) {
    this.settings = settings;
    tls = cachedIdentities(tls);
    this.telemetry = telemetrySettings.create(settings.podIp(), tls, metrics.registry());
    this.statsPort = telemetrySettings.options().statsPort();
    this.tls = tls;
    this.certificateReady = certificateReady;
    this.certs = certs;
    this.group = Transports.newGroup(settings.eventLoops(), "isthmus-proxy",
        settings.capture().enabled());
    this.adminExecutor = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "isthmus-proxy-admin");
      t.setDaemon(true);
      return t;
    });
    this.relay = new HttpRelay(settings.podIp(), metrics);
    this.rebinder = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "isthmus-proxy-rebind");
      t.setDaemon(true);
      return t;
    });
    // A changed address is applied on the rebind thread: the resolver's loop never waits on
    // apply()'s lock.
    this.dns = new DnsClusters(settings.dnsServers(), metrics, () -> rebinder.execute(this::applyDns));
  }

  private static final String PEER_IDENTITY = "io.isthmus.proxy.peer-identity";

  /**
   * {@code tls} whose identities are not parsed out of certificates on every request:
   * authorization, the inbound handler and telemetry all ask for them per request. The peer's
   * is read once per TLS session and kept with it (a session's peer certificate does not
   * change); this workload's own is read again at most once a second, so a rotated
   * certificate is seen within that second.
   */
  static TlsContexts cachedIdentities(TlsContexts tls) {
    java.util.function.Function<javax.net.ssl.SSLSession, java.util.Optional<String>> verified =
        tls.peerIdentity();
    return new TlsContexts(tls.upstreamClient(), tls.inboundServer(), session -> {
      if (session.getValue(PEER_IDENTITY) instanceof java.util.Optional<?> known) {
        @SuppressWarnings("unchecked")
        java.util.Optional<String> identity = (java.util.Optional<String>) known;
        return identity;
      }
      java.util.Optional<String> identity = verified.apply(session);
      if (identity.isPresent()) {
        // Only a present identity: an absent one may be a handshake not finished yet.
        session.putValue(PEER_IDENTITY, identity);
      }
      return identity;
    }, new OwnIdentity(tls.ownIdentity()), tls.upstreamClientH2());
  }

  /**
   * This workload's SPIFFE ID, read from its certificate at most once a second once issued.
   * Racing event loops may both read it; either result is current.
   */
  private static final class OwnIdentity implements Supplier<java.util.Optional<String>> {
    private static final long REREAD_NANOS = TimeUnit.SECONDS.toNanos(1);
    private final Supplier<java.util.Optional<String>> certificate;
    private volatile Read last;

    OwnIdentity(Supplier<java.util.Optional<String>> certificate) {
      this.certificate = certificate;
    }

    @Override
    public java.util.Optional<String> get() {
      Read read = last;
      long now = System.nanoTime();
      if (read == null || now - read.atNanos() > REREAD_NANOS) {
        java.util.Optional<String> identity = certificate.get();
        if (identity.isEmpty()) {
          // No certificate yet: asked again on the next request, not a second later.
          return identity;
        }
        read = new Read(identity, now);
        last = read;
      }
      return read.identity();
    }

    private record Read(java.util.Optional<String> identity, long atNanos) {}
  }

  /** Binds the outbound, admin and health listeners; inbound ones follow the config. */
  public static SidecarServer start(SidecarSettings settings, TlsContexts tls,
      BooleanSupplier certificateReady, Supplier<ObjectNode> certs) throws InterruptedException {
    requireNonNull(settings, "settings");
    return start(settings, tls, certificateReady, certs,
        TelemetrySettings.metricsOnly(settings.self()));
  }

  /** As above, with telemetry: Istio metrics (also on 15020), access log, tracing. */
  public static SidecarServer start(SidecarSettings settings, TlsContexts tls,
      BooleanSupplier certificateReady, Supplier<ObjectNode> certs,
      TelemetrySettings telemetry) throws InterruptedException {
    requireNonNull(settings, "settings");
    requireNonNull(tls, "tls");
    requireNonNull(certificateReady, "certificateReady");
    requireNonNull(certs, "certs");
    requireNonNull(telemetry, "telemetry");
    SidecarServer server = new SidecarServer(settings, tls, certificateReady, certs, telemetry);
    try {
      server.bindFixed();
    } catch (InterruptedException | RuntimeException e) {
      server.close();
      throw e;
    }
    return server;
  }

  private void bindFixed() throws InterruptedException {
    outbound = new ServerBootstrap()
        .group(group)
        .channelFactory(settings.capture().enabled()
            ? Transports.ipv4ServerChannel(group)
            : new io.netty.channel.ReflectiveChannelFactory<>(Transports.serverChannel(group)))
        .childOption(ChannelOption.TCP_NODELAY, true)
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            if (settings.capture().enabled()) {
              // A connection meant for this entry's own port was not captured (the rules never
              // send 15001 to 15001; a port-forward into the pod's localhost DNATs it here):
              // served as the explicit entry, where capturing it would loop.
              var original = OriginalDestination.of(ch, false)
                  .filter(o -> o.getPort() != settings.outboundPort());
              if (original.isPresent()) {
                captureOutbound(ch, original.get());
                return;
              }
            }
            // HTTP/1.1 or h2c with prior knowledge, told apart by the first bytes. Nothing else
            // can be routed here: without capture there is no original destination.
            httpEntry(ch, (ctx, detected) -> {
              metrics.counter("isthmus_outbound_unroutable_connections", "protocol",
                  detected.name().toLowerCase(java.util.Locale.ROOT));
              log.debug("outbound entry: {} from {} has no destination here, closing",
                  detected, ctx.channel().remoteAddress());
              ctx.close();
            });
          }
        })
        .bind(settings.localhost(), settings.outboundPort()).sync().channel();
    log.info("outbound HTTP entry on {} ({})", outbound.localAddress(),
        Transports.kindOf(group).flag());
    if (settings.capture().enabled()) {
      inboundCapture = bindInboundCapture();
      log.info("inbound capture listener on {} ({})", inboundCapture.localAddress(),
          settings.capture().mode());
    }
    Map<String, Supplier<Page>> pages = new HashMap<>();
    pages.put("/ready", this::readyPage);
    pages.put("/config_dump", () -> Page.json(ConfigDump.render(configDump())));
    pages.put("/certs", () -> Page.json(ConfigDump.render(certs.get())));
    pages.put("/stats/prometheus",
        () -> new Page(200, "text/plain; version=0.0.4; charset=utf-8", metrics.scrape()));
    admin = AdminServer.start(group, settings.localhost(), settings.adminPort(), pages,
        adminExecutor);
    health = AdminServer.start(group, settings.podIp(), settings.healthPort(),
        Map.of("/healthz/ready", this::readyPage), adminExecutor);
    if (statsPort >= 0) {
      // Istio's merged-metrics port, where Prometheus scrapes pods (prometheus.io/port: 15020).
      stats = AdminServer.start(group, settings.podIp(), statsPort, Map.of(
          "/stats/prometheus", pages.get("/stats/prometheus"),
          "/healthz/ready", this::readyPage), adminExecutor);
    }
  }

  /**
   * The outbound HTTP entry's pipeline: HTTP/1.1 or h2c with prior knowledge, told apart by the
   * first bytes; {@code otherwise} gets what is neither (TLS, other TCP), after the bytes held.
   */
  private void httpEntry(Channel ch,
      java.util.function.BiConsumer<io.netty.channel.ChannelHandlerContext,
          ProtocolSniffer.Detected> otherwise) {
    httpEntry(ch, ENTRY_DETECTION_TIMEOUT, otherwise, () -> { });
  }

  /**
   * As above, waiting at most {@code timeout} (zero: no limit) for the first bytes; {@code onHttp}
   * runs when the bytes are HTTP, before its handlers go in.
   */
  private void httpEntry(Channel ch, java.time.Duration timeout,
      java.util.function.BiConsumer<io.netty.channel.ChannelHandlerContext,
          ProtocolSniffer.Detected> otherwise, Runnable onHttp) {
    ch.pipeline().addLast(new ProtocolSniffer(timeout, (ctx, detected) -> {
      switch (detected) {
        case HTTP1 -> {
          onHttp.run();
          ctx.pipeline().addLast(
              new HttpServerCodec(),
              new BodilessRequests(),
              outboundHandler());
        }
        case HTTP2 -> {
          onHttp.run();
          Http2Pipelines.server(ctx.pipeline(),
              SidecarServer.this::outboundHandler, metrics, "outbound");
        }
        default -> otherwise.accept(ctx, detected);
      }
    }));
  }

  /**
   * A connection the capture rules redirected to the outbound entry: its original destination
   * picks the listener (Istio's {@code virtualOutbound} with {@code use_original_dst}).
   */
  private void captureOutbound(Channel ch, InetSocketAddress original) {
    CaptureConfig current = capture.get();
    dispatch(ch, original, current.outbound(original), current, false);
  }

  /**
   * A connection to the explicit listener on {@code address}: its chains decide as for a captured
   * connection to that address; there is no original destination to pass anything through to.
   */
  private void explicitOutbound(Channel ch, String address) {
    CaptureConfig current = capture.get();
    InetSocketAddress local = (InetSocketAddress) ch.localAddress();
    dispatch(ch, local, current.explicit(address, local), current, true);
  }

  /**
   * Carries out one decision of the capture config; a sniffing decision (HTTP, TLS) installs its
   * sniffer and carries out the next once the first bytes have said what they are.
   */
  private void dispatch(Channel ch, InetSocketAddress original, CaptureConfig.Decision decision,
      CaptureConfig current, boolean explicit) {
    // Counted by where the decision came from: capture, or an explicit listener.
    String listener = explicit ? "explicit" : "outbound";
    if (decision instanceof CaptureConfig.Decision.Http http) {
      OriginalDestination.set(ch, new OriginalDestination(original, http.routeConfig()));
      // Not HTTP after all (TLS, a database protocol): the listener's other chains, if any.
      httpEntry(ch, http.timeout(), (ctx, detected) -> {
        OriginalDestination.set(ctx.channel(), new OriginalDestination(original, null));
        dispatch(ctx.channel(), original, http.otherwise(), current, explicit);
      }, () -> countCapture(listener, "http"));
    } else if (decision instanceof CaptureConfig.Decision.Tls tls) {
      ch.pipeline().addLast(new ServerNameSniffer(tls.timeout(), (ctx, serverName) -> {
        CaptureConfig.Decision next = tls.forServerName(serverName.orElse(null));
        if (next instanceof CaptureConfig.Decision.Tcp) {
          countCapture(listener, "sni");
        }
        dispatch(ctx.channel(), original, next, current, explicit);
      }));
    } else if (decision instanceof CaptureConfig.Decision.Tcp tcp) {
      OriginalDestination.set(ch, new OriginalDestination(original, null));
      countCapture(listener, "tcp");
      // An explicit listener's own address is no destination: never an ORIGINAL_DST target.
      initOutboundTcp(ch, tcp.route(), explicit ? null : original);
    } else if (explicit) {
      countCapture(listener, "blackhole");
      log.debug("explicit listener {}: no chain takes this connection from {}, closing",
          original, ch.remoteAddress());
      ch.close();
    } else {
      notInMesh(ch, original, decision);
    }
  }

  /** PassthroughCluster (ALLOW_ANY) or BlackHoleCluster (REGISTRY_ONLY) for {@code original}. */
  private void notInMesh(Channel ch, InetSocketAddress original, CaptureConfig.Decision decision) {
    if (decision instanceof CaptureConfig.Decision.Passthrough) {
      countCapture("outbound", "passthrough");
      passthrough(ch, original, "0.0.0.0", TcpTelemetryHandler.outbound(telemetry,
          original.getAddress().getHostAddress(), CaptureConfig.PASSTHROUGH_CLUSTER));
    } else {
      countCapture("outbound", "blackhole");
      log.debug("outbound capture: {} from {} is not in the mesh (REGISTRY_ONLY), closing",
          original, ch.remoteAddress());
      ch.close();
    }
  }

  /** Raw TCP to where the connection was going, as it is (Envoy's ORIGINAL_DST cluster). */
  private void passthrough(Channel ch, InetSocketAddress original, String bindAddress,
      TcpTelemetryHandler telemetryHandler) {
    passthrough(ch, original, bindAddress, telemetryHandler,
        io.isthmus.proxy.policy.TcpRoute.DEFAULT_IDLE_TIMEOUT);
  }

  private void passthrough(Channel ch, InetSocketAddress original, String bindAddress,
      TcpTelemetryHandler telemetryHandler, java.time.Duration idleTimeout) {
    String direction = bindAddress.equals("0.0.0.0") ? "outbound" : "inbound";
    ch.pipeline().addLast(telemetryHandler,
        new TcpRelay(new TcpRelay.Target(original.getAddress().getHostAddress(),
            original.getPort(), null, null), bindAddress,
            cause -> metrics.counter("isthmus_tcp_upstream_failures", "direction", direction),
            idleTimeout));
  }

  private void countCapture(String direction, String decision) {
    if (direction.equals("explicit")) {
      metrics.counter("isthmus_explicit_listener_connections", "decision", decision);
      return;
    }
    metrics.counter("isthmus_capture_connections", "direction", direction, "decision", decision);
  }

  /**
   * The inbound capture listener ({@code 0.0.0.0:15006}): each connection's original destination
   * port picks its {@code virtualInbound} filter chain, and from there it is handled exactly as on
   * that port's own listener; a port without a chain is relayed to the app as it is, from
   * {@code 127.0.0.6} so capture lets it through (Istio's InboundPassthroughCluster).
   */
  private Channel bindInboundCapture() throws InterruptedException {
    boolean transparent = settings.capture().mode() == CaptureOptions.Mode.TPROXY;
    ServerBootstrap bootstrap = new ServerBootstrap()
        .group(group)
        .channelFactory(Transports.ipv4ServerChannel(group))
        .childOption(ChannelOption.TCP_NODELAY, true);
    if (transparent) {
      Transports.transparent(group, bootstrap);
    }
    return bootstrap.childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            var original = OriginalDestination.of(ch, transparent);
            log.debug("inbound capture: {} → {} was for {}", ch.remoteAddress(), ch.localAddress(),
                original);
            if (original.isEmpty()) {
              // A direct connection to 15006 or a capture that lost its NAT entry: nowhere to go.
              metrics.counter("isthmus_capture_no_original_destination", "listener", "inbound");
              log.warn("inbound capture: connection from {} to {} has no original destination"
                  + " (not redirected here?), closing", ch.remoteAddress(), ch.localAddress());
              ch.close();
              return;
            }
            int port = original.get().getPort();
            if (port == ((InetSocketAddress) inboundCapture.localAddress()).getPort()
                || port == outboundAddress().getPort()) {
              // Istio's virtualInbound-blackhole: relaying to a capture port would loop.
              countCapture("inbound", "blackhole");
              ch.close();
              return;
            }
            OriginalDestination.set(ch, new OriginalDestination(original.get(), null));
            if (config.get().inboundPorts().containsKey(port)) {
              countCapture("inbound", "chain");
              initInbound(ch, port);
            } else {
              countCapture("inbound", "passthrough");
              passthrough(ch, original.get(), io.isthmus.proxy.capture.CaptureRules.PASSTHROUGH_SOURCE,
                  TcpTelemetryHandler.inbound(telemetry));
            }
          }
        })
        .bind("0.0.0.0", settings.capture().inboundPort()).sync().channel();
  }

  /** The routing handler of one HTTP/1.1 connection or HTTP/2 stream, after its telemetry. */
  private ChannelHandler outboundHandler() {
    return withTelemetry(telemetry.outboundHandler(), streamer("outbound"),
        new OutboundHandler(config::get, tls, relay, metrics, settings.self(), runtimes));
  }

  /**
   * Puts {@code telemetry} right before {@code handler}, behind the HTTP codec, wherever the
   * protocol's pipeline adds the handler: it then sees each request and its response. Request
   * bodies stream: {@code streamer} goes between them, so the telemetry counts the streamed
   * bytes. An HTTP/1.1 connection gets a {@link RequestGate} in front.
   */
  private static ChannelHandler withTelemetry(ChannelHandler telemetry,
      java.util.function.Function<Boolean, ChannelHandler> streamer, ChannelHandler handler) {
    return new ChannelInitializer<Channel>() {
      @Override
      protected void initChannel(Channel ch) {
        boolean http1 = !(ch instanceof io.netty.handler.codec.http2.Http2StreamChannel);
        if (http1) {
          // HTTP/1.1: one request at a time without an epoll_ctl pair per request.
          ch.pipeline().addLast(new RequestGate());
        }
        ch.pipeline().addLast(telemetry, streamer.apply(http1), handler);
      }
    };
  }

  /**
   * A request body streamer for an HTTP/1.1 connection or HTTP/2 stream of {@code side}: Envoy's default retry buffer,
   * and a body that outgrows it (no retry, no mirror) counted in
   * {@code isthmus_retry_or_shadow_abandoned_total{side}} (Envoy's {@code
   * retry_or_shadow_abandoned}).
   */
  private java.util.function.Function<Boolean, ChannelHandler> streamer(String side) {
    return http1 -> new RequestStreamer(RequestBody.DEFAULT_BUFFER_LIMIT,
        () -> metrics.counter("isthmus_retry_or_shadow_abandoned", "side", side), http1);
  }

  private Page readyPage() {
    if (ready()) {
      return Page.text(200, "ready\n");
    }
    return Page.text(503, "not ready: certificate " + (certificateReady.getAsBoolean()
        ? "issued" : "pending") + ", xDS " + config.get().snapshot().versions().keySet() + "\n");
  }

  /**
   * Certificate issued, the first full xDS config (CDS, EDS, LDS, RDS) applied, and every inbound
   * port of that config bound: a sidecar that cannot take its workload's traffic is not ready.
   */
  public boolean ready() {
    DataPlaneConfig current = config.get();
    return certificateReady.getAsBoolean()
        && current.snapshot().initialConfigApplied(true)
        && (settings.capture().enabled() ? inboundCapture != null
            : inbound.keySet().containsAll(current.inboundPorts().keySet()));
  }

  public ObjectNode configDump() {
    ObjectNode dump = ConfigDump.toJson(config.get().snapshot());
    var bound = dump.putArray("inbound_listeners");
    new TreeMap<>(inbound).forEach((port, ch) -> bound.add(String.valueOf(ch.localAddress())));
    // Outlier detection's current verdicts: hosts the picker skips until "until".
    var ejected = dump.putArray("ejected_endpoints");
    for (ClusterRuntime.Ejection e : runtimes.ejections()) {
      ejected.addObject().put("cluster", e.cluster()).put("address", e.address())
          .put("health_status", "EJECTED").put("until", e.until().toString())
          .put("ejections", e.ejections());
    }
    // What the DNS clusters resolve to now: the snapshot shows only their names.
    var resolved = dump.putArray("dns_endpoints");
    DataPlaneConfig now = config.get();
    new TreeMap<>(now.snapshot().clusters()).forEach((name, cluster) -> {
      if (cluster.getType() == io.envoyproxy.envoy.config.cluster.v3.Cluster.DiscoveryType.STRICT_DNS
          || cluster.getType() == io.envoyproxy.envoy.config.cluster.v3.Cluster.DiscoveryType.LOGICAL_DNS) {
        var entry = resolved.addObject().put("cluster", name);
        var addresses = entry.putArray("addresses");
        DataPlaneConfig.UpstreamCluster upstream = now.clusters().get(name);
        if (upstream != null) {
          upstream.picker().endpoints().forEach(e -> addresses.add(e.address()));
        }
      }
    });
    // Envoy's priority load where there is more than one priority: where traffic goes now.
    var loads = dump.putArray("priority_loads");
    DataPlaneConfig current = config.get();
    new TreeMap<>(current.clusters()).forEach((name, cluster) -> {
      if (cluster.picker().priorityLevels() > 1) {
        PriorityLoad load = runtimes.get(cluster).priorityLoad(cluster.picker());
        var entry = loads.addObject().put("cluster", name);
        load.healthyLoad().forEach(entry.putArray("healthy")::add);
        load.degradedLoad().forEach(entry.putArray("degraded")::add);
        load.panic().forEach(entry.putArray("panic")::add);
      }
    });
    return dump;
  }

  /** The DNS clusters' new addresses into the config in force, nothing else changed. */
  private synchronized void applyDns() {
    DataPlaneConfig next = config.get().withDns(dns::resolved);
    runtimes.update(next);
    config.set(next);
  }

  private static java.util.Set<io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext>
      liveTlsContexts(XdsSnapshot snapshot) {
    var live = new java.util.HashSet<io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext>();
    for (var cluster : snapshot.clusters().values()) {
      try {
        io.isthmus.proxy.xds.XdsResources.upstreamTlsContext(cluster).ifPresent(live::add);
      } catch (IllegalArgumentException e) {
        // Validated on arrival; nothing to keep for it.
      }
    }
    return live;
  }

  /** Swaps in a new configuration and opens/closes inbound listeners to match it. */
  public synchronized void apply(XdsSnapshot snapshot) {
    dns.update(snapshot.clusters().values());
    DataPlaneConfig next = DataPlaneConfig.from(snapshot, dns::resolved, origination);
    origination.retain(liveTlsContexts(snapshot));
    runtimes.update(next);
    config.set(next);
    capture.set(CaptureConfig.from(snapshot));
    for (Integer port : Map.copyOf(inbound).keySet()) {
      if (!next.inboundPorts().containsKey(port)) {
        Channel ch = inbound.remove(port);
        log.info("closing inbound listener {}", ch.localAddress());
        // apply() runs on the xDS notifier thread, never an event loop: waiting is fine, and
        // the port is free again before a later config re-adds it.
        ch.close().syncUninterruptibly();
      }
    }
    // With capture, 15006 takes every inbound port and the app owns its ports: only the ports
    // an inbound listener binds itself (captureMode NONE) are bound.
    bindMissingInbound(next);
    for (Integer port : Map.copyOf(outboundTcp).keySet()) {
      if (!next.outboundTcp().containsKey(port)) {
        Channel ch = outboundTcp.remove(port);
        log.info("closing outbound TCP listener {}", ch.localAddress());
        ch.close().syncUninterruptibly();
      }
    }
    CaptureConfig nextCapture = capture.get();
    for (String address : Map.copyOf(explicitOutbound).keySet()) {
      if (!nextCapture.bound().containsKey(address)) {
        Channel ch = explicitOutbound.remove(address);
        log.info("closing explicit outbound listener {}", ch.localAddress());
        ch.close().syncUninterruptibly();
      }
    }
    for (String address : nextCapture.bound().keySet()) {
      if (!explicitOutbound.containsKey(address)) {
        try {
          Channel ch = bindExplicitOutbound(address);
          explicitOutbound.put(address, ch);
          log.info("explicit outbound listener on {}", ch.localAddress());
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        } catch (Exception e) {
          log.warn("cannot bind explicit outbound listener {}: {}", address, e.toString());
        }
      }
    }
    for (Integer port : next.outboundTcp().keySet()) {
      if (!outboundTcp.containsKey(port)) {
        try {
          Channel ch = bindOutboundTcp(port);
          outboundTcp.put(port, ch);
          log.info("outbound TCP listener on {} → {}", ch.localAddress(),
              next.outboundTcp().get(port));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        } catch (Exception e) {
          log.warn("cannot bind outbound TCP {}:{}: {}", settings.localhost(), port,
              e.toString());
        }
      }
    }
  }

  /**
   * An explicit outbound TCP listener ({@code <localhost>:<port>}, where there is no traffic
   * capture): each connection is relayed raw to one endpoint of the listener's cluster, over
   * mTLS with the cluster's SNI.
   */
  private Channel bindOutboundTcp(int port) throws InterruptedException {
    return new ServerBootstrap()
        .group(group)
        .channel(Transports.serverChannel(group))
        .childOption(ChannelOption.TCP_NODELAY, true)
        .childOption(ChannelOption.AUTO_READ, false)
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            initOutboundTcp(ch, config.get().outboundTcp().get(port));
          }
        })
        .bind(settings.localhost(), port).sync().channel();
  }

  /** An explicit outbound listener on {@code address} ({@code ip:port}). */
  private Channel bindExplicitOutbound(String address) throws InterruptedException {
    int colon = address.lastIndexOf(':');
    return new ServerBootstrap()
        .group(group)
        .channel(Transports.serverChannel(group))
        .childOption(ChannelOption.TCP_NODELAY, true)
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            explicitOutbound(ch, address);
          }
        })
        .bind(address.substring(0, colon), Integer.parseInt(address.substring(colon + 1)))
        .sync().channel();
  }

  /** The {@code ip:port} of each bound explicit outbound listener. */
  public java.util.Set<String> explicitOutboundAddresses() {
    return java.util.Set.copyOf(explicitOutbound.keySet());
  }

  /** Relays a new connection raw to one endpoint of {@code route}'s cluster, over its mTLS. */
  private void initOutboundTcp(Channel ch, io.isthmus.proxy.policy.TcpRoute route) {
    initOutboundTcp(ch, route, null);
  }

  /**
   * As above, for a captured connection to {@code original}: an {@code ORIGINAL_DST} cluster (a
   * ServiceEntry with resolution NONE) relays to it as it is, and when it is one of the cluster's
   * endpoints (a headless service's pod) that endpoint is the one dialled, as Istio's
   * original-destination cluster for headless services does.
   */
  private void initOutboundTcp(Channel ch, io.isthmus.proxy.policy.TcpRoute route,
      InetSocketAddress original) {
    if (route == null) {
      // The listener went away with a config push between accept and now.
      ch.close();
      return;
    }
    // Envoy's tcp_proxy weighted_clusters: one cluster per connection, by weight.
    String clusterName = route.pick(java.util.concurrent.ThreadLocalRandom.current());
    DataPlaneConfig current = config.get();
    if (original != null && clusterName != null) {
      var xds = current.snapshot().clusters().get(clusterName);
      if (xds != null && xds.getType()
          == io.envoyproxy.envoy.config.cluster.v3.Cluster.DiscoveryType.ORIGINAL_DST) {
        // Istio labels a destination outside the mesh's clusters "unknown".
        passthrough(ch, original, "0.0.0.0", TcpTelemetryHandler.outbound(telemetry,
            serviceOf(clusterName), "unknown"), route.idleTimeout());
        return;
      }
    }
    DataPlaneConfig.UpstreamCluster cluster =
        clusterName == null ? null : current.clusters().get(clusterName);
    var endpoint = cluster == null ? java.util.Optional.<UpstreamEndpoint>empty()
        : original == null ? java.util.Optional.<UpstreamEndpoint>empty()
            : cluster.picker().endpoints().stream()
                .filter(e -> e.port() == original.getPort()
                    && e.host().equals(original.getAddress().getHostAddress()))
                .findFirst();
    if (cluster != null && endpoint.isEmpty()) {
      endpoint = runtimes.get(cluster).pick(cluster.picker(), java.util.Set.of(),
          java.util.OptionalLong.empty());
    }
    if (endpoint.isEmpty()) {
      metrics.counter("isthmus_tcp_upstream_failures", "direction", "outbound");
      log.debug("outbound TCP to {}: no endpoint in {}", ch.localAddress(), clusterName);
      ch.close();
      return;
    }
    UpstreamEndpoint e = endpoint.get();
    ch.pipeline().addLast(
        TcpTelemetryHandler.outbound(telemetry, serviceOf(clusterName), e.cluster()),
        new TcpRelay(new TcpRelay.Target(e.host(), e.port(),
        cluster.tls().map(t -> t.context(tls, false)).orElse(null),
        cluster.tls().map(DataPlaneConfig.UpstreamTls::sni).filter(s -> !s.isEmpty())
            .orElse(null),
        cluster.tls().map(DataPlaneConfig.UpstreamTls::peerIdentities).orElse(java.util.List.of()),
        cluster.connections().connectTimeout(), cluster.connections().proxyProtocol().orElse(null)),
        settings.podIp(),
        cause -> {
          metrics.counter("isthmus_tcp_upstream_failures", "direction", "outbound");
          UpstreamTlsFailure.of(cause).ifPresent(f -> {
            f.count(metrics, clusterName);
            log.debug("outbound TCP to {}: {}", clusterName, f.detail());
          });
        }, route.idleTimeout(), runtimes.get(cluster)));
  }

  /** The service host of an outbound cluster name, {@code outbound|<port>|<subset>|<host>}. */
  static String serviceOf(String clusterName) {
    if (clusterName == null) {
      return null;
    }
    String[] parts = clusterName.split("\\|", -1);
    return parts.length == 4 && !parts[3].isEmpty() ? parts[3] : null;
  }

  /** Ports with a bound explicit outbound TCP listener. */
  public java.util.Set<Integer> outboundTcpPorts() {
    return java.util.Set.copyOf(outboundTcp.keySet());
  }

  /** Binds every inbound port of {@code current} that has no listener; retries failures in 1 s. */
  private void bindMissingInbound(DataPlaneConfig current) {
    boolean failed = false;
    for (DataPlaneConfig.InboundPort port : current.inboundPorts().values()) {
      if (inbound.containsKey(port.port())
          || (settings.capture().enabled() && port.bindAddress().isEmpty())) {
        continue;
      }
      try {
        Channel ch = bindInbound(port.port(), port.bindAddress().orElse(settings.podIp()));
        inbound.put(port.port(), ch);
        log.info("inbound mTLS listener on {} → {}:{}", ch.localAddress(), settings.localhost(),
            port.targetPort());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (Exception e) {
        // Netty rethrows the bind's IOException unchecked-style from sync().
        failed = true;
        log.warn("cannot bind inbound {}:{} (retrying in 1 s; not ready until bound): {}",
            settings.podIp(), port.port(), e.toString());
      }
    }
    if (failed && !rebinder.isShutdown()) {
      rebinder.schedule(this::rebindMissingInbound, 1, TimeUnit.SECONDS);
    }
  }

  private synchronized void rebindMissingInbound() {
    if (!group.isShuttingDown()) {
      bindMissingInbound(config.get());
    }
  }

  private Channel bindInbound(int port, String address) throws InterruptedException {
    return new ServerBootstrap()
        .group(group)
        .channel(Transports.serverChannel(group))
        .childOption(ChannelOption.TCP_NODELAY, true)
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            initInbound(ch, port);
          }
        })
        .bind(address, port).sync().channel();
  }

  /** A new inbound connection of {@code port}: its mTLS mode, authorization, then the app. */
  private void initInbound(Channel ch, int port) {
    DataPlaneConfig current = config.get();
    DataPlaneConfig.InboundPort target = current.inboundPorts().get(port);
    if (target == null) {
      ch.close();
      return;
    }
    // The inbound cluster's circuit breakers and connection options (Sidecar
    // inboundConnectionPool, ingress connectionPool, a DestinationRule's) limit what reaches the
    // app, as on the outbound side; its runtime outlives config pushes, so slots stay counted.
    DataPlaneConfig.UpstreamCluster appCluster = current.clusters().get(target.cluster());
    InboundHandler.AppLimits limits = appCluster == null ? InboundHandler.AppLimits.NONE
        : new InboundHandler.AppLimits(runtimes.get(appCluster), appCluster.connections());
    // Accepted connections per port: pooled upstreams keep this flat under steady load.
    metrics.counter("isthmus_inbound_connections", "port", Integer.toString(port));
    // AuthorizationPolicy's RBAC before the app, on HTTP/1.1 and on each HTTP/2 stream.
    // Telemetry first, so it also reports the requests authorization refuses.
    Supplier<ChannelHandler> app = () -> withTelemetry(telemetry.inboundHandler(port),
        streamer("inbound"),
        security.authorized(port, tls, metrics, settings.self(),
            () -> new InboundHandler(target.targetHost().orElse(settings.localhost()),
                target.targetPort(), tls, relay,
                metrics, settings.self(), target.websocket(), target.maxStreamDuration(), limits))
                .get());
    ch.pipeline().addLast(
        tls.inboundServer().newHandler(ch.alloc()),
        new HandshakeGate(cause -> metrics.counter(
            "isthmus_inbound_handshake_failures", "port", Integer.toString(port)),
            () -> metrics.counter("isthmus_inbound_tls_handshakes", "port",
                Integer.toString(port))),
        new InboundProtocolSelector(app, metrics,
            target.protocol() == DataPlaneConfig.PortProtocol.TCP
                ? () -> new ChannelInitializer<Channel>() {
                  @Override
                  protected void initChannel(Channel tcp) {
                    tcp.pipeline().addLast(TcpTelemetryHandler.inbound(telemetry),
                        new TcpRelay(new TcpRelay.Target(
                            target.targetHost().orElse(settings.localhost()),
                            target.targetPort(), null, null), settings.localhost(),
                            cause -> metrics.counter("isthmus_tcp_upstream_failures",
                                "direction", "inbound"), io.isthmus.proxy.policy.TcpRoute.DEFAULT_IDLE_TIMEOUT,
                            limits.runtime() == null ? RelayHooks.NONE : limits.runtime()));
                  }
                }
                : null));
    // PeerAuthentication's mode (how the connection starts) for this port.
    security.install(ch.pipeline(), port, tls, app);
  }

  public ProxyMetrics metrics() {
    return metrics;
  }

  public InetSocketAddress outboundAddress() {
    return (InetSocketAddress) outbound.localAddress();
  }

  /** The inbound capture listener (15006), when capture is on. */
  public java.util.Optional<InetSocketAddress> inboundCaptureAddress() {
    return java.util.Optional.ofNullable(inboundCapture)
        .map(ch -> (InetSocketAddress) ch.localAddress());
  }

  public InetSocketAddress adminAddress() {
    return admin.address();
  }

  public InetSocketAddress healthAddress() {
    return health.address();
  }

  /** Istio's merged-metrics port (15020), if served. */
  public java.util.Optional<InetSocketAddress> statsAddress() {
    return java.util.Optional.ofNullable(stats).map(AdminServer::address);
  }

  /** Ports with a bound inbound listener. */
  public java.util.Set<Integer> inboundPorts() {
    return java.util.Set.copyOf(inbound.keySet());
  }

  @Override
  public void close() {
    rebinder.shutdownNow();
    dns.close();
    inbound.values().forEach(Channel::close);
    outboundTcp.values().forEach(Channel::close);
    explicitOutbound.values().forEach(Channel::close);
    if (inboundCapture != null) {
      inboundCapture.close();
    }
    if (outbound != null) {
      outbound.close();
    }
    if (admin != null) {
      admin.close();
    }
    if (health != null) {
      health.close();
    }
    if (stats != null) {
      stats.close();
    }
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    adminExecutor.shutdownNow();
    telemetry.close();
  }
}
