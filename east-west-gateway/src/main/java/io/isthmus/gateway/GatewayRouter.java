package io.isthmus.gateway;

import io.isthmus.proxy.internal.EndpointPicker;
import io.isthmus.proxy.internal.ProxyMetrics;
import io.isthmus.proxy.internal.Transports;
import io.isthmus.proxy.internal.UpstreamEndpoint;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * After the SNI is known: maps it to the cluster of the same name, picks an endpoint,
 * connects to it from the gateway's address, replays the buffered ClientHello and turns
 * both channels into a byte relay. The TLS session stays end to end between the two
 * sidecars; the gateway never sees a key.
 */
final class GatewayRouter extends ChannelInboundHandlerAdapter {

  private static final Logger log = LoggerFactory.getLogger(GatewayRouter.class);
  private static final int CONNECT_TIMEOUT_MS = 5_000;

  private final Supplier<Map<String, EndpointPicker>> clusters;
  private final String bindAddress;
  private final ProxyMetrics metrics;
  private final String localCluster;
  private final RejectionLog rejections;
  private final ArrayDeque<Object> pending = new ArrayDeque<>();
  private String lastConnectFailure = "";
  private boolean routing;

  GatewayRouter(Supplier<Map<String, EndpointPicker>> clusters, String bindAddress,
      ProxyMetrics metrics, String localCluster, RejectionLog rejections) {
    this.clusters = clusters;
    this.bindAddress = bindAddress;
    this.metrics = metrics;
    this.localCluster = localCluster;
    this.rejections = rejections;
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
    if (!(evt instanceof SniSniffer.Sniffed sniffed)) {
      super.userEventTriggered(ctx, evt);
      return;
    }
    routing = true;
    ctx.channel().config().setAutoRead(false);
    Map<String, EndpointPicker> known = clusters.get();
    EndpointPicker picker = known.get(sniffed.serverName());
    if (picker == null) {
      reject(ctx, "unknown_sni", sniffed.serverName(), known.isEmpty()
          ? "the gateway has no clusters from xDS yet"
          : "no such cluster from xDS; the gateway has " + new java.util.TreeSet<>(known.keySet()));
      return;
    }
    connect(ctx, sniffed.serverName(), picker, new HashSet<>(), 2);
  }

  private void connect(ChannelHandlerContext ctx, String sni, EndpointPicker picker,
      Set<UpstreamEndpoint> failed, int attemptsLeft) {
    Optional<UpstreamEndpoint> picked = picker.pick(failed);
    if (picked.isEmpty()) {
      if (failed.isEmpty()) {
        reject(ctx, "no_endpoint", sni, "the cluster has no healthy endpoint in its EDS");
      } else {
        reject(ctx, "connect_failed", sni, lastConnectFailure);
      }
      return;
    }
    UpstreamEndpoint endpoint = picked.get();
    Channel downstream = ctx.channel();
    TcpMetrics tcp = TcpMetrics.of(metrics, serviceOf(sni),
        endpoint.cluster().isEmpty() ? localCluster : endpoint.cluster());
    new Bootstrap()
        .group(downstream.eventLoop())
        .channel(Transports.socketChannel(downstream.eventLoop()))
        .option(ChannelOption.AUTO_READ, false)
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, CONNECT_TIMEOUT_MS)
        .option(ChannelOption.TCP_NODELAY, true)
        .option(ChannelOption.SO_KEEPALIVE, true)
        .handler(new TcpRelay(downstream, tcp.sent()::increment))
        .connect(new InetSocketAddress(endpoint.host(), endpoint.port()),
            new InetSocketAddress(bindAddress, 0))
        .addListener((ChannelFutureListener) f -> {
          if (!downstream.isActive()) {
            f.channel().close();
            releasePending();
            return;
          }
          if (!f.isSuccess()) {
            log.debug("gateway connect to {} for {} failed: {}", endpoint.address(), sni,
                f.cause().toString());
            failed.add(endpoint);
            lastConnectFailure = (lastConnectFailure.isEmpty() ? "" : lastConnectFailure + "; ")
                + "connect to " + endpoint.address() + ": " + f.cause();
            if (attemptsLeft > 1) {
              connect(ctx, sni, picker, failed, attemptsLeft - 1);
            } else {
              reject(ctx, "connect_failed", sni, lastConnectFailure + " (of "
                  + picker.endpoints().size() + " endpoints)");
            }
            return;
          }
          Channel upstream = f.channel();
          tcp.opened().increment();
          upstream.closeFuture().addListener(c -> tcp.closed().increment());
          // The upstream lives and dies with its downstream, so a drain deadline reaches both.
          downstream.closeFuture().addListener(c -> upstream.close());
          while (!pending.isEmpty()) {
            Object msg = pending.poll();
            if (msg instanceof io.netty.buffer.ByteBuf buf) {
              tcp.received().increment(buf.readableBytes());
            }
            upstream.write(msg);
          }
          upstream.flush();
          ctx.pipeline().replace(this, "relay", new TcpRelay(upstream, tcp.received()::increment));
        });
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!routing) {
      ReferenceCountUtil.release(msg);
      ctx.close();
      return;
    }
    pending.add(msg);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    releasePending();
    ctx.fireChannelInactive();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    releasePending();
    ctx.close();
  }

  private void reject(ChannelHandlerContext ctx, String reason, String sni, String detail) {
    rejections.rejected(reason, sni, ctx.channel().remoteAddress(), detail);
    metrics.counter("isthmus_gateway_rejected_connections", "reason", reason);
    releasePending();
    ctx.close();
  }

  private void releasePending() {
    while (!pending.isEmpty()) {
      ReferenceCountUtil.release(pending.poll());
    }
  }

  /** {@code outbound_.5000_._.helloworld.sample.svc.cluster.local} → the host. */
  static String serviceOf(String sni) {
    String[] parts = sni.split("_\\.", 4);
    return parts.length == 4 ? parts[3] : sni;
  }
}
