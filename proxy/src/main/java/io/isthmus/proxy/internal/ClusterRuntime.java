package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.isthmus.proxy.policy.ClusterPolicy;
import io.isthmus.proxy.policy.ClusterPolicy.LbPolicy;
import io.isthmus.proxy.policy.ClusterPolicy.Outlier;
import io.isthmus.proxy.policy.ClusterPolicy.Thresholds;
import io.isthmus.proxy.policy.SlowStart;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.random.RandomGenerator;

/**
 * The state one upstream cluster keeps across config pushes: circuit-breaker counters,
 * outlier-detection state per host, in-flight requests per host; and the load-balancing
 * decision, which needs them. The policy is swapped when CDS changes.
 *
 * <p>Thread-safe: counters are atomic; host state is guarded by this object (short critical
 * sections, no calls out while holding it). Time comes from the injected {@link Clock}.
 */
final class ClusterRuntime implements RelayHooks {

  /** One host's outlier state and load. */
  private static final class Host {
    int consecutive5xx;
    int consecutiveGateway;
    int ejections;
    Instant ejectedUntil;
    final AtomicInteger active = new AtomicInteger();
  }

  /** An ejected host, as {@code /config_dump} shows it. */
  record Ejection(String cluster, String address, Instant until, int ejections) {}

  private final String name;
  private final Clock clock;
  private final RandomGenerator random;
  private final OverflowListener overflow;
  private volatile ClusterPolicy policy;
  private final AtomicInteger requests = new AtomicInteger();
  private final AtomicInteger pending = new AtomicInteger();
  private final AtomicInteger retries = new AtomicInteger();
  private final AtomicInteger connections = new AtomicInteger();
  // Concurrent so that a request finds its host's record without taking the lock (two lookups
  // per request); adding, removing and the outlier fields stay guarded by this.
  private final Map<String, Host> hosts = new ConcurrentHashMap<>();
  private volatile List<UpstreamEndpoint> endpoints = List.of();
  // Guarded by this: the ejected() cache.
  private Set<String> ejectedNow = Set.of();
  private Instant ejectedValidUntil = Instant.MIN;
  private boolean ejectedDirty = true;
  // Slow start: when each host that joined after the cluster's first assignment joined (the
  // first assignment's hosts are not new to the service, only to this proxy). Replaced whole on
  // update, read without the lock by picks; lastJoin says whether any ramp may still run.
  private volatile Map<String, Instant> joinedAt = Map.of();
  private volatile Instant lastJoin;
  // Guarded by this: the addresses of the last assignment, and whether there was one.
  private Set<String> known = Set.of();
  private boolean seenAssignment;

  /**
   * Told each time a circuit breaker refuses a slot (Envoy's {@code upstream_rq_pending_overflow},
   * {@code upstream_cx_overflow}, {@code upstream_rq_retry_overflow}); on the caller's thread,
   * must not block.
   */
  @FunctionalInterface
  interface OverflowListener {
    OverflowListener NONE = (cluster, limit) -> { };

    /** {@code limit}: {@code max_requests}, {@code max_pending_requests}, ... */
    void overflowed(String cluster, String limit);
  }

  ClusterRuntime(String name, ClusterPolicy policy, Clock clock, RandomGenerator random) {
    this(name, policy, clock, random, OverflowListener.NONE);
  }

  ClusterRuntime(String name, ClusterPolicy policy, Clock clock, RandomGenerator random,
      OverflowListener overflow) {
    this.name = requireNonNull(name, "name");
    this.policy = requireNonNull(policy, "policy");
    this.clock = requireNonNull(clock, "clock");
    this.random = requireNonNull(random, "random");
    this.overflow = requireNonNull(overflow, "overflow");
  }

  String name() {
    return name;
  }

  @Override
  public RandomGenerator random() {
    return random;
  }

  ClusterPolicy policy() {
    return policy;
  }

