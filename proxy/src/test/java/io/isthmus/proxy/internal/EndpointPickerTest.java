package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.isthmus.proxy.testing.MeshResources;
import io.isthmus.proxy.testing.MeshResources.Ep;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class EndpointPickerTest {

  private static Map<String, Integer> picks(EndpointPicker picker, int n) {
    Map<String, Integer> counts = new HashMap<>();
    for (int i = 0; i < n; i++) {
      counts.merge(picker.pick().orElseThrow().address(), 1, Integer::sum);
    }
    return counts;
  }

  @Test
  void roundRobinHonoursEndpointWeights() {
    EndpointPicker picker = EndpointPicker.of(MeshResources.endpoints("c", "us-east",
        new Ep("10.0.0.1", 80, 1, "east", false), new Ep("10.0.0.2", 80, 3, "east", false)));
    assertThat(picks(picker, 8)).containsEntry("10.0.0.1:80", 2).containsEntry("10.0.0.2:80", 6);
  }

  @Test
  void localityWeightsSplitTrafficAcrossLocalities() {
    ClusterLoadAssignment east = MeshResources.endpoints("c", "us-east",
        new Ep("10.0.0.1", 80, 1, "east", false));
    ClusterLoadAssignment eu = MeshResources.endpoints("c", "eu-west",
        new Ep("127.103.0.2", 15443, 3, "eu", true));
    ClusterLoadAssignment both = east.toBuilder()
        .addEndpoints(eu.getEndpoints(0).toBuilder().setLoadBalancingWeight(UInt32Value.of(3)))
        .build();
    assertThat(picks(EndpointPicker.of(both), 8))
        .containsEntry("10.0.0.1:80", 2).containsEntry("127.103.0.2:15443", 6);
  }

  @Test
  void lowestPriorityWithHealthyEndpointsWinsAndUnhealthyAreSkipped() {
    ClusterLoadAssignment base = MeshResources.endpoints("c", "us-east",
        new Ep("10.0.0.1", 80, 1, "east", false), new Ep("10.0.0.2", 80, 1, "east", false));
    LocalityLbEndpoints p0 = base.getEndpoints(0).toBuilder()
        .setLbEndpoints(0, base.getEndpoints(0).getLbEndpoints(0).toBuilder()
            .setHealthStatus(HealthStatus.UNHEALTHY))
        .build();
    LocalityLbEndpoints p1 = MeshResources.endpoints("c", "eu-west",
        new Ep("10.1.0.1", 80, 1, "eu", false)).getEndpoints(0).toBuilder().setPriority(1).build();
    EndpointPicker picker = EndpointPicker.of(ClusterLoadAssignment.newBuilder()
        .setClusterName("c").addEndpoints(p0).addEndpoints(p1).build());
    assertThat(picks(picker, 4)).containsOnlyKeys("10.0.0.2:80");

    LocalityLbEndpoints p0Down = p0.toBuilder().setLbEndpoints(1,
        p0.getLbEndpoints(1).toBuilder().setHealthStatus(HealthStatus.UNHEALTHY)).build();
    EndpointPicker failover = EndpointPicker.of(ClusterLoadAssignment.newBuilder()
        .setClusterName("c").addEndpoints(p0Down).addEndpoints(p1).build());
    assertThat(picks(failover, 4)).containsOnlyKeys("10.1.0.1:80");
  }

  @Test
  void excludedEndpointsAreNotPickedAndNoneLeftIsEmpty() {
    EndpointPicker picker = EndpointPicker.of(MeshResources.endpoints("c", "us-east",
        new Ep("10.0.0.1", 80, 1, "east", false)));
    UpstreamEndpoint only = picker.pick().orElseThrow();
    assertThat(only.cluster()).isEqualTo("east");
    assertThat(picker.pick(Set.of(only))).isEmpty();
    assertThat(EndpointPicker.EMPTY.pick()).isEmpty();
  }
}
