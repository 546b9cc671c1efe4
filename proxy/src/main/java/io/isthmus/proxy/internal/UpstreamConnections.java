package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.TcpKeepalive;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.isthmus.proxy.xds.XdsResources;
import io.netty.bootstrap.Bootstrap;
import io.netty.handler.codec.haproxy.HAProxyProtocolVersion;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.util.AttributeKey;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * How long and how often a cluster's pooled upstream connections may be used, from its
 * {@code HttpProtocolOptions.common_http_protocol_options} ({@code idle_timeout},
 * {@code max_requests_per_connection}, {@code max_connection_duration}) and
 * {@code upstream_connection_options.tcp_keepalive}, and the HTTP/2 options'
 * {@code max_concurrent_streams} (a cap on streams per HTTP/2 connection below the peer's own):
 * what a DestinationRule's {@code connectionPool} becomes; and the cluster's
 * {@code connect_timeout} (Istio's {@code connectionPool.tcp.connectTimeout}), which bounds the
 * TCP connect and, apart, the TLS handshake that follows, as a connection is not usable before
 * both. Envoy's defaults: one hour idle, no request or age limit, no keepalive, no stream cap,
 * a 5 s connect timeout (the controller always sends Istio's 10 s). Also whether each connection
 * starts with a PROXY protocol header (the transport socket {@code upstream_proxy_protocol}, a
 * DestinationRule's {@code proxyProtocol}). Immutable.
 *
 * <p>The per-connection bookkeeping lives in a channel attribute and is touched only on the
 * channel's event loop.
 */
record UpstreamConnections(Duration idleTimeout, int maxRequestsPerConnection,
    Optional<Duration> maxConnectionDuration, Optional<TcpKeepalive> keepalive,
    int maxConcurrentStreams, Duration connectTimeout, Optional<HAProxyProtocolVersion> proxyProtocol) {

  static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofHours(1);
  /** Envoy's {@code connect_timeout} when a cluster sets none. */
  static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(5);
  static final UpstreamConnections DEFAULT = new UpstreamConnections(DEFAULT_IDLE_TIMEOUT, 0,
      Optional.empty(), Optional.empty(), 0);

  UpstreamConnections(Duration idleTimeout, int maxRequestsPerConnection,
      Optional<Duration> maxConnectionDuration, Optional<TcpKeepalive> keepalive, int maxConcurrentStreams) {
    this(idleTimeout, maxRequestsPerConnection, maxConnectionDuration, keepalive, maxConcurrentStreams,
        DEFAULT_CONNECT_TIMEOUT, Optional.empty());
  }

  UpstreamConnections {
    requireNonNull(proxyProtocol, "proxyProtocol");
    requireNonNull(idleTimeout, "idleTimeout");
    requireNonNull(connectTimeout, "connectTimeout");
    if (connectTimeout.isNegative() || connectTimeout.isZero() || connectTimeout.toMillis() > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("connect_timeout: " + connectTimeout
          + " (expected: > 0 and at most Integer.MAX_VALUE ms, as Envoy requires)");
    }
    requireNonNull(maxConnectionDuration, "maxConnectionDuration");
    requireNonNull(keepalive, "keepalive");
    if (maxConcurrentStreams < 0) {
      throw new IllegalArgumentException("maxConcurrentStreams: " + maxConcurrentStreams
          + " (expected: >= 0, 0 for the peer's limit)");
    }
    if (maxRequestsPerConnection < 0) {
      throw new IllegalArgumentException("maxRequestsPerConnection: " + maxRequestsPerConnection
          + " (expected: >= 0, 0 for no limit)");
    }
  }

  /** Parses a cluster's settings, or throws naming the bad field. */
  static UpstreamConnections of(Cluster cluster) {
    String where = "cluster " + cluster.getName();
    Duration idle = DEFAULT_IDLE_TIMEOUT;
    int maxRequests = 0;
    Optional<Duration> maxDuration = Optional.empty();
    int maxStreams = 0;
    var any = cluster.getTypedExtensionProtocolOptionsMap().get(DataPlaneConfig.HTTP_PROTOCOL_OPTIONS);
    if (any != null && any.is(HttpProtocolOptions.class)) {
      HttpProtocolOptions options;
      try {
        options = any.unpack(HttpProtocolOptions.class);
      } catch (com.google.protobuf.InvalidProtocolBufferException e) {
        throw new IllegalArgumentException(where + ": typed_extension_protocol_options: "
            + e.getMessage() + " (expected: an HttpProtocolOptions)", e);
      }
      var common = options.getCommonHttpProtocolOptions();
      String cw = where + ": common_http_protocol_options";
      if (common.hasIdleTimeout()) {
        idle = duration(common.getIdleTimeout(), cw + ".idle_timeout");
      }
      if (common.hasMaxRequestsPerConnection()) {
        maxRequests = common.getMaxRequestsPerConnection().getValue();
        if (maxRequests < 0) {
          maxRequests = 0;
        }
      }
      if (common.hasMaxConnectionDuration()) {
        Duration d = duration(common.getMaxConnectionDuration(), cw + ".max_connection_duration");
        // Envoy: zero disables the limit.
        maxDuration = d.isZero() ? Optional.empty() : Optional.of(d);
      }
      var h2 = options.hasExplicitHttpConfig() ? options.getExplicitHttpConfig().getHttp2ProtocolOptions()
          : options.getUseDownstreamProtocolConfig().getHttp2ProtocolOptions();
      if (h2.hasMaxConcurrentStreams()) {
        // Unsigned in the proto: anything above int range is no cap in practice.
        maxStreams = (int) Math.min(Integer.MAX_VALUE,
            Integer.toUnsignedLong(h2.getMaxConcurrentStreams().getValue()));
      }
    }
    Optional<TcpKeepalive> keepalive = cluster.getUpstreamConnectionOptions().hasTcpKeepalive()
        ? Optional.of(cluster.getUpstreamConnectionOptions().getTcpKeepalive()) : Optional.empty();
    Duration connect = cluster.hasConnectTimeout()
        ? duration(cluster.getConnectTimeout(), where + ": connect_timeout") : DEFAULT_CONNECT_TIMEOUT;
    if (connect.isZero()) {
      throw new IllegalArgumentException(where + ": connect_timeout: 0s (expected: > 0, as Envoy requires)");
    }
    return new UpstreamConnections(idle, maxRequests, maxDuration, keepalive, maxStreams, connect,
        XdsResources.upstreamProxyProtocol(cluster).map(v -> switch (v) {
          case V1 -> HAProxyProtocolVersion.V1;
          case V2 -> HAProxyProtocolVersion.V2;
          default -> throw new IllegalArgumentException(where
              + ": transport_socket upstream_proxy_protocol config.version " + v
              + " (expected: V1 or V2)");
        }));
  }

  /** {@link #connectTimeout} in milliseconds, for Netty's options and timers. */
  int connectTimeoutMillis() {
    return (int) Math.max(1, connectTimeout.toMillis());
  }

  private static Duration duration(com.google.protobuf.Duration d, String field) {
    if (d.getSeconds() < 0 || d.getNanos() < 0 || d.getNanos() > 999_999_999) {
      throw new IllegalArgumentException(field + ": " + d.getSeconds() + "s " + d.getNanos()
          + "ns (expected: a non-negative duration)");
    }
    return Duration.ofSeconds(d.getSeconds(), d.getNanos());
  }

  /**
   * The socket options for a new connection: the connect timeout, SO_KEEPALIVE and, where the
   * transport allows, its timings.
   */
  void configure(Bootstrap bootstrap, Class<? extends Channel> channelType) {
    bootstrap.option(ChannelOption.CONNECT_TIMEOUT_MILLIS, connectTimeoutMillis());
    if (keepalive.isEmpty()) {
      return;
    }
    TcpKeepalive ka = keepalive.get();
    bootstrap.option(ChannelOption.SO_KEEPALIVE, true);
    Transports.keepalive(bootstrap, channelType,
        ka.hasKeepaliveTime() ? ka.getKeepaliveTime().getValue() : null,
        ka.hasKeepaliveInterval() ? ka.getKeepaliveInterval().getValue() : null,
        ka.hasKeepaliveProbes() ? ka.getKeepaliveProbes().getValue() : null);
  }

  private static final AttributeKey<Usage> USAGE = AttributeKey.valueOf("isthmus.upstream.usage");

  /** One pooled connection's life: when it opened, requests sent, idle since when. */
  private static final class Usage {
    final UpstreamConnections settings;
    final long openedNanos;
    int requests;
    long idleSinceNanos = -1;
    boolean timerArmed;

    Usage(UpstreamConnections settings, long openedNanos) {
      this.settings = settings;
      this.openedNanos = openedNanos;
    }
  }

  /** Records a new connection made under these settings. */
  void opened(Channel channel) {
    channel.attr(USAGE).set(new Usage(this, System.nanoTime()));
  }

  /**
   * Whether a pooled connection may carry one more request now; if so, counts it. A connection
   * past its age or request limit may not (the caller closes it).
   */
  static boolean startRequest(Channel channel) {
    Usage usage = channel.attr(USAGE).get();
    if (usage == null) {
      return true;
    }
    if (usage.settings.spent(usage, System.nanoTime())) {
      return false;
    }
    usage.requests++;
    usage.idleSinceNanos = -1;
    return true;
  }

  /**
   * Whether a connection whose exchange just finished may go back to the pool; if so, starts its
   * idle clock (the idle timer closes it when nothing reuses it in time).
   */
  static boolean mayReturnToPool(Channel channel) {
    Usage usage = channel.attr(USAGE).get();
    if (usage == null) {
      return true;
    }
    long now = System.nanoTime();
    if (usage.settings.spent(usage, now)) {
      return false;
    }
    usage.idleSinceNanos = now;
    long next = usage.settings.nextCheckNanos(usage, now);
    if (!usage.timerArmed && next != Long.MAX_VALUE) {
      usage.timerArmed = true;
      channel.eventLoop().schedule(() -> onTimer(channel, usage), next, TimeUnit.NANOSECONDS);
    }
    return true;
  }

  private boolean spent(Usage usage, long now) {
    if (maxRequestsPerConnection > 0 && usage.requests >= maxRequestsPerConnection) {
      return true;
    }
    return maxConnectionDuration.isPresent()
        && now - usage.openedNanos >= maxConnectionDuration.get().toNanos();
  }

  /** Nanoseconds until the idle connection's earliest deadline: its idle timeout or its age limit. */
  private long nextCheckNanos(Usage usage, long now) {
    long idleLeft = idleTimeout.isZero() ? Long.MAX_VALUE
        : usage.idleSinceNanos + idleTimeout.toNanos() - now;
    // Not Optional.map: that boxed a Long each time a connection went back to the pool.
    long ageLeft = maxConnectionDuration.isPresent()
        ? usage.openedNanos + maxConnectionDuration.get().toNanos() - now : Long.MAX_VALUE;
    return Math.max(0, Math.min(idleLeft, ageLeft));
  }

  private static void onTimer(Channel channel, Usage usage) {
    usage.timerArmed = false;
    if (!channel.isActive() || usage.idleSinceNanos < 0) {
      // In use: the next return to the pool re-arms the timer.
      return;
    }
    long now = System.nanoTime();
    long left = usage.settings.nextCheckNanos(usage, now);
    if (left <= 0) {
      // The pool drops it when it goes inactive.
      channel.close();
      return;
    }
    if (left != Long.MAX_VALUE) {
      usage.timerArmed = true;
      channel.eventLoop().schedule(() -> onTimer(channel, usage), left, TimeUnit.NANOSECONDS);
    }
  }
}
