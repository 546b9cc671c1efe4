package io.isthmus.proxy.internal;

import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.isthmus.proxy.policy.Authorization;
import io.isthmus.proxy.policy.RateLimits;
import io.isthmus.proxy.xds.XdsResources;
import io.isthmus.proxy.xds.XdsSnapshot;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.ssl.SslHandler;
import java.util.List;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The inbound side's security per port, read from {@code virtualInbound}'s filter chains: the
 * mTLS mode (a {@code tls} chain only: STRICT; {@code tls} and {@code raw_buffer}: PERMISSIVE;
 * {@code raw_buffer} only: DISABLE) and the connection manager's {@link Authorization}. Compiled
 * once per snapshot (kept beside the last one seen) and applied to each new inbound connection's
 * pipeline. Thread-safe.
 */
final class InboundSecurity {

  private static final Logger log = LoggerFactory.getLogger(InboundSecurity.class);

  enum Mode { STRICT, PERMISSIVE, DISABLE }

  /** One port's settings. */
  record Port(Mode mode, Authorization authorization) {
    static final Port DEFAULT = new Port(Mode.STRICT, Authorization.NONE);
  }

  private record Compiled(XdsSnapshot snapshot, Map<Integer, Port> ports,
      Map<Integer, RateLimits> rateLimits) {}

  private final Supplier<DataPlaneConfig> config;
  private final AtomicReference<Compiled> last = new AtomicReference<>();
  private final RateLimitBuckets buckets = new RateLimitBuckets(System::nanoTime);

  InboundSecurity(Supplier<DataPlaneConfig> config) {
    this.config = config;
  }

  /** The current settings of {@code port}. */
  Port port(int port) {
    return compiled().ports().getOrDefault(port, Port.DEFAULT);
  }

  /** The current local rate limits of {@code port}. */
  RateLimits rateLimits(int port) {
    return compiled().rateLimits().getOrDefault(port, RateLimits.NONE);
  }

  private Compiled compiled() {
    XdsSnapshot snapshot = config.get().snapshot();
    Compiled compiled = last.get();
    if (compiled == null || compiled.snapshot() != snapshot) {
      // Serialized: the bucket generations must not interleave; a new snapshot is rare.
      synchronized (buckets) {
        compiled = last.get();
        if (compiled == null || compiled.snapshot() != snapshot) {
          compiled = new Compiled(snapshot, compile(snapshot), compileRateLimits(snapshot, buckets));
          last.set(compiled);
        }
      }
    }
    return compiled;
  }

  /**
   * {@code app} (a new inbound handler per call) behind a {@link JwtAuthnHandler}, an
   * {@link AuthorizationHandler} and a {@link RateLimitHandler} for {@code port}: what the
   * pipeline runs for each HTTP/1.1 connection or HTTP/2 stream.
   */
  Supplier<ChannelHandler> authorized(int port, TlsContexts tls, ProxyMetrics metrics,
      WorkloadInfo self, Supplier<ChannelHandler> app) {
    return () -> new ChannelInitializer<Channel>() {
      @Override
      protected void initChannel(Channel ch) {
        ch.pipeline().addLast(
            new JwtAuthnHandler(port, p -> port(p).authorization().jwt(), metrics),
            new AuthorizationHandler(port, p -> port(p).authorization(), tls, metrics, self),
            new RateLimitHandler(port, InboundSecurity.this::rateLimits, metrics, self),
            app.get());
      }
    };
  }

  /**
   * Sets up a new inbound connection of {@code port}, whose pipeline the caller built for STRICT
   * (an {@link SslHandler}, a {@link HandshakeGate}, then an {@link InboundProtocolSelector}):
   * PERMISSIVE sniffs the first bytes for TLS instead, DISABLE serves plaintext HTTP/1.1 only.
   */
  void install(ChannelPipeline pipeline, int port, TlsContexts tls,
      Supplier<ChannelHandler> app) {
    switch (port(port).mode()) {
      case STRICT -> { }
      // Removing the SslHandler frees its engine; the sniffer makes a new one if TLS comes. The
      // ALPN selector insists on an SslHandler once active: it waits aside, with the gate.
      case PERMISSIVE -> {
        ChannelHandler gate = pipeline.remove(HandshakeGate.class);
        ChannelHandler selector = pipeline.remove(InboundProtocolSelector.class);
        pipeline.replace(SslHandler.class, "tls-sniffer",
            new TlsSniffer(tls, app, gate, selector));
      }
      // The SslHandler goes last: removing it fails its handshake, which the gate (and the ALPN
      // selector) would take for a failed mTLS handshake and close the connection, its request
      // unread: the client saw a reset.
      case DISABLE -> {
        plaintext(pipeline, app);
        pipeline.remove(SslHandler.class);
      }
    }
  }

  /** Replaces the TLS-only tail of the pipeline with plaintext HTTP/1.1 (a TCP port: raw bytes). */
  private static void plaintext(ChannelPipeline pipeline, Supplier<ChannelHandler> app) {
    pipeline.remove(HandshakeGate.class);
    String selector = pipeline.context(InboundProtocolSelector.class).name();
    Supplier<ChannelHandler> tcp = pipeline.get(InboundProtocolSelector.class).tcp();
    if (tcp != null) {
      pipeline.replace(selector, null, tcp.get());
      return;
    }
    pipeline.addBefore(selector, null, new HttpServerCodec());
    pipeline.addBefore(selector, null, new BodilessRequests());
    pipeline.replace(selector, null, app.get());
  }

