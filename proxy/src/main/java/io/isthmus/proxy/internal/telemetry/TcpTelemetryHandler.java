package io.isthmus.proxy.internal.telemetry;

import static java.util.Objects.requireNonNull;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufHolder;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.ssl.SslHandler;

/**
 * Istio's TCP metrics of one downstream connection that is relayed raw (Envoy's
 * {@code tcp_proxy}): {@code istio_tcp_connections_opened_total} when the connection is handed
 * to the relay, {@code istio_tcp_received_bytes_total} for each chunk read from the downstream
 * peer, {@code istio_tcp_sent_bytes_total} for each chunk written to it, and
 * {@code istio_tcp_connections_closed_total} when it closes. Sits in front of the relay, after
 * TLS, so it counts the payload the way Envoy's tcp_proxy does.
 *
 * <p>The labels are resolved once, when the handler is added (for an inbound connection the
 * TLS handshake is over by then, so the peer's principal is known), and the series' counters are
 * held for the connection's life: the per-chunk path only adds to a counter. There is no
 * metadata exchange on raw TCP, so the reporter's peer is known only by what the connection
 * itself proves: the destination reporter knows the client's principal (from its certificate)
 * and whether mTLS was used, the source reporter the service and the cluster of the endpoint
 * it picked. Event-loop confined; it never touches a buffer's reference count.
 */
public final class TcpTelemetryHandler extends ChannelDuplexHandler {

  private final Telemetry telemetry;
  private final IstioLabels.Reporter reporter;
  private final String service;
  private final String endpointCluster;
  private IstioMetrics.TcpSeries series;
  private boolean closed;

  private TcpTelemetryHandler(Telemetry telemetry, IstioLabels.Reporter reporter, String service,
      String endpointCluster) {
    this.telemetry = requireNonNull(telemetry, "telemetry");
    this.reporter = reporter;
    this.service = service;
    this.endpointCluster = endpointCluster;
  }

  /**
   * The client side: a connection to an outbound TCP listener.
   *
   * @param service         the service host the listener stands for ({@code unknown} if null)
   * @param endpointCluster the cluster of the endpoint the relay connects to
   */
  public static TcpTelemetryHandler outbound(Telemetry telemetry, String service,
      String endpointCluster) {
    return new TcpTelemetryHandler(telemetry, IstioLabels.Reporter.SOURCE, service,
        endpointCluster);
  }

  /** The server side: a connection on an inbound TCP port, relayed to the app. */
  public static TcpTelemetryHandler inbound(Telemetry telemetry) {
    return new TcpTelemetryHandler(telemetry, IstioLabels.Reporter.DESTINATION, null, null);
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    if (ctx.channel().isActive()) {
      open(ctx);
    }
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    open(ctx);
    ctx.fireChannelActive();
  }

  private void open(ChannelHandlerContext ctx) {
    if (series != null) {
      return;
    }
    series = telemetry.metrics().tcpSeriesOf(labels(ctx));
    series.opened().increment();
  }

  private IstioLabels labels(ChannelHandlerContext ctx) {
    PeerMetadata self = telemetry.self();
    if (reporter == IstioLabels.Reporter.SOURCE) {
      PeerMetadata destination = new PeerMetadata(null, null, endpointCluster, null, null, null);
      return IstioLabels.of(reporter, self, telemetry.ownPrincipal(), destination, "unknown",
          service, "tcp", 0, "", "-", "unknown");
    }
    SslHandler ssl = ctx.pipeline().get(SslHandler.class);
    String peerPrincipal = ssl == null ? "unknown"
        : telemetry.peerPrincipal(ssl.engine().getSession()).orElse("unknown");
    return IstioLabels.of(reporter, PeerMetadata.UNKNOWN, peerPrincipal, self,
        telemetry.ownPrincipal(), service, "tcp", 0, "", "-",
        ssl != null ? "mutual_tls" : "none");
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (series != null) {
      long n = bytes(msg);
      if (n > 0) {
        series.received().increment(n);
      }
    }
    ctx.fireChannelRead(msg);
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    if (series != null) {
      long n = bytes(msg);
      if (n > 0) {
        series.sent().increment(n);
      }
    }
    ctx.write(msg, promise);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    if (series != null && !closed) {
      closed = true;
      series.closed().increment();
    }
    super.channelInactive(ctx);
  }

  private static long bytes(Object msg) {
    if (msg instanceof ByteBuf buf) {
      return buf.readableBytes();
    }
    if (msg instanceof ByteBufHolder holder) {
      return holder.content().readableBytes();
    }
    return 0;
  }
}
