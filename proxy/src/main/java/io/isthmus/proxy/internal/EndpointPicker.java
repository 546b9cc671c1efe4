package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.Locality;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeMap;

/**
 * The endpoints of one cluster as EDS gave them, and Envoy's load-balancing tree over them:
 * priority (the {@link PriorityLoad} from the overprovisioning factor, the hosts' health and the
 * panic threshold) → locality (its {@code load_balancing_weight} times its availability) →
 * endpoint (its weight).
 *
 * <p>Health is EDS's ({@code HEALTHY}/{@code UNKNOWN} healthy, {@code DEGRADED} degraded, the
 * rest unhealthy) minus the hosts the caller names as unavailable (outlier-ejected ones). Every
 * endpoint counts in its priority's total, so a priority with half of its hosts down keeps 70% of
 * the load and the next one takes 30%, as in Envoy.
 *
 * <p>Thread-safe: the parsed endpoints are immutable; the round-robin state and the last computed
 * priority load are guarded by this object (short sections, nothing called out).
 */
public final class EndpointPicker {

  /** An endpoint's health as EDS states it. */
  enum EdsHealth { HEALTHY, DEGRADED, UNHEALTHY }

  /** One locality of one priority level: its weight and the indexes of its endpoints. */
  private record LocalityGroup(int level, int weight, int[] members) {}

  /**
   * Endpoints a pick may choose among: indexes into {@link #endpoints()} with their weights.
   * Mutable arrays, owned by one pick.
   */
  record Candidates(int[] indexes, double[] weights, int size) {
    static final Candidates NONE = new Candidates(new int[0], new double[0], 0);

    boolean isEmpty() {
      return size == 0;
    }
  }

  /** The priority load and per-host health for one set of unavailable hosts. */
  private record HealthView(Set<String> unavailable, double panicThreshold, boolean[] healthy,
      boolean[] degraded, PriorityLoad load) {}

  public static final EndpointPicker EMPTY =
      new EndpointPicker(List.of(), new EdsHealth[0], new int[0], List.of(), 0,
          PriorityLoad.DEFAULT_OVERPROVISIONING_FACTOR);

  private final List<UpstreamEndpoint> endpoints;
  private final EdsHealth[] edsHealth;
  private final int[] localityOf;
  private final List<LocalityGroup> localities;
  private final int levels;
  private final int overprovisioningFactor;
  private final double[] current;
  private final double[] priorityCurrent;
  // Guarded by this: a round-robin pick's candidates, which never leave the locked section.
  private final int[] scratchIndexes;
  private final double[] scratchWeights;
  // What a pick returns, made once rather than per request.
  private final List<Optional<UpstreamEndpoint>> picks;
  private HealthView view;

  private EndpointPicker(List<UpstreamEndpoint> endpoints, EdsHealth[] edsHealth, int[] localityOf,
      List<LocalityGroup> localities, int levels, int overprovisioningFactor) {
    this.endpoints = List.copyOf(endpoints);
    this.edsHealth = edsHealth;
    this.localityOf = localityOf;
    this.localities = List.copyOf(localities);
    this.levels = levels;
    this.overprovisioningFactor = overprovisioningFactor;
    this.current = new double[endpoints.size()];
    this.priorityCurrent = new double[2 * levels];
    this.scratchIndexes = new int[endpoints.size()];
    this.scratchWeights = new double[endpoints.size()];
    this.picks = this.endpoints.stream().map(Optional::of).toList();
  }

  /**
   * Builds a picker from an EDS assignment (or a static cluster's load assignment). Priorities
   * are compacted in order (0, 3, 7 → levels 0, 1, 2); a locality without a weight weighs 1; a
   * locality of weight 0 counts in its priority's health but receives nothing.
   */
  public static EndpointPicker of(ClusterLoadAssignment assignment) {
    requireNonNull(assignment, "assignment");
    TreeMap<Integer, List<LocalityLbEndpoints>> byPriority = new TreeMap<>();
    for (LocalityLbEndpoints locality : assignment.getEndpointsList()) {
      if (locality.getLbEndpointsCount() > 0) {
        byPriority.computeIfAbsent(locality.getPriority(), p -> new ArrayList<>()).add(locality);
      }
    }
    if (byPriority.isEmpty()) {
      return EMPTY;
    }
    List<UpstreamEndpoint> all = new ArrayList<>();
    List<EdsHealth> health = new ArrayList<>();
    List<Integer> localityIndex = new ArrayList<>();
    List<LocalityGroup> groups = new ArrayList<>();
    int level = 0;
    for (List<LocalityLbEndpoints> localities : byPriority.values()) {
      for (LocalityLbEndpoints locality : localities) {
        int weight = locality.hasLoadBalancingWeight()
            ? Math.max(locality.getLoadBalancingWeight().getValue(), 0) : 1;
        int[] members = new int[locality.getLbEndpointsCount()];
        for (int i = 0; i < members.length; i++) {
          LbEndpoint lb = locality.getLbEndpoints(i);
          members[i] = all.size();
          all.add(toEndpoint(lb, locality.getLocality(), locality.getPriority()));
          health.add(edsHealth(lb.getHealthStatus()));
          localityIndex.add(groups.size());
        }
        groups.add(new LocalityGroup(level, weight, members));
      }
      level++;
    }
    int factor = assignment.getPolicy().hasOverprovisioningFactor()
        ? assignment.getPolicy().getOverprovisioningFactor().getValue()
        : PriorityLoad.DEFAULT_OVERPROVISIONING_FACTOR;
    if (factor <= 0) {
      factor = PriorityLoad.DEFAULT_OVERPROVISIONING_FACTOR;
    }
    return new EndpointPicker(all, health.toArray(new EdsHealth[0]),
        localityIndex.stream().mapToInt(Integer::intValue).toArray(), groups, level, factor);
  }