  /**
   * PERMISSIVE: the first bytes decide, as Envoy's tls_inspector does: a TLS record puts an mTLS
   * handler in its place, anything else makes the connection plaintext HTTP/1.1. Removes itself
   * either way, handing on the bytes it held.
   */
  private static final class TlsSniffer extends ByteToMessageDecoder {
    private final TlsContexts tls;
    private final Supplier<ChannelHandler> app;
    private final ChannelHandler gate;
    private final ChannelHandler selector;

    TlsSniffer(TlsContexts tls, Supplier<ChannelHandler> app, ChannelHandler gate,
        ChannelHandler selector) {
      this.tls = tls;
      this.app = app;
      this.gate = gate;
      this.selector = selector;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
      // A ClientHello starts with a handshake record (22) and its header is 5 bytes; any other
      // first byte is plaintext at once (as Envoy's tls_inspector), so a client that sends less
      // than 5 bytes first (a TCP protocol's short greeting) is not left waiting.
      if (!in.isReadable()) {
        return;
      }
      boolean handshake = in.getUnsignedByte(in.readerIndex()) == 22;
      if (handshake && in.readableBytes() < 5) {
        return;
      }
      ChannelPipeline pipeline = ctx.pipeline();
      if (handshake && SslHandler.isEncrypted(in, false)) {
        pipeline.addAfter(ctx.name(), null, selector);
        pipeline.addAfter(ctx.name(), null, gate);
        pipeline.replace(this, "tls", tls.inboundServer().newHandler(ctx.alloc()));
      } else if (selector instanceof InboundProtocolSelector s && s.tcp() != null) {
        // A TCP port's plaintext: the bytes as they are, to the app (the held ones first).
        pipeline.addAfter(ctx.name(), null, s.tcp().get());
        pipeline.remove(this);
      } else {
        pipeline.addAfter(ctx.name(), null, app.get());
        pipeline.addAfter(ctx.name(), null, new BodilessRequests());
        pipeline.addAfter(ctx.name(), null, new HttpServerCodec());
        pipeline.remove(this);
      }
    }
  }

  /**
   * Each inbound port's local rate limits (from its first chain, as authorization), buckets kept
   * across snapshots where unchanged. A port whose limits cannot be compiled (the xDS validator
   * NACKs them first) is left unlimited, logged: refusing all its traffic would turn a bad limit
   * into an outage.
   */
  static Map<Integer, RateLimits> compileRateLimits(XdsSnapshot snapshot, RateLimitBuckets buckets) {
    RateLimitBuckets.Generation generation = buckets.next();
    Map<Integer, RateLimits> out = new HashMap<>();
    {
      for (FilterChain chain : DataPlaneConfig.inboundChains(snapshot).stream()
          .map(DataPlaneConfig.InboundChain::chain).toList()) {
        if (!chain.getFilterChainMatch().hasDestinationPort()) {
          continue;
        }
        int port = chain.getFilterChainMatch().getDestinationPort().getValue();
        var hcm = XdsResources.httpConnectionManager(chain);
        if (hcm.isEmpty() || out.containsKey(port)) {
          continue;
        }
        try {
          RateLimits limits = RateLimits.compile(hcm.get(), "inbound|" + port, generation);
          if (!limits.isEmpty()) {
            out.put(port, limits);
          }
        } catch (IllegalArgumentException e) {
          log.error("inbound port {}: unusable rate limits, not limiting: {}", port, e.getMessage());
        }
      }
    }
    generation.commit();
    return Map.copyOf(out);
  }

  static Map<Integer, Port> compile(XdsSnapshot snapshot) {
    Map<Integer, Set<String>> transports = new HashMap<>();
    Map<Integer, Authorization> authorization = new HashMap<>();
    for (FilterChain chain : DataPlaneConfig.inboundChains(snapshot).stream()
        .map(DataPlaneConfig.InboundChain::chain).toList()) {
      if (!chain.getFilterChainMatch().hasDestinationPort()) {
        continue;
      }
      int port = chain.getFilterChainMatch().getDestinationPort().getValue();
      String transport = chain.getFilterChainMatch().getTransportProtocol();
      if (transport.isEmpty()) {
        transport = chain.hasTransportSocket() ? "tls" : "raw_buffer";
      }
      transports.computeIfAbsent(port, p -> new TreeSet<>()).add(transport);
      var hcm = XdsResources.httpConnectionManager(chain);
      if (hcm.isPresent() && !authorization.containsKey(port)) {
        try {
          authorization.put(port, Authorization.of(hcm.get(), "virtualInbound port " + port));
        } catch (IllegalArgumentException e) {
          // The xDS validator NACKs this; should it slip through, fail closed.
          log.error("inbound port {}: unusable authorization, denying every request: {}", port,
              e.getMessage());
          authorization.put(port, Authorization.DENY_ALL);
        }
      }
    }
    Map<Integer, Port> ports = new HashMap<>();
    transports.forEach((port, kinds) -> {
      Mode mode = kinds.contains("tls")
          ? (kinds.contains("raw_buffer") ? Mode.PERMISSIVE : Mode.STRICT)
          : Mode.DISABLE;
      ports.put(port, new Port(mode, authorization.getOrDefault(port, Authorization.NONE)));
    });
    return Map.copyOf(ports);
  }
}
