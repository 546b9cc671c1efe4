package io.isthmus.proxy.bench;

import io.isthmus.proxy.policy.RateLimits;
import io.isthmus.proxy.testing.RateLimitResources;
import io.isthmus.proxy.testing.RateLimitResources.Rule;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * What the sidecar's rate-limit check costs a request it lets through (the fast path): no limits
 * on the port (the baseline), one rule for every request (a token bucket's compare-and-set), one
 * rule matching {@code :path} by regex, and two policies. Buckets are large enough never to run
 * out. Run with {@code -prof gc} to see the bytes allocated per request.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class RateLimitBenchmark {

  private static final long HUGE = 4_000_000_000L;
  private static final Duration FILL = Duration.ofMillis(50);

  private RateLimits none;
  private RateLimits everyRequest;
  private RateLimits pathRegex;
  private RateLimits twoRules;
  private HttpRequest request;

  @Setup
  public void setUp() {
    none = RateLimits.NONE;
    everyRequest = compile(List.of(new Rule("all", null, HUGE, HUGE, FILL)));
    pathRegex = compile(List.of(new Rule("api", "/api/.*", HUGE, HUGE, FILL)));
    twoRules = compile(List.of(new Rule("api", "/api/.*", HUGE, HUGE, FILL),
        new Rule("all", null, HUGE, HUGE, FILL)));
    request = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/api/items?page=2");
    request.headers().set("host", "helloworld.sample:5000");
  }

  private static RateLimits compile(List<Rule> rules) {
    return RateLimits.compile(RateLimitResources.inboundHcm("inbound|5000||",
        RateLimitResources.perRoute(false, true, rules)), "inbound|5000",
        RateLimits.Buckets.fresh(System::nanoTime));
  }

  private static void ignore(RateLimits.Limited limited) {
    throw new IllegalStateException("a bucket ran out: " + limited);
  }

  @Benchmark
  public Object baselineNoLimits() {
    return none.isEmpty() ? null : none.check(request, RateLimitBenchmark::ignore);
  }

  @Benchmark
  public Object oneRuleForEveryRequest() {
    return everyRequest.check(request, RateLimitBenchmark::ignore);
  }

  @Benchmark
  public Object oneRuleMatchingThePath() {
    return pathRegex.check(request, RateLimitBenchmark::ignore);
  }

  @Benchmark
  public Object twoRules() {
    return twoRules.check(request, RateLimitBenchmark::ignore);
  }
}