  /** How many priority levels the assignment has (priorities compacted). */
  public int priorityLevels() {
    return levels;
  }

  /** Every endpoint of every priority, healthy or not, in priority order. */
  public List<UpstreamEndpoint> endpoints() {
    return endpoints;
  }

  /**
   * The next endpoint by round robin not in {@code exclude}, by EDS health alone and Envoy's
   * default panic threshold; empty when there is none. What the east-west gateway uses.
   */
  public Optional<UpstreamEndpoint> pick(Set<UpstreamEndpoint> exclude) {
    return pickRoundRobin(Set.of(), exclude, PriorityLoad.DEFAULT_PANIC_THRESHOLD);
  }

  /**
   * {@link #candidates} (without a hash) and {@link #roundRobin} over them in one locked section,
   * the candidates in this picker's own arrays: the same pick, one lock and no arrays per
   * request.
   */
  synchronized Optional<UpstreamEndpoint> pickRoundRobin(Set<String> unavailable,
      Set<UpstreamEndpoint> exclude, double panicThreshold) {
    return roundRobin(candidates(unavailable, exclude, panicThreshold, OptionalLong.empty(),
        scratchIndexes, scratchWeights));
  }

  public Optional<UpstreamEndpoint> pick() {
    return pick(Set.of());
  }

  /** The priority load with these hosts unavailable (by {@link UpstreamEndpoint#address()}). */
  synchronized PriorityLoad priorityLoad(Set<String> unavailable, double panicThreshold) {
    return view(unavailable, panicThreshold).load();
  }

  /**
   * The endpoints one request may go to now: a priority chosen by the priority load (by
   * {@code hash} modulo 100 when there is one, else by smooth weighted round robin over the
   * loads, so 100 picks follow the load to the percent), then that priority's healthy or
   * degraded hosts (all of them in panic), each weighted by its locality's effective weight
   * share. {@code exclude} (hosts this request already tried) are left out; when that leaves
   * nothing, the next priorities with load, then any available host of another priority, are
   * used, so a retry still finds a host when a whole priority failed before outlier detection
   * ejected it.
   */
  synchronized Candidates candidates(Set<String> unavailable, Set<UpstreamEndpoint> exclude,
      double panicThreshold, OptionalLong hash) {
    return candidates(unavailable, exclude, panicThreshold, hash, new int[endpoints.size()],
        new double[endpoints.size()]);
  }

  /** Guarded by this; the result is over {@code indexes} and {@code weights}. */
  private Candidates candidates(Set<String> unavailable, Set<UpstreamEndpoint> exclude,
      double panicThreshold, OptionalLong hash, int[] indexes, double[] weights) {
    if (endpoints.isEmpty()) {
      return Candidates.NONE;
    }
    HealthView v = view(unavailable, panicThreshold);
    int slot = chooseSlot(v.load(), hash);
    if (slot >= 0) {
      Candidates first = collect(v, slot / 2, slot % 2 == 1, exclude, indexes, weights);
      if (!first.isEmpty()) {
        return first;
      }
    }
    // Every host of the chosen priority was excluded: the other slots with load, in order.
    for (int s = 0; s < 2 * levels; s++) {
      if (s != slot && load(v.load(), s) > 0) {
        Candidates next = collect(v, s / 2, s % 2 == 1, exclude, indexes, weights);
        if (!next.isEmpty()) {
          return next;
        }
      }
    }
    // Then any available host at all: a priority with no load still beats no answer.
    for (int s = 0; s < 2 * levels; s++) {
      Candidates any = collect(v, s / 2, s % 2 == 1, exclude, indexes, weights);
      if (!any.isEmpty()) {
        return any;
      }
    }
    return Candidates.NONE;
  }

