package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.netty.buffer.ByteBuf;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.handler.codec.dns.DefaultDnsQuestion;
import io.netty.handler.codec.dns.DnsRawRecord;
import io.netty.handler.codec.dns.DnsRecord;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.resolver.ResolvedAddressTypes;
import io.netty.resolver.dns.DnsNameResolver;
import io.netty.resolver.dns.DnsNameResolverBuilder;
import io.netty.resolver.dns.DnsServerAddressStreamProviders;
import io.netty.resolver.dns.NoopAuthoritativeDnsServerCache;
import io.netty.resolver.dns.NoopDnsCache;
import io.netty.resolver.dns.NoopDnsCnameCache;
import io.netty.resolver.dns.SequentialDnsServerAddressStreamProvider;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.Future;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Resolves the endpoint host names of {@code STRICT_DNS} and {@code LOGICAL_DNS} clusters, as
 * Envoy does, so the data plane only ever dials IP addresses and never resolves on an event loop.
 *
 * <p>Each cluster is resolved when it arrives and again every {@code dns_refresh_rate} (default
 * 5 s), or when its records expire if {@code respect_dns_ttl}; after a failed lookup, again after
 * {@code dns_failure_refresh_rate.base_interval} (else the refresh rate). STRICT_DNS uses every
 * address of every name; LOGICAL_DNS the first address only (new connections follow it as it
 * changes). A failed lookup keeps the name's last good addresses (counted in
 * {@code isthmus_dns_resolution_failures_total{cluster}}); a name never resolved has no endpoint
 * yet. Names that are IP literals are used as they are.
 *
 * <p>Thread-safety: the lookups, timers and per-cluster state live on one event loop of its own;
 * {@link #update} and {@link #resolved} may be called from any thread. {@code onChange} runs on
 * that loop after a cluster's addresses changed, and must not block.
 */
final class DnsClusters implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(DnsClusters.class);
  static final Duration DEFAULT_REFRESH = Duration.ofSeconds(5);
  /** A floor under TTL- or config-driven refreshes, so a zero TTL cannot spin the loop. */
  static final Duration MIN_REFRESH = Duration.ofMillis(100);

  /** What of a DNS cluster matters for resolving it; a change restarts its resolution. */
  record Definition(String name, boolean logical, ClusterLoadAssignment assignment, Duration refresh,
      Duration failureRefresh, boolean respectTtl) {
    Definition {
      requireNonNull(name, "name");
      requireNonNull(assignment, "assignment");
      requireNonNull(refresh, "refresh");
      requireNonNull(failureRefresh, "failureRefresh");
    }

    static Optional<Definition> of(Cluster cluster) {
      boolean logical = cluster.getType() == Cluster.DiscoveryType.LOGICAL_DNS;
      if (!logical && cluster.getType() != Cluster.DiscoveryType.STRICT_DNS) {
        return Optional.empty();
      }
      Duration refresh = cluster.hasDnsRefreshRate()
          ? duration(cluster.getDnsRefreshRate()) : DEFAULT_REFRESH;
      Duration failure = cluster.hasDnsFailureRefreshRate()
          && cluster.getDnsFailureRefreshRate().hasBaseInterval()
          ? duration(cluster.getDnsFailureRefreshRate().getBaseInterval()) : refresh;
      return Optional.of(new Definition(cluster.getName(), logical, cluster.getLoadAssignment(),
          atLeastMin(refresh), atLeastMin(failure), cluster.getRespectDnsTtl()));
    }

    /** Every name to look up, in order of appearance. */
    Set<String> names() {
      Set<String> names = new LinkedHashSet<>();
      for (LocalityLbEndpoints locality : assignment.getEndpointsList()) {
        for (LbEndpoint lb : locality.getLbEndpointsList()) {
          names.add(lb.getEndpoint().getAddress().getSocketAddress().getAddress());
        }
      }
      return names;
    }
  }

  /** One cluster's resolution state; confined to the loop. */
  private static final class Tracked {
    final Definition definition;
    final Map<String, List<InetAddress>> lastGood = new HashMap<>();
    ScheduledFuture<?> next;
    boolean stopped;

    Tracked(Definition definition) {
      this.definition = definition;
    }
  }

  private final EventLoopGroup group;
  private final EventLoop loop;
  private final DnsNameResolver resolver;
  private final ProxyMetrics metrics;
  private final Runnable onChange;
  private final Map<String, Tracked> tracked = new HashMap<>();
  private final Map<String, ClusterLoadAssignment> resolved = new ConcurrentHashMap<>();

  /**
   * @param servers the DNS servers to ask, in order; empty for the system's ({@code
   *     /etc/resolv.conf})
   * @param onChange told, on the resolver's loop, that some cluster's addresses changed
   */
  DnsClusters(List<InetSocketAddress> servers, ProxyMetrics metrics, Runnable onChange) {
    this.metrics = requireNonNull(metrics, "metrics");
    this.onChange = requireNonNull(onChange, "onChange");
    this.group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("isthmus-dns", true),
        NioIoHandler.newFactory());
    this.loop = group.next();
    DnsNameResolverBuilder builder = new DnsNameResolverBuilder(loop)
        .datagramChannelType(NioDatagramChannel.class)
        // Every refresh must ask the server: caching here would hide a changed address.
        .resolveCache(NoopDnsCache.INSTANCE)
        .cnameCache(NoopDnsCnameCache.INSTANCE)
        .authoritativeDnsServerCache(NoopAuthoritativeDnsServerCache.INSTANCE)
        .resolvedAddressTypes(ResolvedAddressTypes.IPV4_ONLY)
        .queryTimeoutMillis(2_000)
        .nameServerProvider(servers.isEmpty()
            ? DnsServerAddressStreamProviders.platformDefault()
            : new SequentialDnsServerAddressStreamProvider(servers.toArray(new InetSocketAddress[0])));
    if (!servers.isEmpty()) {
      // Names in clusters are fully qualified; explicit servers are not the system's, so neither
      // are its search domains.
      builder.searchDomains(List.of()).ndots(1);
    }
    this.resolver = builder.build();
  }

  /** Starts, restarts or stops the resolution of every DNS cluster to match {@code clusters}. */
  void update(Collection<Cluster> clusters) {
    Map<String, Definition> next = new LinkedHashMap<>();
    for (Cluster cluster : clusters) {
      Definition.of(cluster).ifPresent(d -> next.put(d.name(), d));
    }
    loop.execute(() -> reconcile(next));
  }

  /** The cluster's endpoints with every name replaced by its addresses, or empty before any. */
  Optional<ClusterLoadAssignment> resolved(String cluster) {
    return Optional.ofNullable(resolved.get(cluster));
  }

  private void reconcile(Map<String, Definition> next) {
    boolean changed = false;
    for (var it = tracked.entrySet().iterator(); it.hasNext(); ) {
      var entry = it.next();
      Definition wanted = next.get(entry.getKey());
      if (wanted == null || !wanted.equals(entry.getValue().definition)) {
        stop(entry.getValue());
        it.remove();
        if (wanted == null) {
          changed |= resolved.remove(entry.getKey()) != null;
        }
      }
    }
    for (Definition definition : next.values()) {
      if (!tracked.containsKey(definition.name())) {
        Tracked t = new Tracked(definition);
        tracked.put(definition.name(), t);
        resolve(t);
      }
    }
    if (changed) {
      onChange.run();
    }
  }

  private static void stop(Tracked t) {
    t.stopped = true;
    if (t.next != null) {
      t.next.cancel(false);
    }
  }

  private void resolve(Tracked t) {
    Set<String> names = t.definition.names();
    Map<String, Future<List<DnsRecord>>> lookups = new LinkedHashMap<>();
    for (String name : names) {
      if (!NetUtil.isValidIpV4Address(name) && !NetUtil.isValidIpV6Address(name)) {
        lookups.put(name, resolver.resolveAll(new DefaultDnsQuestion(name, DnsRecordType.A)));
      }
    }
    if (lookups.isEmpty()) {
      finish(t, names, Long.MAX_VALUE, false);
      return;
    }
    int[] pending = {lookups.size()};
    long[] minTtl = {Long.MAX_VALUE};
    boolean[] failed = {false};
    lookups.forEach((name, lookup) -> lookup.addListener(f -> {
      if (t.stopped) {
        release(f);
      } else if (f.isSuccess()) {
        @SuppressWarnings("unchecked")
        List<DnsRecord> records = (List<DnsRecord>) f.getNow();
        List<InetAddress> addresses = new ArrayList<>();
        try {
          for (DnsRecord record : records) {
            if (record.type() == DnsRecordType.A && record instanceof DnsRawRecord raw) {
              addresses.add(address(name, raw.content()));
              minTtl[0] = Math.min(minTtl[0], record.timeToLive());
            }
          }
        } finally {
          records.forEach(io.netty.util.ReferenceCountUtil::release);
        }
        if (addresses.isEmpty()) {
          failed(t, name, "no A record");
          failed[0] = true;
        } else {
          t.lastGood.put(name, List.copyOf(addresses));
        }
      } else {
        failed(t, name, String.valueOf(f.cause()));
        failed[0] = true;
      }
      if (--pending[0] == 0 && !t.stopped) {
        finish(t, names, minTtl[0], failed[0]);
      }
    }));
  }

  private static void release(Future<?> f) {
    if (f.isSuccess() && f.getNow() instanceof List<?> records) {
      records.forEach(io.netty.util.ReferenceCountUtil::release);
    }
  }

  private void failed(Tracked t, String name, String why) {
    metrics.counter("isthmus_dns_resolution_failures", "cluster", t.definition.name());
    log.warn("cluster {}: DNS lookup of {} failed ({}); keeping its last good addresses {}",
        t.definition.name(), name, why, t.lastGood.getOrDefault(name, List.of()));
  }

  private static InetAddress address(String name, ByteBuf content) throws UnknownHostException {
    byte[] bytes = new byte[content.readableBytes()];
    content.getBytes(content.readerIndex(), bytes);
    return InetAddress.getByAddress(name, bytes);
  }

  private void finish(Tracked t, Set<String> names, long minTtlSeconds, boolean failed) {
    ClusterLoadAssignment next = assignment(t.definition, t.lastGood);
    ClusterLoadAssignment previous = resolved.put(t.definition.name(), next);
    if (!next.equals(previous)) {
      log.info("cluster {}: {} resolved to {}", t.definition.name(), names, addresses(next));
      onChange.run();
    }
    Duration delay = failed ? t.definition.failureRefresh() : t.definition.refresh();
    if (!failed && t.definition.respectTtl() && minTtlSeconds != Long.MAX_VALUE) {
      delay = atLeastMin(Duration.ofSeconds(minTtlSeconds));
    }
    t.next = loop.schedule(() -> {
      if (!t.stopped) {
        resolve(t);
      }
    }, delay.toMillis(), TimeUnit.MILLISECONDS);
  }

  /**
   * The definition's load assignment with each name's endpoint repeated once per address
   * (LOGICAL_DNS: only the first address of the first name that has one); metadata, weight and
   * health are kept from the named endpoint.
   */
  static ClusterLoadAssignment assignment(Definition definition, Map<String, List<InetAddress>> byName) {
    ClusterLoadAssignment.Builder out = definition.assignment().toBuilder().clearEndpoints();
    boolean taken = false;
    for (LocalityLbEndpoints locality : definition.assignment().getEndpointsList()) {
      LocalityLbEndpoints.Builder group = locality.toBuilder().clearLbEndpoints();
      for (LbEndpoint lb : locality.getLbEndpointsList()) {
        SocketAddress socket = lb.getEndpoint().getAddress().getSocketAddress();
        String name = socket.getAddress();
        List<String> ips = NetUtil.isValidIpV4Address(name) || NetUtil.isValidIpV6Address(name)
            ? List.of(name)
            : byName.getOrDefault(name, List.of()).stream().map(InetAddress::getHostAddress).toList();
        for (String ip : ips) {
          if (definition.logical() && taken) {
            break;
          }
          LbEndpoint.Builder copy = lb.toBuilder();
          copy.getEndpointBuilder().setHostname(name).setAddress(Address.newBuilder()
              .setSocketAddress(socket.toBuilder().setAddress(ip)));
          group.addLbEndpoints(copy);
          taken = true;
        }
      }
      if (group.getLbEndpointsCount() > 0) {
        out.addEndpoints(group);
      }
    }
    return out.build();
  }

  private static List<String> addresses(ClusterLoadAssignment cla) {
    List<String> out = new ArrayList<>();
    cla.getEndpointsList().forEach(l -> l.getLbEndpointsList().forEach(e -> out.add(
        e.getEndpoint().getAddress().getSocketAddress().getAddress() + ":"
            + e.getEndpoint().getAddress().getSocketAddress().getPortValue())));
    return out;
  }

  private static Duration duration(com.google.protobuf.Duration d) {
    return Duration.ofSeconds(d.getSeconds(), d.getNanos());
  }

  private static Duration atLeastMin(Duration d) {
    return d.compareTo(MIN_REFRESH) < 0 ? MIN_REFRESH : d;
  }

  @Override
  public void close() {
    loop.execute(() -> {
      tracked.values().forEach(DnsClusters::stop);
      tracked.clear();
      resolver.close();
    });
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
  }
}
