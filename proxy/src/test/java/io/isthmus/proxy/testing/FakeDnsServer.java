package io.isthmus.proxy.testing;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.handler.codec.dns.DatagramDnsQuery;
import io.netty.handler.codec.dns.DatagramDnsQueryDecoder;
import io.netty.handler.codec.dns.DatagramDnsResponse;
import io.netty.handler.codec.dns.DatagramDnsResponseEncoder;
import io.netty.handler.codec.dns.DefaultDnsRawRecord;
import io.netty.handler.codec.dns.DnsQuestion;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.handler.codec.dns.DnsSection;
import io.netty.util.NetUtil;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real DNS server on a loopback UDP port, answering A queries from a table the test changes:
 * a name with addresses gets them (TTL {@link #ttlSeconds}), an unknown name NXDOMAIN, and while
 * {@link #failing} every query SERVFAIL. Built on netty-codec-dns.
 */
public final class FakeDnsServer implements AutoCloseable {

  private final EventLoopGroup group =
      new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
  private final Channel channel;
  private final Map<String, List<String>> answers = new ConcurrentHashMap<>();
  private final AtomicInteger queries = new AtomicInteger();
  private volatile boolean failing;
  private volatile int ttlSeconds = 1;

  public FakeDnsServer() throws InterruptedException {
    channel = new Bootstrap().group(group).channel(NioDatagramChannel.class)
        .handler(new ChannelInitializer<DatagramChannel>() {
          @Override
          protected void initChannel(DatagramChannel ch) {
            ch.pipeline().addLast(new DatagramDnsQueryDecoder(), new DatagramDnsResponseEncoder(),
                new SimpleChannelInboundHandler<DatagramDnsQuery>() {
                  @Override
                  protected void channelRead0(ChannelHandlerContext ctx, DatagramDnsQuery query) {
                    ctx.writeAndFlush(answer(query));
                  }
                });
          }
        })
        .bind("127.0.0.1", 0).sync().channel();
  }

  private DatagramDnsResponse answer(DatagramDnsQuery query) {
    queries.incrementAndGet();
    DnsQuestion question = query.recordAt(DnsSection.QUESTION);
    DatagramDnsResponse response = new DatagramDnsResponse(query.recipient(), query.sender(), query.id());
    response.addRecord(DnsSection.QUESTION, question);
    String name = question.name().toLowerCase(Locale.ROOT);
    if (name.endsWith(".")) {
      name = name.substring(0, name.length() - 1);
    }
    List<String> ips = answers.get(name);
    if (failing) {
      response.setCode(DnsResponseCode.SERVFAIL);
    } else if (ips == null) {
      response.setCode(DnsResponseCode.NXDOMAIN);
    } else if (question.type() == DnsRecordType.A) {
      for (String ip : ips) {
        response.addRecord(DnsSection.ANSWER, new DefaultDnsRawRecord(question.name(), DnsRecordType.A,
            ttlSeconds, Unpooled.wrappedBuffer(NetUtil.createByteArrayFromIpAddressString(ip))));
      }
    }
    return response;
  }

  public InetSocketAddress address() {
    return (InetSocketAddress) channel.localAddress();
  }

  /** From now on {@code name} resolves to {@code ips}. */
  public void set(String name, String... ips) {
    answers.put(name.toLowerCase(Locale.ROOT), List.of(ips));
  }

  public void failing(boolean value) {
    failing = value;
  }

  public void ttlSeconds(int value) {
    ttlSeconds = value;
  }

  public int queries() {
    return queries.get();
  }

  @Override
  public void close() {
    channel.close().syncUninterruptibly();
    group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
  }
}
