package io.isthmus.proxy.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Any;
import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.CidrRange;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.FilterChainMatch;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight;
import io.isthmus.proxy.xds.XdsStaticConfig;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code tcp_proxy} compiled: cluster or weighted clusters, idle timeout, and what is NACKed. */
class TcpRouteTest {

  private static TcpProxy.Builder weighted(int a, int b) {
    return TcpProxy.newBuilder().setStatPrefix("db").setWeightedClusters(WeightedCluster.newBuilder()
        .addClusters(ClusterWeight.newBuilder().setName("a").setWeight(a))
        .addClusters(ClusterWeight.newBuilder().setName("b").setWeight(b)));
  }

  @Test
  void aClusterOrWeightedClustersWithEnvoysDefaultIdleTimeout() {
    TcpRoute single = TcpRoute.of(TcpProxy.newBuilder().setCluster("a").build());
    assertThat(single.weighted()).isFalse();
    assertThat(single.pick(new java.util.SplittableRandom(1))).isEqualTo("a");
    assertThat(single.idleTimeout()).isEqualTo(Duration.ofHours(1));

    TcpRoute split = TcpRoute.of(weighted(3, 1)
        .setIdleTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(90)).build());
    assertThat(split.clusters()).extracting(TcpRoute.ClusterWeight::weight).containsExactly(3, 1);
    assertThat(split.idleTimeout()).isEqualTo(Duration.ofSeconds(90));
    // Zero: no idle timeout at all, as Envoy.
    assertThat(TcpRoute.of(TcpProxy.newBuilder().setCluster("a")
        .setIdleTimeout(com.google.protobuf.Duration.getDefaultInstance()).build()).idleTimeout())
        .isZero();
  }

  @Test
  void aZeroWeightClusterIsNeverPicked() {
    TcpRoute route = TcpRoute.of(weighted(0, 5).build());
    java.util.SplittableRandom random = new java.util.SplittableRandom(7);
    for (int i = 0; i < 1_000; i++) {
      assertThat(route.pick(random)).isEqualTo("b");
    }
  }

  @Test
  void whatEnvoyWouldRefuseIsRefusedNamingTheField() {
    assertThatThrownBy(() -> TcpRoute.of(TcpProxy.newBuilder().setStatPrefix("x").build()))
        .hasMessage("tcp_proxy: neither cluster nor weighted_clusters (expected: one of them)");
    assertThatThrownBy(() -> TcpRoute.of(weighted(0, 0).build()))
        .hasMessage("tcp_proxy.weighted_clusters: the weights sum to 0 (expected: > 0)");
    assertThatThrownBy(() -> TcpRoute.of(TcpProxy.newBuilder().setWeightedClusters(
            WeightedCluster.newBuilder().addClusters(ClusterWeight.newBuilder().setWeight(1))).build()))
        .hasMessage("tcp_proxy.weighted_clusters.clusters[0].name: empty (expected: a cluster name)");
  }

  private static Listener listener(FilterChainMatch match, TcpProxy proxy) {
    return Listener.newBuilder().setName("0.0.0.0_5432")
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress("0.0.0.0").setPortValue(5432)))
        .addFilterChains(FilterChain.newBuilder().setFilterChainMatch(match).addFilters(
            Filter.newBuilder().setName("envoy.filters.network.tcp_proxy").setTypedConfig(Any.pack(proxy))))
        .build();
  }

  @Test
  void theXdsValidatorNacksABadTcpProxyOrPrefixRange() {
    String badProxy = XdsStaticConfig.render(List.of(listener(FilterChainMatch.getDefaultInstance(),
        weighted(0, 0).build())));
    assertThatThrownBy(() -> XdsStaticConfig.parse(badProxy, "pod.json"))
        .hasMessageContaining("listener 0.0.0.0_5432: filter_chains[0]: tcp_proxy.weighted_clusters:"
            + " the weights sum to 0");

    String badRange = XdsStaticConfig.render(List.of(listener(FilterChainMatch.newBuilder()
            .addPrefixRanges(CidrRange.newBuilder().setAddressPrefix("db.example.com")
                .setPrefixLen(UInt32Value.of(24))).build(),
        TcpProxy.newBuilder().setCluster("a").build())));
    assertThatThrownBy(() -> XdsStaticConfig.parse(badRange, "pod.json"))
        .hasMessageContaining("listener 0.0.0.0_5432: filter_chains[0].filter_chain_match.prefix_ranges[0]:"
            + " 'db.example.com/24' (expected: an IP address and a prefix length within it)");
  }
}