  /** Smooth weighted round robin over {@code candidates}, sharing state across picks. */
  synchronized Optional<UpstreamEndpoint> roundRobin(Candidates candidates) {
    if (candidates.isEmpty()) {
      return Optional.empty();
    }
    double total = 0;
    int best = -1;
    for (int k = 0; k < candidates.size(); k++) {
      int i = candidates.indexes()[k];
      double w = candidates.weights()[k];
      total += w;
      current[i] += w;
      if (best < 0 || current[i] > current[best]) {
        best = i;
      }
    }
    current[best] -= total;
    return picks.get(best);
  }

  private HealthView view(Set<String> unavailable, double panicThreshold) {
    HealthView v = view;
    if (v != null && v.panicThreshold() == panicThreshold && v.unavailable().equals(unavailable)) {
      return v;
    }
    boolean[] healthy = new boolean[endpoints.size()];
    boolean[] degraded = new boolean[endpoints.size()];
    int[] total = new int[levels];
    int[] healthyCount = new int[levels];
    int[] degradedCount = new int[levels];
    for (int i = 0; i < endpoints.size(); i++) {
      int level = localities.get(localityOf[i]).level();
      total[level]++;
      if (unavailable.contains(endpoints.get(i).address())) {
        continue;
      }
      healthy[i] = edsHealth[i] == EdsHealth.HEALTHY;
      degraded[i] = edsHealth[i] == EdsHealth.DEGRADED;
      healthyCount[level] += healthy[i] ? 1 : 0;
      degradedCount[level] += degraded[i] ? 1 : 0;
    }
    List<PriorityLoad.Level> counts = new ArrayList<>(levels);
    for (int l = 0; l < levels; l++) {
      counts.add(new PriorityLoad.Level(total[l], healthyCount[l], degradedCount[l]));
    }
    v = new HealthView(Set.copyOf(unavailable), panicThreshold, healthy, degraded,
        PriorityLoad.of(counts, overprovisioningFactor, panicThreshold));
    view = v;
    Arrays.fill(priorityCurrent, 0);
    return v;
  }

  /** Slot {@code 2 × level} is a level's healthy load, {@code 2 × level + 1} its degraded load. */
  private static int load(PriorityLoad load, int slot) {
    return slot % 2 == 0 ? load.healthyLoad().get(slot / 2) : load.degradedLoad().get(slot / 2);
  }

  private int chooseSlot(PriorityLoad load, OptionalLong hash) {
    if (hash.isPresent()) {
      // Envoy: hash % 100 against the cumulative healthy loads, then the degraded ones, so a
      // key keeps its priority while the loads stay.
      long point = Long.remainderUnsigned(hash.getAsLong(), 100);
      long cumulative = 0;
      for (int degraded = 0; degraded < 2; degraded++) {
        for (int level = 0; level < levels; level++) {
          cumulative += load(load, 2 * level + degraded);
          if (point < cumulative) {
            return 2 * level + degraded;
          }
        }
      }
      return -1;
    }
    int best = -1;
    for (int s = 0; s < 2 * levels; s++) {
      int w = load(load, s);
      if (w == 0) {
        continue;
      }
      priorityCurrent[s] += w;
      if (best < 0 || priorityCurrent[s] > priorityCurrent[best]) {
        best = s;
      }
    }
    if (best >= 0) {
      priorityCurrent[best] -= 100;
    }
    return best;
  }

  /**
   * The hosts of one level for one source (healthy or degraded; every host in panic), minus
   * {@code exclude}, each weighted by {@code effective locality weight × endpoint weight / the
   * locality's source weight}, where the effective locality weight is {@code weight ×
   * min(100, factor × source hosts / hosts)} as Envoy's locality-weighted balancing computes it.
   */
  private Candidates collect(HealthView v, int level, boolean degradedSource,
      Set<UpstreamEndpoint> exclude, int[] indexes, double[] weights) {
    boolean panic = v.load().panic().get(level);
    boolean[] source = degradedSource ? v.degraded() : v.healthy();
    int size = 0;
    for (LocalityGroup group : localities) {
      if (group.level() != level || group.weight() == 0) {
        continue;
      }
      int inSource = 0;
      long sourceWeight = 0;
      for (int i : group.members()) {
        if (panic || source[i]) {
          inSource++;
          sourceWeight += endpoints.get(i).weight();
        }
      }
      if (inSource == 0) {
        continue;
      }
      double availability = panic ? 100
          : Math.min(100, (double) overprovisioningFactor * inSource / group.members().length);
      double localityWeight = group.weight() * availability / 100;
      for (int i : group.members()) {
        if ((panic || source[i]) && !exclude.contains(endpoints.get(i))) {
          indexes[size] = i;
          weights[size] = localityWeight * endpoints.get(i).weight() / sourceWeight;
          size++;
        }
      }
    }
    return size == 0 ? Candidates.NONE : new Candidates(indexes, weights, size);
  }

  static EdsHealth edsHealth(HealthStatus status) {
    return switch (status) {
      case UNKNOWN, HEALTHY -> EdsHealth.HEALTHY;
      case DEGRADED -> EdsHealth.DEGRADED;
      default -> EdsHealth.UNHEALTHY;
    };
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
