package io.isthmus.proxy.internal;

import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.Locality;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * Picks endpoints of one cluster: the lowest priority that has a healthy endpoint, then a
 * smooth weighted round robin over its endpoints where each endpoint's share is its
 * locality's weight split by the endpoint weights inside that locality.
 *
 * <p>Thread-safe: picks are serialized on this object, which is cheap next to a connect.
 */
public final class EndpointPicker {

  private final List<UpstreamEndpoint> endpoints;
  private final double[] weights;
  private final double[] current;
  private final double total;

  private EndpointPicker(List<UpstreamEndpoint> endpoints, double[] weights) {
    this.endpoints = List.copyOf(endpoints);
    this.weights = weights;
    this.current = new double[weights.length];
    double sum = 0;
    for (double w : weights) {
      sum += w;
    }
    this.total = sum;
  }

  public static final EndpointPicker EMPTY = new EndpointPicker(List.of(), new double[0]);

  /** Builds a picker from an EDS assignment (or a static cluster's load assignment). */
  public static EndpointPicker of(ClusterLoadAssignment assignment) {
    TreeMap<Integer, List<LocalityLbEndpoints>> byPriority = new TreeMap<>();
    for (LocalityLbEndpoints locality : assignment.getEndpointsList()) {
      if (locality.getLbEndpointsList().stream().anyMatch(EndpointPicker::healthy)) {
        byPriority.computeIfAbsent(locality.getPriority(), p -> new ArrayList<>()).add(locality);
      }
    }
    if (byPriority.isEmpty()) {
      return EMPTY;
    }
    List<UpstreamEndpoint> chosen = new ArrayList<>();
    List<Double> chosenWeights = new ArrayList<>();
    for (LocalityLbEndpoints locality : byPriority.firstEntry().getValue()) {
      int localityWeight = locality.hasLoadBalancingWeight()
          ? Math.max(locality.getLoadBalancingWeight().getValue(), 0) : 1;
      if (localityWeight == 0) {
        continue;
      }
      long endpointWeightSum = 0;
      for (LbEndpoint lb : locality.getLbEndpointsList()) {
        if (healthy(lb)) {
          endpointWeightSum += weightOf(lb);
        }
      }
      for (LbEndpoint lb : locality.getLbEndpointsList()) {
        if (!healthy(lb)) {
          continue;
        }
        chosen.add(toEndpoint(lb, locality.getLocality(), locality.getPriority()));
        chosenWeights.add(localityWeight * (double) weightOf(lb) / endpointWeightSum);
      }
    }
    double[] weights = new double[chosenWeights.size()];
    for (int i = 0; i < weights.length; i++) {
      weights[i] = chosenWeights.get(i);
    }
    return new EndpointPicker(chosen, weights);
  }

  /** Every endpoint the picker chooses among. */
  public List<UpstreamEndpoint> endpoints() {
    return endpoints;
  }

  /** The next endpoint not in {@code exclude}, or empty when there is none. */
  public synchronized Optional<UpstreamEndpoint> pick(Set<UpstreamEndpoint> exclude) {
    int best = -1;
    for (int i = 0; i < endpoints.size(); i++) {
      if (exclude.contains(endpoints.get(i))) {
        continue;
      }
      current[i] += weights[i];
      if (best < 0 || current[i] > current[best]) {
        best = i;
      }
    }
    if (best < 0) {
      return Optional.empty();
    }
    current[best] -= total;
    return Optional.of(endpoints.get(best));
  }

  /** The share of endpoint {@code index} (of {@link #endpoints()}). */
  double weightAt(int index) {
    return weights[index];
  }

  public Optional<UpstreamEndpoint> pick() {
    return pick(Set.of());
  }

  static boolean healthy(LbEndpoint lb) {
    HealthStatus status = lb.getHealthStatus();
    return status == HealthStatus.UNKNOWN || status == HealthStatus.HEALTHY
        || status == HealthStatus.DEGRADED;
  }

  private static int weightOf(LbEndpoint lb) {
    return lb.hasLoadBalancingWeight() ? Math.max(lb.getLoadBalancingWeight().getValue(), 1) : 1;
  }

  private static UpstreamEndpoint toEndpoint(LbEndpoint lb, Locality locality, int priority) {
    var socket = lb.getEndpoint().getAddress().getSocketAddress();
    Map<String, Value> istio = lb.getMetadata().getFilterMetadataOrDefault(
        "istio", Struct.getDefaultInstance()).getFieldsMap();
    return new UpstreamEndpoint(
        socket.getAddress(),
        socket.getPortValue(),
        weightOf(lb),
        locality.getRegion() + "/" + locality.getZone() + "/" + locality.getSubZone(),
        priority,
        stringField(istio, "cluster"),
        stringField(istio, "network"),
        stringField(istio, "workload"),
        istio.containsKey("via_gateway") && istio.get("via_gateway").getBoolValue());
  }

  private static String stringField(Map<String, Value> fields, String name) {
    Value value = fields.get(name);
    return value == null ? "" : value.getStringValue();
  }
}
