package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.FilterChainMatch;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.isthmus.proxy.policy.RateLimits;
import io.isthmus.proxy.testing.RateLimitResources;
import io.isthmus.proxy.testing.RateLimitResources.Rule;
import io.isthmus.proxy.xds.XdsSnapshot;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Token buckets across configuration updates: kept when their definition is unchanged, new otherwise. */
class RateLimitBucketsTest {

  private final AtomicLong clock = new AtomicLong();
  private final RateLimitBuckets buckets = new RateLimitBuckets(clock::get);

  private static XdsSnapshot snapshot(long burst, int... ports) {
    Listener.Builder inbound = Listener.newBuilder().setName(DataPlaneConfig.VIRTUAL_INBOUND);
    for (int port : ports) {
      inbound.addFilterChains(FilterChain.newBuilder()
          .setFilterChainMatch(FilterChainMatch.newBuilder().setDestinationPort(UInt32Value.of(port))
              .setTransportProtocol("tls"))
          .addFilters(Filter.newBuilder().setName("envoy.filters.network.http_connection_manager")
              .setTypedConfig(Any.pack(RateLimitResources.inboundHcm("inbound|" + port + "||",
                  RateLimitResources.perRoute(false, true,
                      List.of(new Rule("all", null, burst, 1, Duration.ofMinutes(1)))))))));
    }
    return new XdsSnapshot(Map.of(), Map.of(), Map.of(DataPlaneConfig.VIRTUAL_INBOUND, inbound.build()),
        Map.of(), Map.of(), Map.of());
  }

  private static int passed(RateLimits limits, int n) {
    int ok = 0;
    for (int i = 0; i < n; i++) {
      if (limits.check(new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/"), l -> { }) == null) {
        ok++;
      }
    }
    return ok;
  }

  @Test
  void anUnchangedBucketKeepsItsTokensAcrossAnUpdateAndAChangedOneStartsFull() {
    Map<Integer, RateLimits> first = InboundSecurity.compileRateLimits(snapshot(3, 5000, 9000), buckets);
    assertThat(passed(first.get(5000), 2)).isEqualTo(2);
    assertThat(passed(first.get(9000), 3)).isEqualTo(3);

    Map<Integer, RateLimits> same = InboundSecurity.compileRateLimits(snapshot(3, 5000, 9000), buckets);
    assertThat(passed(same.get(5000), 5)).as("one token was left, not a refilled bucket").isEqualTo(1);
    assertThat(passed(same.get(9000), 5)).isZero();

    Map<Integer, RateLimits> changed = InboundSecurity.compileRateLimits(snapshot(4, 5000), buckets);
    assertThat(passed(changed.get(5000), 10)).as("a new definition: a new, full bucket").isEqualTo(4);
    assertThat(changed).doesNotContainKey(9000);

    Map<Integer, RateLimits> back = InboundSecurity.compileRateLimits(snapshot(4, 5000, 9000), buckets);
    assertThat(passed(back.get(9000), 10)).as("a dropped bucket is not resurrected").isEqualTo(4);
    assertThat(passed(back.get(5000), 10)).isZero();
  }
}
