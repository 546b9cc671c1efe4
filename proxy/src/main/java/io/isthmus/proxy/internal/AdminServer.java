package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerKeepAliveHandler;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A tiny HTTP/1.1 server for admin and health endpoints: exact path → page. Pages are
 * computed on a separate executor (they may serialize a whole config), never on the event
 * loop. Public for the east-west gateway module only; not an API.
 */
public final class AdminServer implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(AdminServer.class);

  /** One admin response. */
  public record Page(int status, String contentType, String body) {
    public Page {
      requireNonNull(contentType, "contentType");
      requireNonNull(body, "body");
    }

    public static Page text(int status, String body) {
      return new Page(status, "text/plain; charset=utf-8", body);
    }

    public static Page json(String body) {
      return new Page(200, "application/json", body);
    }
  }

  private final Channel channel;

  private AdminServer(Channel channel) {
    this.channel = channel;
  }

  /** Binds {@code host:port} (port 0 picks one) and serves {@code pages}. Blocks until bound. */
  public static AdminServer start(EventLoopGroup group, String host, int port,
      Map<String, Supplier<Page>> pages, Executor pageExecutor) throws InterruptedException {
    Map<String, Supplier<Page>> routes = Map.copyOf(pages);
    ServerBootstrap bootstrap = new ServerBootstrap()
        .group(group)
        .channel(Transports.serverChannel(group))
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addLast(new HttpServerCodec(), new HttpServerKeepAliveHandler(),
                new HttpObjectAggregator(64 * 1024), new PageHandler(routes, pageExecutor));
          }
        });
    Channel channel = bootstrap.bind(host, port).sync().channel();
    log.info("admin listening on {}", channel.localAddress());
    return new AdminServer(channel);
  }

  public InetSocketAddress address() {
    return (InetSocketAddress) channel.localAddress();
  }

  @Override
  public void close() {
    channel.close().syncUninterruptibly();
  }

  private static final class PageHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private final Map<String, Supplier<Page>> routes;
    private final Executor executor;

    PageHandler(Map<String, Supplier<Page>> routes, Executor executor) {
      this.routes = routes;
      this.executor = executor;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
      String path = new QueryStringDecoder(request.uri()).path();
      boolean keepAlive = HttpUtil.isKeepAlive(request);
      Supplier<Page> page = routes.get(path);
      if (page == null) {
        send(ctx, Page.text(404, "no admin page " + path + "; try " + routes.keySet() + "\n"),
            keepAlive);
        return;
      }
      executor.execute(() -> {
        Page result;
        try {
          result = page.get();
        } catch (RuntimeException e) {
          log.warn("admin page {} failed", path, e);
          result = Page.text(500, e + "\n");
        }
        Page done = result;
        ctx.executor().execute(() -> send(ctx, done, keepAlive));
      });
    }

    private static void send(ChannelHandlerContext ctx, Page page, boolean keepAlive) {
      FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
          HttpResponseStatus.valueOf(page.status()),
          Unpooled.copiedBuffer(page.body(), StandardCharsets.UTF_8));
      response.headers().set(HttpHeaderNames.CONTENT_TYPE, page.contentType());
      HttpUtil.setContentLength(response, response.content().readableBytes());
      HttpUtil.setKeepAlive(response, keepAlive);
      var future = ctx.writeAndFlush(response);
      if (!keepAlive) {
        future.addListener(ChannelFutureListener.CLOSE);
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }
}
