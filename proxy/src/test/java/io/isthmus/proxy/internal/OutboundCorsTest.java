package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.core.v3.RuntimeFractionalPercent;
import io.envoyproxy.envoy.config.route.v3.DirectResponseAction;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.envoyproxy.envoy.type.v3.FractionalPercent;
import io.isthmus.proxy.policy.CorsPolicy;
import io.isthmus.proxy.policy.RouteRules;
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
import org.junit.jupiter.api.Test;

/**
 * A route's {@code envoy.filters.http.cors} policy, as Istio emits a VirtualService
 * {@code corsPolicy}, through the outbound handler on an EmbeddedChannel: preflights the proxy
 * answers, headers on an allowed origin's responses, origins that do not match.
 */
class OutboundCorsTest {

  private static final ProxyMetrics METRICS = new ProxyMetrics();

  private static io.envoyproxy.envoy.extensions.filters.http.cors.v3.CorsPolicy.Builder cors() {
    return io.envoyproxy.envoy.extensions.filters.http.cors.v3.CorsPolicy.newBuilder()
        .addAllowOriginStringMatch(StringMatcher.newBuilder().setExact("https://app.example"))
        .addAllowOriginStringMatch(StringMatcher.newBuilder().setPrefix("https://admin."))
        .addAllowOriginStringMatch(StringMatcher.newBuilder()
            .setSafeRegex(RegexMatcher.newBuilder().setRegex("https://[a-z]+\\.dev\\.example")))
        .setAllowMethods("GET,POST")
        .setAllowHeaders("x-user,content-type")
        .setExposeHeaders("x-served-by")
        .setMaxAge("600")
        .setAllowCredentials(BoolValue.of(true))
        .setFilterEnabled(RuntimeFractionalPercent.newBuilder().setDefaultValue(
            FractionalPercent.newBuilder().setNumerator(100)));
  }

