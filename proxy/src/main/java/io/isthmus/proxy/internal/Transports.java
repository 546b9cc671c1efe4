package io.isthmus.proxy.internal;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.util.concurrent.ThreadFactory;

/**
 * The Netty transport of this process: native epoll when it loads, else NIO. Public for
 * the east-west gateway module only; not an API.
 */
public final class Transports {

  private static final boolean EPOLL = Epoll.isAvailable();

  private Transports() {}

  public static EventLoopGroup newGroup(int threads, String name) {
    ThreadFactory factory = new io.netty.util.concurrent.DefaultThreadFactory(name, true);
    return new MultiThreadIoEventLoopGroup(threads, factory,
        EPOLL ? EpollIoHandler.newFactory() : NioIoHandler.newFactory());
  }

  public static Class<? extends ServerChannel> serverChannel() {
    return EPOLL ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
  }

  public static Class<? extends SocketChannel> socketChannel() {
    return EPOLL ? EpollSocketChannel.class : NioSocketChannel.class;
  }

  public static String name() {
    return EPOLL ? "epoll" : "nio";
  }
}
