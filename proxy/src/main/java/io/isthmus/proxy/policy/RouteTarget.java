package io.isthmus.proxy.policy;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.random.RandomGenerator;

/** What a matched route does: forward to a cluster, redirect, or answer directly. */
public sealed interface RouteTarget {

  /** Envoy's router timeout when a route sets none. */
  Duration DEFAULT_TIMEOUT = Duration.ofSeconds(15);

  /**
   * Forward upstream. {@code prefixRewrite}, {@code regexRewrite} and {@code hostRewrite} are
   * null when absent; {@code timeout} zero means none.
   */
  record Forward(List<WeightedTarget> clusters, long totalWeight, String prefixRewrite,
      SafeRegex regexRewrite, String regexSubstitution, String hostRewrite, Duration timeout,
      Optional<RetryRules> retry, List<Mirror> mirrors, List<HashRule> hashPolicies,
      StreamDuration streamDuration)
      implements RouteTarget {
    public Forward {
      requireNonNull(streamDuration, "streamDuration");
      clusters = List.copyOf(requireNonNull(clusters, "clusters"));
      if (clusters.isEmpty()) {
        throw new IllegalArgumentException("clusters: empty (expected: at least one)");
      }
      requireNonNull(timeout, "timeout");
      requireNonNull(retry, "retry");
      mirrors = List.copyOf(requireNonNull(mirrors, "mirrors"));
      hashPolicies = List.copyOf(requireNonNull(hashPolicies, "hashPolicies"));
    }

    /** A weighted pick: each cluster with probability weight / total. */
    public WeightedTarget pick(RandomGenerator random) {
      if (clusters.size() == 1) {
        return clusters.get(0);
      }
      long draw = random.nextLong(totalWeight);
      for (WeightedTarget target : clusters) {
        draw -= target.weight();
        if (draw < 0) {
          return target;
        }
      }
      return clusters.get(clusters.size() - 1);
    }

    /** The path to send upstream ({@code matchedPrefix} is what the route's match consumed). */
    public String rewritePath(String path, String matchedPrefix) {
      if (prefixRewrite != null && matchedPrefix != null) {
        return prefixRewrite + path.substring(matchedPrefix.length());
      }
      if (regexRewrite != null) {
        return regexRewrite.replaceAll(path, regexSubstitution);
      }
      return path;
    }
  }

  /** One of a route's weighted clusters, with its own header operations. */
  record WeightedTarget(String cluster, long weight, HeaderMutation requestHeaders,
      HeaderMutation responseHeaders, String hostRewrite) {
    public WeightedTarget {
      requireNonNull(cluster, "cluster");
      requireNonNull(requestHeaders, "requestHeaders");
      requireNonNull(responseHeaders, "responseHeaders");
    }
  }