  void update(ClusterPolicy next, List<UpstreamEndpoint> current) {
    policy = requireNonNull(next, "next");
    endpoints = List.copyOf(current);
    synchronized (this) {
      Set<String> live = new HashSet<>();
      for (UpstreamEndpoint e : current) {
        live.add(e.address());
      }
      hosts.keySet().retainAll(live);
      ejectedDirty = true;
      Map<String, Instant> joined = new java.util.HashMap<>(joinedAt);
      joined.keySet().retainAll(live);
      if (seenAssignment) {
        Instant now = clock.instant();
        for (String address : live) {
          if (!known.contains(address)) {
            joined.put(address, now);
            lastJoin = now;
          }
        }
      }
      known = live;
      seenAssignment = true;
      joinedAt = Map.copyOf(joined);
    }
  }

  // --- circuit breakers ---

  /** Takes a request slot, or false when {@code max_requests} are in flight. */
  boolean tryAcquireRequest() {
    return tryAcquire(requests, policy.thresholds().maxRequests(), "max_requests");
  }

  void requestDone() {
    requests.decrementAndGet();
  }

  @Override
  public void exchangeDone() {
    requestDone();
  }

  @Override
  public boolean tryAcquirePending() {
    return tryAcquire(pending, policy.thresholds().maxPendingRequests(), "max_pending_requests");
  }

  @Override
  public void pendingDone() {
    pending.decrementAndGet();
  }

  @Override
  public boolean tryAcquireConnection() {
    return tryAcquire(connections, policy.thresholds().maxConnections(), "max_connections");
  }

  @Override
  public void connectionClosed() {
    connections.decrementAndGet();
  }

  @Override
  public boolean tryAcquireRetry() {
    return tryAcquire(retries, policy.thresholds().maxRetries(), "max_retries");
  }

  @Override
  public void retryDone() {
    retries.decrementAndGet();
  }

  private boolean tryAcquire(AtomicInteger counter, int max, String limit) {
    while (true) {
      int now = counter.get();
      if (now >= max) {
        overflow.overflowed(name, limit);
        return false;
      }
      if (counter.compareAndSet(now, now + 1)) {
        return true;
      }
    }
  }

  Thresholds thresholds() {
    return policy.thresholds();
  }

  int requestsInFlight() {
    return requests.get();
  }

  // --- outlier detection ---

  @Override
  public void attemptStarted(UpstreamEndpoint endpoint) {
    host(endpoint).active.incrementAndGet();
  }

  @Override
  public void attemptEnded(UpstreamEndpoint endpoint, int result) {
    host(endpoint).active.decrementAndGet();
    if (result != 0) {
      record(endpoint, result);
    }
  }

  private Host host(UpstreamEndpoint endpoint) {
    Host known = hosts.get(endpoint.address());
    if (known != null) {
      return known;
    }
    synchronized (this) {
      return hosts.computeIfAbsent(endpoint.address(), a -> new Host());
    }
  }

  /**
   * Counts one result against a host and ejects it when a consecutive-error rule trips.
   * {@code result} is an HTTP status or a {@link RelayHooks} failure constant; a connect
   * failure or reset counts as a 503, a timeout as a 504 (Envoy, without split local errors).
   */
  void record(UpstreamEndpoint endpoint, int result) {
    Optional<Outlier> rules = policy.outlier();
    if (rules.isEmpty()) {
      return;
    }
    Outlier o = rules.get();
    int status = switch (result) {
      case CONNECT_FAILURE, RESET -> 503;
      case TIMEOUT -> 504;
      default -> result;
    };
    boolean eject = false;
    synchronized (this) {
      Host host = hosts.computeIfAbsent(endpoint.address(), a -> new Host());
      if (status < 500) {
        host.consecutive5xx = 0;
        host.consecutiveGateway = 0;
        return;
      }
      host.consecutive5xx++;
      if (status == 502 || status == 503 || status == 504) {
        host.consecutiveGateway++;
      } else {
        host.consecutiveGateway = 0;
      }
      if (host.consecutive5xx >= o.consecutive5xx() && enforce(o.enforcing5xx())) {
        eject = true;
      } else if (host.consecutiveGateway >= o.consecutiveGatewayFailure()
          && enforce(o.enforcingGatewayFailure())) {
        eject = true;
      }
      if (eject) {
        eject(endpoint.address(), host, o);
      }
    }
  }