  private static Route.Builder direct(String path, int status, String body) {
    return Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix(path))
        .setDirectResponse(DirectResponseAction.newBuilder().setStatus(status)
            .setBody(DataSource.newBuilder().setInlineString(body)));
  }

  private static final RouteConfiguration ROUTES = RouteConfiguration.newBuilder().setName("80")
      .addVirtualHosts(VirtualHost.newBuilder().setName("svc").addDomains("svc")
          // Forwarding would fail (no such cluster): a preflight answered here never gets there.
          .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/api"))
              .setRoute(RouteAction.newBuilder().setCluster("missing"))
              .putTypedPerFilterConfig(CorsPolicy.FILTER_NAME, Any.pack(cors().build())))
          .addRoutes(direct("/page", 200, "page")
              .putTypedPerFilterConfig(CorsPolicy.FILTER_NAME, Any.pack(cors().build())))
          .addRoutes(direct("/strict", 200, "strict")
              .putTypedPerFilterConfig(CorsPolicy.FILTER_NAME, Any.pack(cors()
                  .setForwardNotMatchingPreflights(BoolValue.of(false)).build())))
          .addRoutes(direct("/any", 200, "any")
              .putTypedPerFilterConfig(CorsPolicy.FILTER_NAME, Any.pack(cors()
                  .clearAllowOriginStringMatch()
                  .addAllowOriginStringMatch(StringMatcher.newBuilder().setExact("*"))
                  .setAllowMethods("*").setAllowHeaders("*").clearAllowCredentials().build())))
          .addRoutes(direct("/plain", 200, "plain")))
      .build();

  private static EmbeddedChannel channel() throws Exception {
    return channel(METRICS);
  }

  private static EmbeddedChannel channel(ProxyMetrics metrics) throws Exception {
    var tls = new TlsContexts(SslContextBuilder.forClient().build(),
        SslContextBuilder.forClient().build(), s -> Optional.empty(), Optional::empty);
    DataPlaneConfig config = DataPlaneConfig.from(new XdsSnapshot(Map.of(), Map.of(), Map.of(),
        Map.of("80", ROUTES), Map.of(), Map.of()));
    return new EmbeddedChannel(new OutboundHandler(() -> config, tls,
        new HttpRelay("127.0.0.1"), metrics, new WorkloadInfo("curl", "sample", "west"),
        new ClusterRuntimes(Clock.systemUTC(), new SplittableRandom(1))));
  }

  private static FullHttpResponse send(HttpMethod method, String uri, String... headers)
      throws Exception {
    return send(METRICS, method, uri, headers);
  }

  private static FullHttpResponse send(ProxyMetrics metrics, HttpMethod method, String uri,
      String... headers) throws Exception {
    EmbeddedChannel channel = channel(metrics);
    var request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, method, uri,
        io.netty.buffer.Unpooled.copiedBuffer("payload", StandardCharsets.UTF_8));
    request.headers().set("host", "svc");
    for (int i = 0; i < headers.length; i += 2) {
      request.headers().set(headers[i], headers[i + 1]);
    }
    channel.writeInbound(request);
    FullHttpResponse response = channel.readOutbound();
    assertThat(request.refCnt()).as("the request is released once answered").isZero();
    channel.finishAndReleaseAll();
    return response;
  }

  private static Map<String, String> cors(FullHttpResponse response) {
    Map<String, String> out = new java.util.TreeMap<>();
    response.headers().forEach(h -> {
      if (h.getKey().toLowerCase().startsWith("access-control-")) {
        out.put(h.getKey().toLowerCase(), h.getValue());
      }
    });
    response.release();
    return out;
  }

  @Test
  void aPreflightFromAnAllowedOriginIsAnsweredByTheProxy() throws Exception {
    ProxyMetrics metrics = new ProxyMetrics();
    FullHttpResponse response = send(metrics, HttpMethod.OPTIONS, "/api/orders",
        "origin", "https://app.example", "access-control-request-method", "POST");
    assertThat(response.status().code()).isEqualTo(200);
    assertThat(cors(response)).isEqualTo(Map.of(
        "access-control-allow-origin", "https://app.example",
        "access-control-allow-credentials", "true",
        "access-control-allow-methods", "GET,POST",
        "access-control-allow-headers", "x-user,content-type",
        "access-control-max-age", "600"));
    assertThat(metrics.count("istio_requests", "response_code", "200")).isEqualTo(1);
  }

  @Test
  void prefixAndRegexOriginsMatchAsEnvoysStringMatchers() throws Exception {
    for (String origin : new String[] {"https://admin.example", "https://qa.dev.example"}) {
      assertThat(cors(send(HttpMethod.OPTIONS, "/api", "origin", origin,
          "access-control-request-method", "GET")))
          .containsEntry("access-control-allow-origin", origin);
    }
  }

  @Test
  void anAllowedOriginsResponseCarriesOriginCredentialsAndExposedHeaders() throws Exception {
    FullHttpResponse response = send(HttpMethod.GET, "/page", "origin", "https://app.example");
    assertThat(response.content().toString(StandardCharsets.UTF_8)).isEqualTo("page");
    assertThat(cors(response)).isEqualTo(Map.of(
        "access-control-allow-origin", "https://app.example",
        "access-control-allow-credentials", "true",
        "access-control-expose-headers", "x-served-by"));
  }

  @Test
  void anUnmatchedOriginGetsNoCorsHeadersAndItsPreflightIsForwardedByDefault() throws Exception {
    assertThat(cors(send(HttpMethod.GET, "/page", "origin", "https://evil.example"))).isEmpty();
    // Forwarded (Envoy's default): the route's missing cluster answers, not the CORS filter.
    FullHttpResponse forwarded = send(HttpMethod.OPTIONS, "/api",
        "origin", "https://evil.example", "access-control-request-method", "POST");
    assertThat(forwarded.status().code()).isEqualTo(503);
    assertThat(cors(forwarded)).isEmpty();
    // unmatchedPreflights: IGNORE → answered here, without allow-origin.
    FullHttpResponse ignored = send(HttpMethod.OPTIONS, "/strict",
        "origin", "https://evil.example", "access-control-request-method", "POST");
    assertThat(ignored.status().code()).isEqualTo(200);
    assertThat(ignored.content().readableBytes()).isZero();
    assertThat(cors(ignored)).doesNotContainKey("access-control-allow-origin")
        .containsEntry("access-control-allow-methods", "GET,POST");
  }

  @Test
  void aWildcardOriginAllowsAnyAndStarMethodsEchoTheRequest() throws Exception {
    assertThat(cors(send(HttpMethod.OPTIONS, "/any", "origin", "https://whoever.example",
        "access-control-request-method", "PATCH", "access-control-request-headers", "x-a,x-b")))
        .isEqualTo(Map.of(
            "access-control-allow-origin", "https://whoever.example",
            "access-control-allow-methods", "PATCH",
            "access-control-allow-headers", "x-a,x-b",
            "access-control-max-age", "600"));
  }

  @Test
  void requestsWithoutOriginOrRoutesWithoutPolicyAreUntouched() throws Exception {
    assertThat(cors(send(HttpMethod.GET, "/page"))).isEmpty();
    FullHttpResponse options = send(HttpMethod.OPTIONS, "/plain",
        "origin", "https://app.example", "access-control-request-method", "POST");
    assertThat(options.content().toString(StandardCharsets.UTF_8)).isEqualTo("plain");
    assertThat(cors(options)).isEmpty();
  }

  @Test
  void aBadPolicyIsRejectedNamingTheField() {
    RouteConfiguration bad = RouteConfiguration.newBuilder().setName("80")
        .addVirtualHosts(VirtualHost.newBuilder().setName("svc").addDomains("svc")
            .addRoutes(direct("/", 200, "x").putTypedPerFilterConfig(CorsPolicy.FILTER_NAME,
                Any.pack(cors().setMaxAge("ten minutes").build()))))
        .build();
    assertThatThrownBy(() -> RouteRules.compile(bad))
        .hasMessage("route configuration 80: virtual_hosts[svc].routes[0].typed_per_filter_config"
            + "[envoy.filters.http.cors].max_age: 'ten minutes' (expected: a number of seconds)");
  }

  /**
   * Not CORS, but the same local-reply path: a fault abort with a gRPC status (Istio's
   * {@code fault.abort.grpcStatus}) answers a gRPC request trailers-only, HTTP 200 with that
   * {@code grpc-status}; an HTTP abort to a gRPC request is mapped as Envoy's local replies are.
   */
  @Test
  void aGrpcAbortAnswersTrailersOnlyWithItsStatus() throws Exception {
    RouteConfiguration routes = RouteConfiguration.newBuilder().setName("80")
        .addVirtualHosts(VirtualHost.newBuilder().setName("svc").addDomains("svc")
            .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/grpc"))
                .setRoute(RouteAction.newBuilder().setCluster("missing"))
                .putTypedPerFilterConfig("envoy.filters.http.fault", Any.pack(
                    io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault.newBuilder()
                        .setAbort(io.envoyproxy.envoy.extensions.filters.http.fault.v3.FaultAbort
                            .newBuilder().setGrpcStatus(14)
                            .setPercentage(FractionalPercent.newBuilder().setNumerator(100)))
                        .build())))
            .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/http"))
                .setRoute(RouteAction.newBuilder().setCluster("missing"))
                .putTypedPerFilterConfig("envoy.filters.http.fault", Any.pack(
                    io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault.newBuilder()
                        .setAbort(io.envoyproxy.envoy.extensions.filters.http.fault.v3.FaultAbort
                            .newBuilder().setHttpStatus(503)
                            .setPercentage(FractionalPercent.newBuilder().setNumerator(100)))
                        .build()))))
        .build();
    DataPlaneConfig config = DataPlaneConfig.from(new XdsSnapshot(Map.of(), Map.of(), Map.of(),
        Map.of("80", routes), Map.of(), Map.of()));
    var tls = new TlsContexts(SslContextBuilder.forClient().build(),
        SslContextBuilder.forClient().build(), s -> Optional.empty(), Optional::empty);
    ProxyMetrics metrics = new ProxyMetrics();
    for (String[] c : new String[][] {{"/grpc/Svc/Call", "14"}, {"/http/Svc/Call", "14"}}) {
      EmbeddedChannel channel = new EmbeddedChannel(new OutboundHandler(() -> config, tls,
          new HttpRelay("127.0.0.1"), metrics, new WorkloadInfo("curl", "sample", "west"),
          new ClusterRuntimes(Clock.systemUTC(), new SplittableRandom(1))));
      var request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, c[0],
          io.netty.buffer.Unpooled.copiedBuffer("payload", StandardCharsets.UTF_8));
      request.headers().set("host", "svc").set("content-type", "application/grpc");
      channel.writeInbound(request);
      FullHttpResponse response = channel.readOutbound();
      try {
        assertThat(request.refCnt()).isZero();
        assertThat(response.status().code()).as(c[0]).isEqualTo(200);
        assertThat(response.headers().get("grpc-status")).as(c[0]).isEqualTo(c[1]);
        assertThat(response.headers().get("content-type")).isEqualTo("application/grpc");
        assertThat(response.content().readableBytes()).isZero();
      } finally {
        response.release();
        channel.finishAndReleaseAll();
      }
    }
    assertThat(metrics.count("istio_requests", "response_code", "200",
        "grpc_response_status", "14")).isEqualTo(1);
    assertThat(metrics.count("istio_requests", "response_code", "503",
        "grpc_response_status", "14")).isEqualTo(1);
  }
}
