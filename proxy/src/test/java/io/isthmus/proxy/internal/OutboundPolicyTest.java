package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.route.v3.DirectResponseAction;
import io.envoyproxy.envoy.config.route.v3.RedirectAction;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.common.fault.v3.FaultDelay;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.FaultAbort;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault;
import io.envoyproxy.envoy.type.v3.FractionalPercent;
import io.isthmus.proxy.policy.FaultPolicy;
import io.isthmus.proxy.xds.XdsSnapshot;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.ssl.SslContextBuilder;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Route decisions the proxy answers itself (direct responses, redirects, injected faults, no
 * route), on an EmbeddedChannel with its own scheduler standing in for time.
 */
class OutboundPolicyTest {

  private static final ProxyMetrics METRICS = new ProxyMetrics();

  private static HeaderValueOption header(String name, String value) {
    return HeaderValueOption.newBuilder()
        .setHeader(HeaderValue.newBuilder().setKey(name).setValue(value)).build();
  }

  private static Any fault(int delaySeconds, int abortStatus) {
    HTTPFault.Builder fault = HTTPFault.newBuilder();
    if (delaySeconds > 0) {
      fault.setDelay(FaultDelay.newBuilder()
          .setFixedDelay(com.google.protobuf.Duration.newBuilder().setSeconds(delaySeconds))
          .setPercentage(FractionalPercent.newBuilder().setNumerator(100)));
    }
    if (abortStatus > 0) {
      fault.setAbort(FaultAbort.newBuilder().setHttpStatus(abortStatus)
          .setPercentage(FractionalPercent.newBuilder().setNumerator(100)));
    }
    return Any.pack(fault.build());
  }

  private static final RouteConfiguration ROUTES = RouteConfiguration.newBuilder().setName("80")
      .addResponseHeadersToAdd(header("x-config", "c"))
      .addVirtualHosts(VirtualHost.newBuilder().setName("svc").addDomains("svc")
          .addResponseHeadersToAdd(header("x-vhost", "v"))
          .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPath("/direct"))
              .setDirectResponse(DirectResponseAction.newBuilder().setStatus(418)
                  .setBody(DataSource.newBuilder().setInlineString("short and stout")))
              .addResponseHeadersToAdd(header("x-route", "r")))
          .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/old"))
              .setRedirect(RedirectAction.newBuilder().setPrefixRewrite("/new")
                  .setHttpsRedirect(true)))
          .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/abort"))
              .setRoute(RouteAction.newBuilder().setCluster("missing"))
              .putTypedPerFilterConfig(FaultPolicy.FILTER_NAME, fault(0, 503)))
          .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/slow"))
              .setRoute(RouteAction.newBuilder().setCluster("missing"))
              .putTypedPerFilterConfig(FaultPolicy.FILTER_NAME, fault(3, 429))))
      .build();

  private static DataPlaneConfig config() {
    return DataPlaneConfig.from(new XdsSnapshot(Map.of(), Map.of(), Map.of(),
        Map.of("80", ROUTES), Map.of(), Map.of()));
  }

  private static EmbeddedChannel channel() throws Exception {
    var tls = new TlsContexts(SslContextBuilder.forClient().build(),
        SslContextBuilder.forClient().build(), s -> Optional.empty(), Optional::empty);
    return new EmbeddedChannel(new OutboundHandler(OutboundPolicyTest::config, tls,
        new HttpRelay("127.0.0.1"), METRICS, new WorkloadInfo("curl", "sample", "west"),
        new ClusterRuntimes(Clock.systemUTC(), new SplittableRandom(1))));
  }

  /** Sends a request with a body; returns it so the test can check the handler released it. */
  private static DefaultFullHttpRequest send(EmbeddedChannel channel, String host, String uri) {
    var request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, uri,
        io.netty.buffer.Unpooled.copiedBuffer("payload", StandardCharsets.UTF_8));
    request.headers().set("host", host);
    channel.writeInbound(request);
    return request;
  }

  private static double count(String code, String flags) {
    return METRICS.count("istio_requests", "response_code", code, "response_flags", flags);
  }

  @Test
  void directResponseCarriesBodyAndResponseHeadersFromEveryLevel() throws Exception {
    EmbeddedChannel channel = channel();
    var request = send(channel, "svc", "/direct");
    FullHttpResponse response = channel.readOutbound();
    assertThat(request.refCnt()).as("the request is released once answered").isZero();
    try {
      assertThat(response.status().code()).isEqualTo(418);
      assertThat(response.content().toString(StandardCharsets.UTF_8)).isEqualTo("short and stout");
      assertThat(response.headers().get("x-route")).isEqualTo("r");
      assertThat(response.headers().get("x-vhost")).isEqualTo("v");
      assertThat(response.headers().get("x-config")).isEqualTo("c");
    } finally {
      response.release();
      channel.finishAndReleaseAll();
    }
  }

  @Test
  void redirectAnswersWithLocation() throws Exception {
    EmbeddedChannel channel = channel();
    var request = send(channel, "svc", "/old/page?q=1");
    FullHttpResponse response = channel.readOutbound();
    assertThat(request.refCnt()).isZero();
    try {
      assertThat(response.status().code()).isEqualTo(301);
      assertThat(response.headers().get("location")).isEqualTo("https://svc/new/page?q=1");
    } finally {
      response.release();
      channel.finishAndReleaseAll();
    }
  }

  @Test
  void abortFaultAnswersWithoutAnUpstreamAndIsFlaggedFI() throws Exception {
    double before = count("503", "FI");
    EmbeddedChannel channel = channel();
    var request = send(channel, "svc", "/abort");
    FullHttpResponse response = channel.readOutbound();
    assertThat(request.refCnt()).isZero();
    try {
      assertThat(response.status().code()).isEqualTo(503);
      assertThat(response.content().toString(StandardCharsets.UTF_8))
          .isEqualTo("fault filter abort");
      assertThat(count("503", "FI")).isEqualTo(before + 1);
    } finally {
      response.release();
      channel.finishAndReleaseAll();
    }
  }

  @Test
  void delayFaultHoldsTheRequestOnTheEventLoopTimer() throws Exception {
    double before = count("429", "DI,FI");
    EmbeddedChannel channel = channel();
    var request = send(channel, "svc", "/slow");
    channel.advanceTimeBy(2, TimeUnit.SECONDS);
    channel.runScheduledPendingTasks();
    assertThat((Object) channel.readOutbound()).as("still delayed after 2 s").isNull();
    assertThat(request.refCnt()).as("held while delayed").isEqualTo(1);
    channel.advanceTimeBy(1, TimeUnit.SECONDS);
    channel.runScheduledPendingTasks();
    FullHttpResponse response = channel.readOutbound();
    assertThat(request.refCnt()).isZero();
    try {
      assertThat(response.status().code()).isEqualTo(429);
      assertThat(count("429", "DI,FI")).isEqualTo(before + 1);
    } finally {
      response.release();
      channel.finishAndReleaseAll();
    }
  }

  @Test
  void noRouteIs404FlaggedNR() throws Exception {
    double before = count("404", "NR");
    EmbeddedChannel channel = channel();
    send(channel, "unknown", "/");
    FullHttpResponse response = channel.readOutbound();
    try {
      assertThat(response.status().code()).isEqualTo(404);
      assertThat(count("404", "NR")).isEqualTo(before + 1);
    } finally {
      response.release();
      channel.finishAndReleaseAll();
    }
  }
}