  private boolean enforce(int percent) {
    return percent >= 100 || (percent > 0 && random.nextInt(100) < percent);
  }

  /** Guarded by this. Never ejects the last host, nor past max_ejection_percent (but one). */
  private void eject(String address, Host host, Outlier o) {
    Instant now = clock.instant();
    if (host.ejectedUntil != null && now.isBefore(host.ejectedUntil)) {
      return;
    }
    int total = endpoints.size();
    int ejected = 0;
    for (UpstreamEndpoint e : endpoints) {
      Host h = hosts.get(e.address());
      if (h != null && h.ejectedUntil != null && now.isBefore(h.ejectedUntil)) {
        ejected++;
      }
    }
    if (ejected + 1 >= total) {
      return;
    }
    double percent = 100.0 * (ejected + 1) / total;
    if (percent > o.maxEjectionPercent() && ejected >= 1) {
      return;
    }
    host.ejections++;
    Duration time = o.baseEjectionTime().multipliedBy(host.ejections);
    if (time.compareTo(o.maxEjectionTime()) > 0) {
      time = o.maxEjectionTime();
    }
    host.ejectedUntil = now.plus(time);
    ejectedDirty = true;
    host.consecutive5xx = 0;
    host.consecutiveGateway = 0;
  }

  /**
   * Addresses ejected now. Cached until the next ejection or the earliest return, so a pick
   * does not walk every host.
   */
  synchronized Set<String> ejected() {
    Instant now = clock.instant();
    if (!ejectedDirty && now.isBefore(ejectedValidUntil)) {
      return ejectedNow;
    }
    Set<String> out = new HashSet<>();
    Instant earliest = Instant.MAX;
    for (Map.Entry<String, Host> e : hosts.entrySet()) {
      Instant until = e.getValue().ejectedUntil;
      if (until != null && now.isBefore(until)) {
        out.add(e.getKey());
        if (until.isBefore(earliest)) {
          earliest = until;
        }
      }
    }
    ejectedNow = Set.copyOf(out);
    ejectedValidUntil = earliest;
    ejectedDirty = false;
    return ejectedNow;
  }

  synchronized List<Ejection> ejections() {
    Instant now = clock.instant();
    List<Ejection> out = new ArrayList<>();
    hosts.forEach((address, h) -> {
      if (h.ejectedUntil != null && now.isBefore(h.ejectedUntil)) {
        out.add(new Ejection(name, address, h.ejectedUntil, h.ejections));
      }
    });
    return out;
  }

  // --- load balancing ---

  /**
   * Picks an endpoint not in {@code exclude}: Envoy's priority → locality → endpoint tree of
   * {@code picker} with the ejected hosts counted as unhealthy and the policy's panic
   * threshold, then the cluster's lb_policy among the chosen priority's hosts. {@code hash} is
   * the request's consistent-hash key for RING_HASH/MAGLEV, if any; it also picks the priority.
   */
  Optional<UpstreamEndpoint> pick(EndpointPicker picker, Set<UpstreamEndpoint> exclude,
      OptionalLong hash) {
    ClusterPolicy p = policy;
    Set<String> ejected = p.outlier().isPresent() ? ejected() : Set.of();
    LbPolicy lb = p.lbPolicy();
    boolean hashing = (lb == LbPolicy.RING_HASH || lb == LbPolicy.MAGLEV) && hash.isPresent();
    if (p.slowStart().isPresent() && warming(p.slowStart().get())) {
      EndpointPicker.Candidates candidates = picker.candidates(ejected, exclude,
          p.panicThreshold(), OptionalLong.empty());
      rampWeights(picker, candidates, p.slowStart().get());
      return lb == LbPolicy.ROUND_ROBIN ? picker.roundRobin(candidates)
          : leastRequest(picker, candidates);
    }
    if (lb == LbPolicy.ROUND_ROBIN) {
      // Candidates and the round robin in one locked section, over the picker's own arrays.
      return picker.pickRoundRobin(ejected, exclude, p.panicThreshold());
    }
    EndpointPicker.Candidates candidates = picker.candidates(ejected, exclude,
        p.panicThreshold(), hashing ? hash : OptionalLong.empty());
    if (hashing) {
      return hashPick(picker, candidates, hash.getAsLong());
    }
    return switch (lb) {
      case ROUND_ROBIN -> picker.roundRobin(candidates);
      case LEAST_REQUEST -> leastRequest(picker, candidates);
      case RANDOM, RING_HASH, MAGLEV -> randomPick(picker, candidates);
    };
  }

