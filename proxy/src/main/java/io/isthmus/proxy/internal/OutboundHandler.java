package io.isthmus.proxy.internal;

import io.isthmus.proxy.internal.DataPlaneConfig.UpstreamCluster;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.util.Optional;
import java.util.UUID;
import java.util.function.Supplier;

/**
 * The outbound HTTP entry (15001): Host header → route → cluster → endpoint, then mTLS to
 * it with the cluster's SNI. 404 when nothing routes the request, 503 when the cluster
 * has no healthy endpoint or none can be reached.
 */
final class OutboundHandler extends SimpleChannelInboundHandler<FullHttpRequest> {

  private final Supplier<DataPlaneConfig> config;
  private final TlsContexts tls;
  private final HttpRelay relay;
  private final ProxyMetrics metrics;
  private final WorkloadInfo self;

  OutboundHandler(Supplier<DataPlaneConfig> config, TlsContexts tls, HttpRelay relay,
      ProxyMetrics metrics, WorkloadInfo self) {
    super(false);
    this.config = config;
    this.tls = tls;
    this.relay = relay;
    this.metrics = metrics;
    this.self = self;
  }

  @Override
  protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
    boolean keepAlive = HttpUtil.isKeepAlive(request);
    String host = request.headers().get(HttpHeaderNames.HOST);
    if (host == null) {
      request.release();
      ctx.channel().config().setAutoRead(false);
      HttpRelay.respondError(ctx, HttpResponseStatus.BAD_REQUEST, "missing Host header",
          keepAlive);
      return;
    }
    DataPlaneConfig current = config.get();
    String path = new QueryStringDecoder(request.uri()).path();
    Optional<String> clusterName = current.routes().clusterFor(host, path);
    UpstreamCluster cluster = clusterName.map(current.clusters()::get).orElse(null);
    if (cluster == null) {
      request.release();
      ctx.channel().config().setAutoRead(false);
      metrics.request("source", self.workload(), self.cluster(), host, "unknown", 404, "unknown");
      HttpRelay.respondError(ctx, HttpResponseStatus.NOT_FOUND,
          clusterName.isEmpty() ? "no route for " + host + path
              : "no cluster " + clusterName.get(), keepAlive);
      return;
    }
    if (!request.headers().contains("x-request-id")) {
      request.headers().set("x-request-id", UUID.randomUUID().toString());
    }
    String service = serviceOf(cluster.name(), host);
    relay.forward(ctx, request,
        failed -> cluster.picker().pick(failed).map(endpoint -> new UpstreamTarget(
            endpoint.host(), endpoint.port(),
            cluster.tls().isPresent() ? tls.upstreamClient() : null,
            cluster.tls().map(DataPlaneConfig.UpstreamTls::sni).filter(s -> !s.isEmpty())
                .orElse(null),
            endpoint)),
        (status, endpoint) -> metrics.request("source", self.workload(), self.cluster(), service,
            endpoint == null || endpoint.cluster().isEmpty() ? "unknown" : endpoint.cluster(),
            status, "unknown"));
  }

  /** {@code outbound|5000||helloworld.sample.svc.cluster.local} → the host part. */
  static String serviceOf(String clusterName, String fallback) {
    int bars = clusterName.lastIndexOf('|');
    return bars >= 0 && bars < clusterName.length() - 1 ? clusterName.substring(bars + 1) : fallback;
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ctx.close();
  }
}
