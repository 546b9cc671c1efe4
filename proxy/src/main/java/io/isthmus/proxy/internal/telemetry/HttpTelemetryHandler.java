package io.isthmus.proxy.internal.telemetry;

import static io.opentelemetry.api.common.AttributeKey.longKey;
import static io.opentelemetry.api.common.AttributeKey.stringKey;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.AsciiString;
import io.netty.util.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.SpanKind;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Telemetry of one downstream HTTP/1.1 connection, between the HTTP codec and the routing
 * handler: it sees each request and its response as HTTP objects and, when the response's
 * last part is written, reports the request once to Istio's metrics, the access log and the
 * tracer. It also runs Istio's metadata exchange ({@link PeerMetadata}): outbound it sends this
 * workload's metadata with the request and takes the server's from the response; inbound the
 * reverse; both strip the header so apps never see it.
 *
 * <p>The routing handler adds what only it knows (upstream cluster and host, response flags)
 * with {@link #annotate}. A request whose client leaves before the response is reported with
 * flag {@code DC}. Event-loop confined; requests on a connection are sequential (the routing
 * handler stops reading until each response is written).
 */
public final class HttpTelemetryHandler extends ChannelDuplexHandler {

  private static final AttributeKey<HttpTelemetryHandler> KEY =
      AttributeKey.valueOf(HttpTelemetryHandler.class, "telemetry");
  private static final AttributeKey<PeerConnection> PEER =
      AttributeKey.valueOf(HttpTelemetryHandler.class, "peer");

  // Header names as AsciiStrings: their case-insensitive hash is computed once, not per lookup.
  private static final AsciiString PEER_HEADER = AsciiString.cached(PeerMetadata.HEADER);
  private static final AsciiString PEER_ID_HEADER = AsciiString.cached(PeerMetadata.ID_HEADER);
  private static final AsciiString ORIGINAL_PATH = AsciiString.cached("x-envoy-original-path");
  private static final AsciiString FORWARDED_FOR = AsciiString.cached("x-forwarded-for");
  private static final AsciiString REQUEST_ID = AsciiString.cached("x-request-id");
  private static final AsciiString GRPC_STATUS = AsciiString.cached("grpc-status");

  private final Telemetry telemetry;
  private final IstioLabels.Reporter reporter;
  private final String inboundCluster;
  private Exchange current;
  // Response written, routing's word on it not yet heard: the relay reports a relayed response
  // right after writing its last part, in the same event-loop task.
  private Exchange awaitingUpstream;
  private ChannelHandlerContext ctx;

  HttpTelemetryHandler(Telemetry telemetry, IstioLabels.Reporter reporter, String inboundCluster) {
    this.telemetry = telemetry;
    this.reporter = reporter;
    this.inboundCluster = inboundCluster;
  }

  /**
   * Tells the telemetry of {@code channel}'s current request what routing decided; false when
   * the channel has no telemetry handler (then the caller counts the request itself).
   */
  public static boolean annotate(Channel channel, UpstreamInfo upstream) {
    HttpTelemetryHandler handler = channel == null ? null : channel.attr(KEY).get();
    if (handler == null) {
      return false;
    }
    if (handler.current != null) {
      handler.current.upstream = upstream;
    } else if (handler.awaitingUpstream != null) {
      Exchange ex = handler.awaitingUpstream;
      handler.awaitingUpstream = null;
      ex.upstream = upstream;
      handler.finish(handler.ctx, ex, ex.status, "-");
    }
    return true;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
    ctx.channel().attr(KEY).set(this);
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof HttpRequest request) {
      flushAwaiting();
      if (current != null) {
        // The previous request got no response (e.g. the handler failed); report it now.
        finish(ctx, current, 0, "DC");
      }
      current = begin(ctx, request);
    }
    if (msg instanceof HttpContent content && current != null) {
      current.requestBytes += content.content().readableBytes();
    } else if (current != null && current.upgraded && msg instanceof ByteBuf buf) {
      current.requestBytes += buf.readableBytes();
    }
    ctx.fireChannelRead(msg);
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    Exchange ex = current;
    if (ex != null) {
      if (msg instanceof HttpResponse response) {
        if (response.status().code() < 200) {
          if (response.status().code() == 101) {
            // An upgrade: the request lasts as long as the tunnel, and counts its bytes, as
            // Istio reports a WebSocket (once, when the connection closes, 101).
            ex.upgraded = true;
            onResponseHead(ex, response);
          }
          // 100 Continue and friends: not the response of record.
          ctx.write(msg, promise);
          return;
        }
        onResponseHead(ex, response);
      }
      if (msg instanceof HttpContent content && ex.status > 0) {
        ex.responseBytes += content.content().readableBytes();
        if (msg instanceof LastHttpContent last && !ex.upgraded) {
          String grpc = last.trailingHeaders().get(GRPC_STATUS);
          if (grpc != null) {
            ex.grpcStatus = grpc;
          }
          current = null;
          if (ex.upstream != null) {
            finish(ctx, ex, ex.status, "-");
          } else {
            // Routing may still tell us the upstream; if not by the next task, report without.
            flushAwaiting();
            awaitingUpstream = ex;
            ctx.executor().execute(this::flushAwaiting);
          }
        }
      } else if (ex.upgraded && msg instanceof ByteBuf buf) {
        ex.responseBytes += buf.readableBytes();
      }
    }
    ctx.write(msg, promise);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    flushAwaiting();
    Exchange ex = current;
    current = null;
    if (ex != null) {
      // A tunnel ends by closing: that is its normal end, not a client gone mid-request.
      finish(ctx, ex, ex.status, ex.upgraded ? "-" : "DC");
    }
    super.channelInactive(ctx);
  }

  private void flushAwaiting() {
    Exchange ex = awaitingUpstream;
    awaitingUpstream = null;
    if (ex != null) {
      finish(ctx, ex, ex.status, "-");
    }
  }

  private Exchange begin(ChannelHandlerContext ctx, HttpRequest request) {
    Exchange ex = new Exchange();
    HttpHeaders headers = request.headers();
    ex.startNanos = System.nanoTime();
    Instant now = Instant.now();
    ex.start = now;
    ex.method = request.method().name();
    ex.path = headers.get(ORIGINAL_PATH, request.uri());
    ex.protocol = ctx.channel() instanceof Http2StreamChannel ? "HTTP/2"
        : request.protocolVersion().text();
    ex.authority = headers.get(HttpHeaderNames.HOST);
    ex.userAgent = headers.get(HttpHeaderNames.USER_AGENT);
    ex.forwardedFor = headers.get(FORWARDED_FOR);
    String contentType = headers.get(HttpHeaderNames.CONTENT_TYPE);
    ex.grpc = contentType != null && contentType.startsWith("application/grpc");
    CharSequence requestId = headers.get(REQUEST_ID);
    if (requestId == null) {
      AsciiString id = RequestIds.nextValue();
      headers.set(REQUEST_ID, id);
      requestId = id;
    }
    ex.requestId = requestId;
    String peer = headers.get(PEER_HEADER);
    if (peer != null) {
      headers.remove(PEER_HEADER);
    }
    headers.remove(PEER_ID_HEADER);
    if (reporter == IstioLabels.Reporter.SOURCE) {
      // Whatever the app sent is not ours to vouch for: replace it with this workload's.
      headers.set(PEER_HEADER, telemetry.selfHeaderValue());
      headers.set(PEER_ID_HEADER, telemetry.selfIdValue());
    } else {
      ex.peer = telemetry.peerMetadata(peer);
      PeerConnection connection = peerConnection(ctx.channel());
      ex.mutualTls = connection.mutualTls;
      ex.peerPrincipal = connection.principal;
    }
    ex.requestBytes = headerBytes(headers) + request.uri().length() + ex.method.length() + 12;
    ex.span = telemetry.tracing().start(
        reporter == IstioLabels.Reporter.SOURCE ? SpanKind.CLIENT : SpanKind.SERVER,
        () -> (ex.authority == null ? "unknown" : ex.authority) + "/*",
        headers, TimeUnit.SECONDS.toNanos(now.getEpochSecond()) + now.getNano(),
        () -> startAttributes(ctx, ex));
    return ex;
  }

  /**
   * Who is at the other end of the connection {@code channel} belongs to: its verified
   * principal does not change during a connection, so its certificate is read once.
   */
  private PeerConnection peerConnection(Channel channel) {
    // On HTTP/2 the handshake belongs to the connection, the parent of the stream's channel.
    Channel connection = channel instanceof Http2StreamChannel stream ? stream.parent() : channel;
    PeerConnection known = connection.attr(PEER).get();
    if (known != null) {
      return known;
    }
    SslHandler ssl = connection.pipeline().get(SslHandler.class);
    PeerConnection resolved = ssl == null ? PeerConnection.PLAINTEXT
        : new PeerConnection(true,
            telemetry.peerPrincipal(ssl.engine().getSession()).orElse("unknown"));
    if (ssl == null || ssl.handshakeFuture().isSuccess()) {
      connection.attr(PEER).set(resolved);
    }
    return resolved;
  }

  private void onResponseHead(Exchange ex, HttpResponse response) {
    ex.status = response.status().code();
    HttpHeaders headers = response.headers();
    String grpc = headers.get(GRPC_STATUS);
    if (grpc != null) {
      ex.grpcStatus = grpc;
    }
    String peer = headers.get(PEER_HEADER);
    if (peer != null) {
      headers.remove(PEER_HEADER);
    }
    headers.remove(PEER_ID_HEADER);
    if (reporter == IstioLabels.Reporter.SOURCE) {
      ex.peer = telemetry.peerMetadata(peer);
    } else {
      headers.set(PEER_HEADER, telemetry.selfHeaderValue());
      headers.set(PEER_ID_HEADER, telemetry.selfIdValue());
    }
    ex.responseBytes = headerBytes(headers) + 17;
  }

  private void finish(ChannelHandlerContext ctx, Exchange ex, int status, String extraFlag) {
    long endNanos = System.nanoTime();
    double millis = (endNanos - ex.startNanos) / 1e6;
    UpstreamInfo up = ex.upstream;
    String upstreamFlags = up == null || up.responseFlags() == null ? "-" : up.responseFlags();
    String flags = extraFlag.equals("-") ? upstreamFlags
        : upstreamFlags.equals("-") ? extraFlag : upstreamFlags + "," + extraFlag;
    String service = up != null && up.service() != null ? up.service() : ex.authority;
    if (up != null && up.grpcStatus() != null && !up.grpcStatus().isEmpty()) {
      ex.grpcStatus = up.grpcStatus();
    }
    String grpcStatus = ex.grpc ? ex.grpcStatus : "";
    String ownPrincipal = telemetry.ownPrincipal();
    IstioMetrics.RequestSeries series;
    if (reporter == IstioLabels.Reporter.SOURCE) {
      String endpointCluster = up == null ? null : up.destinationCluster();
      PeerMetadata peer = ex.peer;
      series = telemetry.requestSeries(new SeriesKey(reporter, ownPrincipal, peer, null,
          endpointCluster, service, ex.grpc, status, grpcStatus, flags, false), () -> {
            PeerMetadata dest = peer;
            if (dest == null) {
              dest = new PeerMetadata(null, null, endpointCluster, null, null, null);
            } else if (dest.cluster().equals("unknown") && endpointCluster != null) {
              dest = new PeerMetadata(dest.pod(), dest.namespace(), endpointCluster,
                  dest.workload(), dest.app(), dest.version());
            }
            return IstioLabels.of(reporter, telemetry.self(), ownPrincipal, dest, "unknown",
                service, ex.grpc ? "grpc" : "http", status, grpcStatus, flags, "unknown");
          });
    } else {
      PeerMetadata source = ex.peer == null ? PeerMetadata.UNKNOWN : ex.peer;
      series = telemetry.requestSeries(new SeriesKey(reporter, ownPrincipal, source,
          ex.peerPrincipal, null, service, ex.grpc, status, grpcStatus, flags, ex.mutualTls),
          () -> IstioLabels.of(reporter, source, ex.peerPrincipal, telemetry.self(),
              ownPrincipal, service, ex.grpc ? "grpc" : "http", status, grpcStatus, flags,
              ex.mutualTls ? "mutual_tls" : "none"));
    }
    IstioMetrics.record(series, millis, ex.requestBytes, ex.responseBytes);
    String upstreamCluster = up != null && up.upstreamCluster() != null ? up.upstreamCluster()
        : inboundCluster;
    String upstreamHost = up == null ? null : up.upstreamHost();
    if (ex.span.recording()) {
      Instant end = Instant.now();
      ex.span.end(status, Attributes.builder()
          .put(stringKey("upstream_cluster"), upstreamCluster == null ? "-" : upstreamCluster)
          .put(stringKey("upstream_cluster.name"),
              upstreamCluster == null ? "-" : upstreamCluster)
          .put(stringKey("response_flags"), flags)
          .put(longKey("request_size"), ex.requestBytes)
          .put(longKey("response_size"), ex.responseBytes)
          .build(), TimeUnit.SECONDS.toNanos(end.getEpochSecond()) + end.getNano());
    } else {
      ex.span.end(status, Attributes.empty(), 0);
    }
    AccessLog log = telemetry.accessLog();
    if (log.enabled()) {
      String transportFailure = up == null ? null : up.transportFailureReason();
      log.log(new AccessLogEntry(ex.start, ex.method, ex.path, ex.protocol, status, flags,
          // Envoy's details for a reply after a failed connect: the kind, then the transport's reason.
          "UPE".equals(flags) ? "upstream_reset_before_response_started{protocol_error}"
              : transportFailure == null ? null
              : "upstream_reset_before_response_started{connection_failure,"
                  + transportFailure.replace(' ', '_') + "}",
          ex.requestBytes, ex.responseBytes, Math.round(millis), ex.forwardedFor, ex.userAgent,
          ex.requestId.toString(), ex.authority, upstreamHost, upstreamCluster, null,
          address(io.isthmus.proxy.internal.capture.OriginalDestination.localAddress(ctx.channel())),
          address(ctx.channel().remoteAddress()), null,
          null, ex.span.traceId(), transportFailure));
    }
  }

  private Attributes startAttributes(ChannelHandlerContext ctx, Exchange ex) {
    PeerMetadata self = telemetry.self();
    return Attributes.builder()
        .put(stringKey("component"), "proxy")
        .put(stringKey("node_id"), self.id(telemetry.podIp()))
        .put(stringKey("guid:x-request-id"), ex.requestId.toString())
        .put(stringKey("http.method"), ex.method)
        .put(stringKey("http.url"), (reporter == IstioLabels.Reporter.SOURCE ? "http://"
            : "https://") + (ex.authority == null ? "" : ex.authority) + ex.path)
        .put(stringKey("http.protocol"), ex.protocol)
        .put(stringKey("user_agent"), ex.userAgent == null ? "-" : ex.userAgent)
        .put(stringKey("peer.address"), String.valueOf(address(ctx.channel().remoteAddress())))
        .put(stringKey("istio.namespace"), self.namespace())
        .put(stringKey("istio.canonical_service"), self.app())
        .put(stringKey("istio.canonical_revision"), self.version())
        .put(stringKey("istio.cluster_id"), self.cluster())
        .put(stringKey("istio.mesh_id"), "cluster.local")
        .build();
  }

  private static long headerBytes(HttpHeaders headers) {
    long n = 0;
    // The CharSequence view: the String one converts every name and value.
    var it = headers.iteratorCharSequence();
    while (it.hasNext()) {
      Map.Entry<CharSequence, CharSequence> h = it.next();
      n += h.getKey().length() + h.getValue().length() + 4;
    }
    return n;
  }

  private static String address(SocketAddress address) {
    return address instanceof InetSocketAddress inet && inet.getAddress() != null
        ? inet.getAddress().getHostAddress() + ":" + inet.getPort() : null;
  }

  /**
   * What a request's metric labels are made of, beyond this sidecar's constants: equal keys
   * give equal labels, so the series is resolved once per key.
   */
  private record SeriesKey(IstioLabels.Reporter reporter, String ownPrincipal, PeerMetadata peer,
      String peerPrincipal, String endpointCluster, String service, boolean grpc, int status,
      String grpcStatus, String flags, boolean mutualTls) {}

  /** The downstream connection's peer, as its TLS handshake proved it. */
  private record PeerConnection(boolean mutualTls, String principal) {
    static final PeerConnection PLAINTEXT = new PeerConnection(false, "unknown");
  }

  /** One request's telemetry state. */
  private static final class Exchange {
    long startNanos;
    Instant start;
    String method;
    String path;
    String protocol;
    String authority;
    String userAgent;
    String forwardedFor;
    /** A String as the client sent it, or the AsciiString this hop made (built on demand). */
    CharSequence requestId;
    boolean grpc;
    String grpcStatus = "";
    boolean mutualTls;
    String peerPrincipal = "unknown";
    PeerMetadata peer;
    long requestBytes;
    long responseBytes;
    int status;
    /** Switched protocols: reported when the connection closes, with the tunnel's bytes. */
    boolean upgraded;
    UpstreamInfo upstream;
    Tracing.HopSpan span;
  }
}