  /**
   * Envoy's {@code RetryPolicy}: {@code retryOn} holds the recognised conditions;
   * {@code perTryTimeout} zero means none. {@code previousHosts}: the
   * {@code previous_hosts} host predicate, a retry avoids the hosts this request already
   * tried. {@code priorityUpdateFrequency}: the {@code previous_priorities} retry priority's
   * {@code update_frequency} (0: none), every that many attempts a retry leaves the priorities
   * already tried.
   */
  record RetryRules(Set<String> retryOn, int numRetries, Duration perTryTimeout,
      Set<Integer> retriableStatusCodes, Duration baseInterval, Duration maxInterval,
      boolean previousHosts, int priorityUpdateFrequency) {

    /** Without a host predicate or retry priority. */
    public RetryRules(Set<String> retryOn, int numRetries, Duration perTryTimeout,
        Set<Integer> retriableStatusCodes, Duration baseInterval, Duration maxInterval) {
      this(retryOn, numRetries, perTryTimeout, retriableStatusCodes, baseInterval, maxInterval,
          false, 0);
    }

    public RetryRules {
      retryOn = Set.copyOf(requireNonNull(retryOn, "retryOn"));
      retriableStatusCodes = Set.copyOf(requireNonNull(retriableStatusCodes,
          "retriableStatusCodes"));
      requireNonNull(perTryTimeout, "perTryTimeout");
      requireNonNull(baseInterval, "baseInterval");
      requireNonNull(maxInterval, "maxInterval");
      if (numRetries < 0) {
        throw new IllegalArgumentException("numRetries: " + numRetries + " (expected: >= 0)");
      }
      if (priorityUpdateFrequency < 0) {
        throw new IllegalArgumentException("priorityUpdateFrequency: " + priorityUpdateFrequency
            + " (expected: >= 0)");
      }
    }

    /** Whether a response status is worth another try. */
    public boolean retriesStatus(int status) {
      return (retryOn.contains("5xx") && status >= 500)
          || (retryOn.contains("gateway-error") && (status == 502 || status == 503
              || status == 504))
          || (retryOn.contains("retriable-status-codes") && retriableStatusCodes.contains(status))
          || (retryOn.contains("retriable-4xx") && status == 409);
    }

    /** Whether a failure to connect is worth another try. */
    public boolean retriesConnectFailure() {
      return retryOn.contains("connect-failure") || retriesReset();
    }

    /** Whether the upstream closing before a response is worth another try. */
    public boolean retriesReset() {
      return retryOn.contains("reset") || retryOn.contains("5xx")
          || retryOn.contains("gateway-error");
    }

    /** Whether a per-try timeout is worth another try (Envoy treats it as a 504). */
    public boolean retriesTimeout() {
      return retryOn.contains("5xx") || retryOn.contains("gateway-error");
    }

    /**
     * The wait before retry {@code n} (1-based), Envoy's fully jittered exponential back-off:
     * uniform in {@code [0, (2^n - 1) × base)}, capped at the maximum interval.
     */
    public Duration backoff(int n, RandomGenerator random) {
      long base = baseInterval.toNanos();
      if (base == 0) {
        return Duration.ZERO;
      }
      long ceiling;
      try {
        ceiling = Math.multiplyExact(base, (1L << Math.min(Math.max(n, 1), 20)) - 1);
      } catch (ArithmeticException overflow) {
        ceiling = Long.MAX_VALUE;
      }
      return Duration.ofNanos(Math.min(random.nextLong(ceiling), maxInterval.toNanos()));
    }
  }

  /** Send a copy to {@code cluster} for this fraction of requests; answers are dropped. */
  record Mirror(String cluster, Fraction fraction, boolean appendShadowSuffix) {
    public Mirror {
      requireNonNull(cluster, "cluster");
      requireNonNull(fraction, "fraction");
    }
  }

  /** A consistent-hash key source: a header, a cookie or the source IP. */
  record HashRule(Kind kind, String name, boolean terminal) {
    public enum Kind { HEADER, COOKIE, SOURCE_IP, QUERY_PARAMETER }

    public HashRule {
      requireNonNull(kind, "kind");
      requireNonNull(name, "name");
    }
  }

  /** A redirect; null fields keep the request's value. */
  record Redirect(String scheme, String host, int port, String path, String prefixRewrite,
      SafeRegex regexRewrite, String regexSubstitution, boolean stripQuery, int status)
      implements RouteTarget {

    /** The {@code Location} for a request ({@code matchedPrefix} as for rewrites). */
    public String location(RequestView request, String rawQuery, String matchedPrefix) {
      String authority = request.authority();
      String origHost = authority;
      String origPort = null;
      int colon = authority.lastIndexOf(':');
      if (colon > 0 && authority.indexOf(']') < colon) {
        origHost = authority.substring(0, colon);
        origPort = authority.substring(colon + 1);
      }
      String newScheme = scheme != null ? scheme : "http";
      String newHost = host != null ? host : origHost;
      String newPort = port > 0 ? Integer.toString(port) : origPort;
      if (port == 0 && scheme != null && ("80".equals(newPort) || "443".equals(newPort))) {
        newPort = null;
      }
      String newPath = request.path();
      String query = stripQuery || rawQuery == null || rawQuery.isEmpty() ? "" : "?" + rawQuery;
      if (path != null) {
        int q = path.indexOf('?');
        if (q >= 0) {
          newPath = path.substring(0, q);
          query = path.substring(q);
        } else {
          newPath = path;
        }
      } else if (prefixRewrite != null && matchedPrefix != null) {
        newPath = prefixRewrite + request.path().substring(matchedPrefix.length());
      } else if (regexRewrite != null) {
        newPath = regexRewrite.replaceAll(request.path(), regexSubstitution);
      }
      return newScheme + "://" + newHost + (newPort == null ? "" : ":" + newPort) + newPath
          + query;
    }
  }

  /** Answer with this status and body, without an upstream. */
  record DirectResponse(int status, String body) implements RouteTarget {
    public DirectResponse {
      requireNonNull(body, "body");
    }
  }
}
