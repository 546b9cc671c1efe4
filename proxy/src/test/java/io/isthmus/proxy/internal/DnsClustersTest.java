package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** How a DNS cluster's named endpoints become addresses, and which cluster fields drive refreshes. */
class DnsClustersTest {

  private static Cluster cluster(Cluster.DiscoveryType type, String... names) {
    LocalityLbEndpoints.Builder locality = LocalityLbEndpoints.newBuilder();
    for (String name : names) {
      locality.addLbEndpoints(LbEndpoint.newBuilder().setEndpoint(Endpoint.newBuilder()
          .setAddress(Address.newBuilder().setSocketAddress(
              SocketAddress.newBuilder().setAddress(name).setPortValue(443)))));
    }
    return Cluster.newBuilder().setName("c").setType(type)
        .setLoadAssignment(ClusterLoadAssignment.newBuilder().setClusterName("c").addEndpoints(locality))
        .build();
  }

  private static List<String> addresses(ClusterLoadAssignment cla) {
    return cla.getEndpointsList().stream().flatMap(l -> l.getLbEndpointsList().stream())
        .map(e -> e.getEndpoint().getAddress().getSocketAddress().getAddress() + ":"
            + e.getEndpoint().getAddress().getSocketAddress().getPortValue() + " " + e.getEndpoint().getHostname())
        .toList();
  }

  private static Map<String, List<InetAddress>> answers() throws Exception {
    return Map.of(
        "a.example.test", List.of(InetAddress.getByName("10.0.0.1"), InetAddress.getByName("10.0.0.2")),
        "b.example.test", List.of(InetAddress.getByName("10.0.0.3")));
  }

  @Test
  void strictDnsUsesEveryAddressOfEveryNameAndKeepsIpLiterals() throws Exception {
    var definition = DnsClusters.Definition.of(cluster(Cluster.DiscoveryType.STRICT_DNS,
        "a.example.test", "b.example.test", "192.0.2.7", "never.example.test")).orElseThrow();
    assertThat(addresses(DnsClusters.assignment(definition, answers()))).containsExactly(
        "10.0.0.1:443 a.example.test", "10.0.0.2:443 a.example.test", "10.0.0.3:443 b.example.test",
        "192.0.2.7:443 192.0.2.7");
  }

  @Test
  void logicalDnsUsesTheFirstAddressOnly() throws Exception {
    var definition = DnsClusters.Definition.of(cluster(Cluster.DiscoveryType.LOGICAL_DNS,
        "never.example.test", "a.example.test")).orElseThrow();
    assertThat(addresses(DnsClusters.assignment(definition, answers())))
        .containsExactly("10.0.0.1:443 a.example.test");
  }

  @Test
  void refreshRatesComeFromTheClusterWithEnvoysDefaultAndAFloor() {
    var defaults = DnsClusters.Definition.of(cluster(Cluster.DiscoveryType.STRICT_DNS, "a.example.test"))
        .orElseThrow();
    assertThat(defaults.refresh()).isEqualTo(Duration.ofSeconds(5));
    assertThat(defaults.failureRefresh()).isEqualTo(Duration.ofSeconds(5));
    assertThat(defaults.respectTtl()).isFalse();
    var tuned = DnsClusters.Definition.of(cluster(Cluster.DiscoveryType.STRICT_DNS, "a.example.test").toBuilder()
        .setDnsRefreshRate(com.google.protobuf.Duration.newBuilder().setNanos(1_000_000))
        .setDnsFailureRefreshRate(Cluster.RefreshRate.newBuilder()
            .setBaseInterval(com.google.protobuf.Duration.newBuilder().setSeconds(2)))
        .setRespectDnsTtl(true).build()).orElseThrow();
    assertThat(tuned.refresh()).isEqualTo(DnsClusters.MIN_REFRESH);
    assertThat(tuned.failureRefresh()).isEqualTo(Duration.ofSeconds(2));
    assertThat(tuned.respectTtl()).isTrue();
    assertThat(DnsClusters.Definition.of(cluster(Cluster.DiscoveryType.EDS))).isEmpty();
  }
}
