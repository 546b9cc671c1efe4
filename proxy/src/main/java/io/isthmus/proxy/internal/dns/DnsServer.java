package io.isthmus.proxy.internal.dns;

import static java.util.Objects.requireNonNull;

import io.isthmus.proxy.DnsOptions;
import io.isthmus.trust.nds.NameTable;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.codec.LengthFieldPrepender;
import io.netty.handler.timeout.ReadTimeoutHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sidecar's DNS proxy (istio-agent's, on 127.0.0.1:15053): UDP and TCP on one address,
 * answers for mesh hosts from the controller's name table (NDS), every other query forwarded to
 * the pod's resolvers. Not an API: the sidecar starts it when {@code --dns-capture} is on.
 *
 * <p>Runs on its own single event loop, apart from the data plane. {@link #update} may be called
 * from any thread; the new table applies to the next query.
 */
public final class DnsServer implements AutoCloseable {

  static final Logger log = LoggerFactory.getLogger(DnsServer.class);

  private final EventLoopGroup group;
  private final Channel udp;
  private final Channel tcp;
  private final DnsQueryProcessor processor;
  private final String namespace;
  private final String domainSuffix;
  private final List<String> searchDomains;
  private final List<InetSocketAddress> upstreams;

  private DnsServer(EventLoopGroup group, Channel udp, Channel tcp, DnsQueryProcessor processor,
      String namespace, String domainSuffix, List<String> searchDomains,
      List<InetSocketAddress> upstreams) {
    this.group = group;
    this.udp = udp;
    this.tcp = tcp;
    this.processor = processor;
    this.namespace = namespace;
    this.domainSuffix = domainSuffix;
    this.searchDomains = searchDomains;
    this.upstreams = upstreams;
  }

  /**
   * Binds UDP and TCP on {@code options.listen()} (TCP on the port UDP got, when that is 0).
   *
   * @param namespace the sidecar's namespace (bare service names resolve in it)
   * @param domainSuffix the cluster's DNS domain, {@code cluster.local}
   * @throws IllegalArgumentException when no upstream resolver is known: none given and none in
   *     the resolv.conf, or it cannot be read
   */
  public static DnsServer start(DnsOptions options, String namespace, String domainSuffix,
      MeterRegistry registry) throws InterruptedException {
    requireNonNull(options, "options");
    requireNonNull(namespace, "namespace");
    requireNonNull(domainSuffix, "domainSuffix");
    requireNonNull(registry, "registry");
    List<InetSocketAddress> upstreams = options.upstreams();
    List<String> search = options.searchDomains();
    if (upstreams.isEmpty() || search.isEmpty()) {
      ResolvConf conf = ResolvConf.read(options.resolvConf());
      upstreams = upstreams.isEmpty() ? conf.nameservers() : upstreams;
      search = search.isEmpty() ? conf.search() : search;
    }
    if (upstreams.isEmpty()) {
      throw new IllegalArgumentException("DNS proxy: no upstream resolver (" + options.resolvConf()
          + " has no nameserver line; expected: one, or --dns-upstreams ip:port,...)");
    }
    DnsMetrics metrics = new DnsMetrics(registry);
    DnsForwarder forwarder = new DnsForwarder(upstreams, options.upstreamTimeout(),
        options.maxPendingUpstream(), metrics);
    Gauge.builder("isthmus_dns_upstream_pending", forwarder, DnsForwarder::pending)
        .description("DNS requests forwarded upstream and not answered yet.").register(registry);
    DnsQueryProcessor processor = new DnsQueryProcessor(forwarder, metrics);
    EventLoopGroup group = new MultiThreadIoEventLoopGroup(1,
        new DefaultThreadFactory("isthmus-dns", true), NioIoHandler.newFactory());
    try {
      Channel udp = null;
      Channel tcp = null;
      InetSocketAddress bound = null;
      // UDP and TCP must share one port. With port 0 the kernel picks the UDP one, and a TCP
      // socket may already hold that number: pick again rather than fail.
      for (int attempt = 1; tcp == null; attempt++) {
        udp = new Bootstrap().group(group).channel(NioDatagramChannel.class)
            .handler(new UdpDnsHandler(processor))
            .bind(options.listen()).sync().channel();
        bound = (InetSocketAddress) udp.localAddress();
        try {
          tcp = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
              .childHandler(new ChannelInitializer<SocketChannel>() {
                @Override
                protected void initChannel(SocketChannel ch) {
                  ch.pipeline().addLast(new ReadTimeoutHandler(30, TimeUnit.SECONDS),
                      new LengthFieldBasedFrameDecoder(65535, 0, 2, 0, 2),
                      new LengthFieldPrepender(2), new TcpDnsHandler(processor));
                }
              })
              .bind(new InetSocketAddress(bound.getAddress(), bound.getPort())).sync().channel();
        } catch (Exception e) {
          udp.close().sync();
          if (!(e instanceof java.net.BindException) || options.listen().getPort() != 0 || attempt == 5) {
            throw e;
          }
        }
      }
      log.info("DNS proxy on {} (UDP and TCP), upstream {}, search {}", bound, upstreams, search);
      return new DnsServer(group, udp, tcp, processor, namespace, domainSuffix,
          List.copyOf(search), List.copyOf(upstreams));
    } catch (Exception e) {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
      throw e;
    }
  }

  /** Applies a new name table (from NDS) to the next queries. */
  public void update(NameTable table) {
    NameLookup next = NameLookup.of(table, namespace, domainSuffix, searchDomains);
    processor.update(next);
    log.info("DNS name table: {} hosts, {} names", table.getTableCount(), next.size());
  }

  /** Where the proxy answers (UDP and TCP alike). */
  public InetSocketAddress address() {
    return (InetSocketAddress) udp.localAddress();
  }

  public List<InetSocketAddress> upstreams() {
    return upstreams;
  }

  @Override
  public void close() {
    udp.close();
    tcp.close();
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
  }
}