  /** True while a host that joined may still be in its slow-start window. */
  private boolean warming(SlowStart slowStart) {
    Instant last = lastJoin;
    return last != null && clock.instant().isBefore(last.plus(slowStart.window()));
  }

  /** Each candidate's weight times its slow-start factor now (1 for hosts not ramping). */
  private void rampWeights(EndpointPicker picker, EndpointPicker.Candidates candidates,
      SlowStart slowStart) {
    Map<String, Instant> joined = joinedAt;
    Instant now = clock.instant();
    for (int k = 0; k < candidates.size(); k++) {
      Instant at = joined.get(picker.endpoints().get(candidates.indexes()[k]).address());
      if (at != null) {
        candidates.weights()[k] *= slowStart.factor(Duration.between(at, now));
      }
    }
  }

  /** The slow-start factor of {@code address} now: 1 when it is not ramping (for tests and dumps). */
  double slowStartFactor(String address) {
    Optional<SlowStart> slowStart = policy.slowStart();
    Instant at = joinedAt.get(address);
    return slowStart.isEmpty() || at == null ? 1.0
        : slowStart.get().factor(Duration.between(at, clock.instant()));
  }

  /** The priority load as the picker sees it now, ejections included (for tests and dumps). */
  PriorityLoad priorityLoad(EndpointPicker picker) {
    Set<String> ejected = policy.outlier().isPresent() ? ejected() : Set.of();
    return picker.priorityLoad(ejected, policy.panicThreshold());
  }

  private Optional<UpstreamEndpoint> randomPick(EndpointPicker picker,
      EndpointPicker.Candidates candidates) {
    double total = 0;
    for (int k = 0; k < candidates.size(); k++) {
      total += candidates.weights()[k];
    }
    if (total <= 0) {
      return Optional.empty();
    }
    double draw = random.nextDouble() * total;
    for (int k = 0; k < candidates.size(); k++) {
      draw -= candidates.weights()[k];
      if (draw < 0) {
        return Optional.of(picker.endpoints().get(candidates.indexes()[k]));
      }
    }
    return Optional.of(picker.endpoints().get(candidates.indexes()[candidates.size() - 1]));
  }

  /** Envoy's default: the less loaded of two random choices. */
  private Optional<UpstreamEndpoint> leastRequest(EndpointPicker picker,
      EndpointPicker.Candidates candidates) {
    Optional<UpstreamEndpoint> a = randomPick(picker, candidates);
    Optional<UpstreamEndpoint> b = randomPick(picker, candidates);
    if (a.isEmpty() || b.isEmpty()) {
      return a.isPresent() ? a : b;
    }
    return host(b.get()).active.get() < host(a.get()).active.get() ? b : a;
  }

  /**
   * Weighted rendezvous hashing: the same key keeps the same host while it stays, and only
   * the keys of a removed host move.
   */
  private static Optional<UpstreamEndpoint> hashPick(EndpointPicker picker,
      EndpointPicker.Candidates candidates, long key) {
    UpstreamEndpoint best = null;
    double bestScore = Double.NEGATIVE_INFINITY;
    for (int k = 0; k < candidates.size(); k++) {
      UpstreamEndpoint e = picker.endpoints().get(candidates.indexes()[k]);
      long h = mix(key ^ mix(e.address().hashCode()));
      double u = ((h >>> 11) + 0.5) / (double) (1L << 53);
      double score = -candidates.weights()[k] / Math.log(u);
      if (score > bestScore) {
        bestScore = score;
        best = e;
      }
    }
    return Optional.ofNullable(best);
  }

  static long mix(long z) {
    z = (z ^ (z >>> 33)) * 0xff51afd7ed558ccdL;
    z = (z ^ (z >>> 33)) * 0xc4ceb9fe1a85ec53L;
    return z ^ (z >>> 33);
  }
}
