package io.isthmus.proxy.testing;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.DatagramPacket;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.dns.DatagramDnsQuery;
import io.netty.handler.codec.dns.DatagramDnsQueryDecoder;
import io.netty.handler.codec.dns.DatagramDnsResponse;
import io.netty.handler.codec.dns.DatagramDnsResponseEncoder;
import io.netty.handler.codec.dns.DefaultDnsQuestion;
import io.netty.handler.codec.dns.DefaultDnsRawRecord;
import io.netty.handler.codec.dns.DefaultDnsResponse;
import io.netty.handler.codec.dns.DnsQuery;
import io.netty.handler.codec.dns.DnsQuestion;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponse;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.handler.codec.dns.DnsSection;
import io.netty.handler.codec.dns.TcpDnsQueryDecoder;
import io.netty.handler.codec.dns.TcpDnsResponseEncoder;
import io.netty.util.NetUtil;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * A real DNS server for tests, UDP and TCP on one loopback port, built on netty-codec-dns. It
 * answers A queries from a table the test changes: a name with addresses gets them (TTL
 * {@link #ttlSeconds}), a known name asked for another type an empty answer, an unknown name
 * NXDOMAIN, and while {@link #failing} every query SERVFAIL. It records the questions it got
 * ({@code "<name>. <TYPE>"}) and the bytes of each answer it sent (UDP: the datagram; TCP: without
 * the length prefix), so a test can tell a relayed answer from a synthesized one.
 */
public final class FakeDnsServer implements AutoCloseable {

  private final EventLoopGroup group =
      new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
  private final Map<String, List<String>> answers = new ConcurrentHashMap<>();
  private final List<String> questions = new CopyOnWriteArrayList<>();
  private final List<String> sentHex = new CopyOnWriteArrayList<>();
  private final Channel udp;
  private final Channel tcp;
  private volatile boolean failing;
  private volatile long ttlSeconds = 1;
  private volatile boolean printQuestions;

  /** On an ephemeral loopback port. */
  public FakeDnsServer() throws InterruptedException {
    this(new InetSocketAddress("127.0.0.1", 0));
  }

  /**
   * On {@code bind}, UDP and TCP on the same port. With port 0, an ephemeral UDP port whose TCP
   * twin is free (another process may hold it: then another port is tried).
   */
  public FakeDnsServer(InetSocketAddress bind) throws InterruptedException {
    Channel[] bound = null;
    for (int attempt = 1; bound == null; attempt++) {
      try {
        bound = bindBoth(bind);
      } catch (Exception e) { // Netty's sync() rethrows the BindException unchecked
        if (bind.getPort() != 0 || attempt == 10) {
          group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
          throw e;
        }
      }
    }
    udp = bound[0];
    tcp = bound[1];
  }

  private Channel[] bindBoth(InetSocketAddress bind) throws InterruptedException {
    Channel udpChannel = new Bootstrap().group(group).channel(NioDatagramChannel.class)
        .handler(new ChannelInitializer<NioDatagramChannel>() {
          @Override
          protected void initChannel(NioDatagramChannel ch) {
            ch.pipeline().addLast(new Recorder(), new DatagramDnsQueryDecoder(),
                new DatagramDnsResponseEncoder(), new Answerer());
          }
        })
        .bind(bind).sync().channel();
    try {
      Channel tcpChannel = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
          .childHandler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel ch) {
              ch.pipeline().addLast(new Recorder(), new TcpDnsQueryDecoder(),
                  new TcpDnsResponseEncoder(), new Answerer());
            }
          })
          .bind(udpChannel.localAddress()).sync().channel();
      return new Channel[] {udpChannel, tcpChannel};
    } catch (Exception e) {
      udpChannel.close().sync();
      throw e;
    }
  }

  /**
   * A process of its own, for network-namespace tests: {@code <ip> <port> name=ip...}; prints
   * READY, then one {@code QUESTION <name> <type>} line per query it gets.
   */
  public static void main(String[] args) throws Exception {
    FakeDnsServer dns = new FakeDnsServer(
        new InetSocketAddress(args[0], Integer.parseInt(args[1])));
    for (int i = 2; i < args.length; i++) {
      String[] kv = args[i].split("=", 2);
      dns.set(kv[0], kv[1]);
    }
    dns.printQuestions = true;
    System.out.println("READY");
    System.out.flush();
    Thread.currentThread().join();
  }

  public InetSocketAddress address() {
    return (InetSocketAddress) udp.localAddress();
  }

  /** From now on {@code name} (with or without the final dot) resolves to {@code ips}. */
  public void set(String name, String... ips) {
    answers.put(key(name), List.of(ips));
  }

  public void failing(boolean value) {
    failing = value;
  }

  public void ttlSeconds(long value) {
    ttlSeconds = value;
  }

  /** The questions answered so far, {@code "<name>. <TYPE>"}, in order. */
  public List<String> questions() {
    return questions;
  }

  /** The answers sent so far, as hex, in order. */
  public List<String> sentHex() {
    return sentHex;
  }

  public int queries() {
    return questions.size();
  }

  @Override
  public void close() {
    udp.close();
    tcp.close();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  private static String key(String name) {
    String lower = name.toLowerCase(Locale.ROOT);
    return lower.endsWith(".") ? lower.substring(0, lower.length() - 1) : lower;
  }

  private final class Recorder extends ChannelOutboundHandlerAdapter {
    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
      ByteBuf bytes = msg instanceof DatagramPacket p ? p.content() : (ByteBuf) msg;
      String hex = ByteBufUtil.hexDump(bytes);
      sentHex.add(msg instanceof DatagramPacket ? hex : hex.substring(4));
      ctx.write(msg, promise);
    }
  }

  private final class Answerer extends SimpleChannelInboundHandler<DnsQuery> {
    @Override
    protected void channelRead0(ChannelHandlerContext ctx, DnsQuery query) {
      DnsQuestion question = query.recordAt(DnsSection.QUESTION);
      questions.add(question.name() + " " + question.type().name());
      if (printQuestions) {
        System.out.println("QUESTION " + question.name() + " " + question.type().name());
        System.out.flush();
      }
      DnsResponse response = query instanceof DatagramDnsQuery udpQuery
          ? new DatagramDnsResponse(udpQuery.recipient(), udpQuery.sender(), query.id())
          : new DefaultDnsResponse(query.id());
      response.setRecursionDesired(query.isRecursionDesired()).setRecursionAvailable(true);
      response.addRecord(DnsSection.QUESTION,
          new DefaultDnsQuestion(question.name(), question.type()));
      List<String> ips = answers.get(key(question.name()));
      if (failing) {
        response.setCode(DnsResponseCode.SERVFAIL);
      } else if (ips == null) {
        response.setCode(DnsResponseCode.NXDOMAIN);
      } else if (question.type() == DnsRecordType.A) {
        for (String ip : ips) {
          response.addRecord(DnsSection.ANSWER, new DefaultDnsRawRecord(question.name(),
              DnsRecordType.A, ttlSeconds,
              Unpooled.wrappedBuffer(NetUtil.createByteArrayFromIpAddressString(ip))));
        }
      }
      ctx.writeAndFlush(response);
    }
  }
}
