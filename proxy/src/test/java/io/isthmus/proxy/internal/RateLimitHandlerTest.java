package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.proxy.policy.RateLimits;
import io.isthmus.proxy.testing.RateLimitResources;
import io.isthmus.proxy.testing.RateLimitResources.Rule;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The inbound rate-limit handler on an EmbeddedChannel: what passes, what is answered and how. */
class RateLimitHandlerTest {

  private final AtomicLong clock = new AtomicLong();
  private final ProxyMetrics metrics = new ProxyMetrics();
  private final List<FullHttpRequest> forwarded = new ArrayList<>();
  private EmbeddedChannel channel;

  private EmbeddedChannel channel(boolean dryRun, boolean headers) {
    RateLimits limits = RateLimits.compile(RateLimitResources.inboundHcm("inbound|5000||",
            RateLimitResources.perRoute(dryRun, headers,
                List.of(new Rule("all", null, 2, 2, Duration.ofSeconds(1))))), "inbound|5000",
        RateLimits.Buckets.fresh(clock::get));
    channel = new EmbeddedChannel(
        new RateLimitHandler(5000, p -> p == 5000 ? limits : RateLimits.NONE, metrics,
            new WorkloadInfo("helloworld", "sample", "east")),
        new ChannelInboundHandlerAdapter() {
          @Override
          public void channelRead(ChannelHandlerContext ctx, Object msg) {
            forwarded.add((FullHttpRequest) msg);
          }
        });
    return channel;
  }

  @AfterEach
  void release() {
    forwarded.forEach(ReferenceCountUtil::release);
    if (channel != null) {
      channel.finishAndReleaseAll();
    }
  }

  private static FullHttpRequest request(boolean grpc) {
    FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/hello",
        Unpooled.copiedBuffer("body", StandardCharsets.UTF_8));
    r.headers().set("host", "helloworld:5000");
    if (grpc) {
      r.headers().set("content-type", "application/grpc");
    }
    return r;
  }

  @Test
  void afterTheBurstAnswers429WithTheRateLimitHeadersAndReleasesTheRequest() {
    EmbeddedChannel ch = channel(false, true);
    ch.writeInbound(request(false));
    ch.writeInbound(request(false));
    FullHttpRequest third = request(false);
    ch.writeInbound(third);
    assertThat(forwarded).hasSize(2);
    assertThat(third.refCnt()).as("the refused request is released").isZero();
    FullHttpResponse response = ch.readOutbound();
    try {
      assertThat(response.status().code()).isEqualTo(429);
      assertThat(response.content().toString(StandardCharsets.UTF_8)).isEqualTo("local_rate_limited\n");
      assertThat(response.headers().get("x-ratelimit-limit")).isEqualTo("2");
      assertThat(response.headers().get("x-ratelimit-remaining")).isEqualTo("0");
      assertThat(response.headers().get("x-ratelimit-reset")).isEqualTo("1");
      assertThat(response.headers().get("retry-after")).isEqualTo("1");
    } finally {
      response.release();
    }
    assertThat(metrics.count("isthmus_ratelimit_limited", "port", "5000", "filter", RateLimitResources.FILTER,
        "rule", "rule=all", "enforced", "true")).isEqualTo(1);
    assertThat(metrics.count("istio_requests", "response_code", "429", "response_flags", "RL")).isEqualTo(1);

    clock.addAndGet(Duration.ofSeconds(1).toNanos());
    ch.writeInbound(request(false));
    assertThat(forwarded).as("a token again after the fill").hasSize(3);
  }

  @Test
  void allowedResponsesCarryTheRateLimitHeadersWhenTheConfigAsks() {
    EmbeddedChannel ch = channel(false, true);
    ch.writeInbound(request(false));
    ch.writeOutbound(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK));
    FullHttpResponse first = ch.readOutbound();
    ch.writeInbound(request(false));
    ch.writeOutbound(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK));
    FullHttpResponse second = ch.readOutbound();
    try {
      assertThat(first.headers().get("x-ratelimit-limit")).isEqualTo("2");
      assertThat(first.headers().get("x-ratelimit-remaining")).isEqualTo("1");
      assertThat(first.headers().get("x-ratelimit-reset")).isEqualTo("1");
      assertThat(first.headers().contains("retry-after")).isFalse();
      assertThat(second.headers().get("x-ratelimit-remaining")).isEqualTo("0");
    } finally {
      first.release();
      second.release();
    }
  }

  @Test
  void noHeadersOnAllowedResponsesWhenTheConfigDoesNotAsk() {
    EmbeddedChannel ch = channel(false, false);
    ch.writeInbound(request(false));
    ch.writeOutbound(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK));
    FullHttpResponse response = ch.readOutbound();
    try {
      assertThat(response.headers().names()).noneMatch(n -> n.startsWith("x-ratelimit"));
    } finally {
      response.release();
    }
  }

  @Test
  void grpcGetsUnavailableInATrailersOnlyResponse() {
    EmbeddedChannel ch = channel(false, false);
    for (int i = 0; i < 3; i++) {
      ch.writeInbound(request(true));
    }
    FullHttpResponse response = ch.readOutbound();
    try {
      assertThat(response.status().code()).isEqualTo(200);
      assertThat(response.headers().get("grpc-status")).isEqualTo("14");
      assertThat(response.headers().get("grpc-message")).isEqualTo("local_rate_limited");
      assertThat(response.headers().contains("x-ratelimit-limit")).as("headers off").isFalse();
    } finally {
      response.release();
    }
    assertThat(metrics.count("istio_requests", "response_flags", "RL", "grpc_response_status", "14"))
        .isEqualTo(1);
  }

  @Test
  void dryRunForwardsEverythingAndCountsWhatItWouldHaveRefused() {
    EmbeddedChannel ch = channel(true, true);
    for (int i = 0; i < 5; i++) {
      ch.writeInbound(request(false));
    }
    assertThat(forwarded).hasSize(5);
    assertThat((Object) ch.readOutbound()).isNull();
    assertThat(metrics.count("isthmus_ratelimit_limited", "enforced", "false")).isEqualTo(3);
  }
}
