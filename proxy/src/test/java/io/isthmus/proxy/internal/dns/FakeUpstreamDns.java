package io.isthmus.proxy.internal.dns;

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
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * A real DNS server for tests, UDP and TCP on one loopback port, written with Netty's DNS codec:
 * A records for the names it is given (TTL 1234, so a relayed answer is recognisable), NXDOMAIN
 * for the rest. It records the questions it got and the bytes of each answer it sent.
 */
public final class FakeUpstreamDns implements AutoCloseable {

  static final long TTL = 1234;

  private final EventLoopGroup group =
      new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
  private final Map<String, String> records = new ConcurrentHashMap<>();
  final List<String> questions = new CopyOnWriteArrayList<>();
  final List<String> sentHex = new CopyOnWriteArrayList<>();
  private final Channel udp;
  private final Channel tcp;

  FakeUpstreamDns(Map<String, String> records) throws InterruptedException {
    this(records, new InetSocketAddress("127.0.0.1", 0));
  }

  FakeUpstreamDns(Map<String, String> records, InetSocketAddress bind) throws InterruptedException {
    this.records.putAll(records);
    udp = new Bootstrap().group(group).channel(NioDatagramChannel.class)
        .handler(new ChannelInitializer<NioDatagramChannel>() {
          @Override
          protected void initChannel(NioDatagramChannel ch) {
            ch.pipeline().addLast(new Recorder(), new DatagramDnsQueryDecoder(),
                new DatagramDnsResponseEncoder(), new Answerer());
          }
        })
        .bind(bind).sync().channel();
    tcp = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
        .childHandler(new ChannelInitializer<SocketChannel>() {
          @Override
          protected void initChannel(SocketChannel ch) {
            ch.pipeline().addLast(new Recorder(), new TcpDnsQueryDecoder(),
                new TcpDnsResponseEncoder(), new Answerer());
          }
        })
        .bind(address()).sync().channel();
  }

  /**
   * A process of its own, for network-namespace tests: {@code <ip> <port> name=ip...}; prints
   * READY, then one {@code QUESTION <name> <type>} line per query it gets.
   */
  public static void main(String[] args) throws Exception {
    Map<String, String> records = new java.util.HashMap<>();
    for (int i = 2; i < args.length; i++) {
      String[] kv = args[i].split("=", 2);
      records.put(kv[0].endsWith(".") ? kv[0] : kv[0] + ".", kv[1]);
    }
    FakeUpstreamDns dns = new FakeUpstreamDns(records,
        new InetSocketAddress(args[0], Integer.parseInt(args[1])));
    dns.verbose = true;
    System.out.println("READY");
    System.out.flush();
    Thread.currentThread().join();
  }

  private volatile boolean verbose;

  InetSocketAddress address() {
    return (InetSocketAddress) udp.localAddress();
  }

  @Override
  public void close() {
    udp.close();
    tcp.close();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  /** Copies every answer's bytes as they leave (UDP: the datagram; TCP: without the length). */
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
    protected void channelRead0(ChannelHandlerContext ctx, DnsQuery query) throws Exception {
      DnsQuestion question = query.recordAt(DnsSection.QUESTION);
      questions.add(question.name() + " " + question.type().name());
      if (verbose) {
        System.out.println("QUESTION " + question.name() + " " + question.type().name());
        System.out.flush();
      }
      String ip = question.type() == DnsRecordType.A ? records.get(question.name()) : null;
      DnsResponse response = query instanceof DatagramDnsQuery udpQuery
          ? new DatagramDnsResponse(udpQuery.recipient(), udpQuery.sender(), query.id())
          : new DefaultDnsResponse(query.id());
      response.setRecursionDesired(query.isRecursionDesired()).setRecursionAvailable(true);
      response.addRecord(DnsSection.QUESTION, new io.netty.handler.codec.dns.DefaultDnsQuestion(question.name(), question.type()));
      if (ip != null) {
        response.addRecord(DnsSection.ANSWER, new DefaultDnsRawRecord(question.name(),
            DnsRecordType.A, TTL, Unpooled.wrappedBuffer(InetAddress.getByName(ip).getAddress())));
      } else if (!records.containsKey(question.name())) {
        response.setCode(DnsResponseCode.NXDOMAIN);
      }
      ctx.writeAndFlush(response);
    }
  }
}
