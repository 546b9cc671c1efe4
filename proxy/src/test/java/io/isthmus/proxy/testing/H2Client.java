package io.isthmus.proxy.testing;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A minimal h2c (prior knowledge) client for tests: one connection, a request per stream,
 * the whole response (headers, body, trailers) as a value.
 */
public final class H2Client implements AutoCloseable {

  /** A response; header names are lower case, trailers empty when there were none. */
  public record Response(int status, Map<String, String> headers, byte[] body,
      Map<String, String> trailers) {}

  private final EventLoopGroup group =
      new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
  private final Channel connection;

  public H2Client(InetSocketAddress address) throws InterruptedException {
    connection = new Bootstrap().group(group).channel(NioSocketChannel.class)
        .handler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addLast(Http2FrameCodecBuilder.forClient().build(),
                new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
          }
        })
        .connect(address).sync().channel();
  }

  public boolean isOpen() {
    return connection.isActive();
  }

  public Response send(HttpMethod method, String authority, String path,
      Map<String, String> headers, byte[] body, Duration timeout) throws Exception {
    CompletableFuture<Response> result = new CompletableFuture<>();
    Http2StreamChannel stream = new Http2StreamChannelBootstrap(connection)
        .handler(new ChannelInitializer<Http2StreamChannel>() {
          @Override
          protected void initChannel(Http2StreamChannel ch) {
            ch.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(false),
                new HttpObjectAggregator(16 << 20),
                new SimpleChannelInboundHandler<FullHttpResponse>() {
                  @Override
                  protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse r) {
                    Map<String, String> h = new TreeMap<>();
                    r.headers().forEach(e -> h.put(e.getKey().toLowerCase(), e.getValue()));
                    Map<String, String> t = new TreeMap<>();
                    r.trailingHeaders().forEach(e -> t.put(e.getKey().toLowerCase(),
                        e.getValue()));
                    result.complete(new Response(r.status().code(), h,
                        ByteBufUtil.getBytes(r.content()), t));
                  }

                  @Override
                  public void channelInactive(ChannelHandlerContext ctx) {
                    result.completeExceptionally(new IllegalStateException("stream closed"));
                  }

                  @Override
                  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                    result.completeExceptionally(cause);
                  }
                });
          }
        }).open().sync().getNow();
    DefaultFullHttpRequest request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, method,
        path, Unpooled.wrappedBuffer(body));
    request.headers().set(HttpHeaderNames.HOST, authority);
    headers.forEach((k, v) -> request.headers().set(k, v));
    HttpUtil.setContentLength(request, body.length);
    stream.writeAndFlush(request);
    try {
      return result.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } finally {
      stream.close();
    }
  }

  @Override
  public void close() {
    connection.close().syncUninterruptibly();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }
}
