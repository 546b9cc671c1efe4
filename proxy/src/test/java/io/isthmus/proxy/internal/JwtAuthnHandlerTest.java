package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Empty;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtProvider;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirement;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirementOrList;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.RequirementRule;
import io.isthmus.proxy.policy.JwtAuthentication;
import io.isthmus.proxy.testing.TestJwts;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The JWT handler on an embedded channel: 401 with a challenge, or the request on its way with its claims. */
class JwtAuthnHandlerTest {

  private static final String ISS = "https://issuer.example.com";
  private static final TestJwts KEYS = new TestJwts("r", "e");
  private static final int PORT = 5000;

  private final ProxyMetrics metrics = new ProxyMetrics();
  private final List<Map<String, Object>> seenMetadata = new ArrayList<>();
  private final List<FullHttpRequest> passed = new ArrayList<>();
  private final JwtAuthentication authn = JwtAuthentication.compile(config(), "jwt", Clock.systemUTC());
  private final EmbeddedChannel channel = new EmbeddedChannel(
      new JwtAuthnHandler(PORT, p -> authn, metrics),
      new ChannelInboundHandlerAdapter() {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
          // What the AuthorizationHandler behind reads, while the request passes.
          seenMetadata.add(ctx.channel().attr(JwtAuthnHandler.METADATA).get());
          passed.add((FullHttpRequest) msg);
        }
      });

  private static io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication config() {
    return io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication.newBuilder()
        .putProviders("origins-0", JwtProvider.newBuilder().setIssuer(ISS).addAudiences("helloworld")
            .setLocalJwks(DataSource.newBuilder().setInlineString(KEYS.jwks()))
            .setPayloadInMetadata("payload").build())
        .addRules(RequirementRule.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
            .setRequires(JwtRequirement.newBuilder().setRequiresAny(JwtRequirementOrList.newBuilder()
                .addRequirements(JwtRequirement.newBuilder().setProviderName("origins-0"))
                .addRequirements(JwtRequirement.newBuilder().setAllowMissing(Empty.getDefaultInstance())))))
        .build();
  }

  @AfterEach
  void release() {
    passed.forEach(FullHttpRequest::release);
    channel.finishAndReleaseAll();
  }

  private static FullHttpRequest request(String authorization, boolean grpc) {
    FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/hello?x=1");
    r.headers().set("host", "helloworld:5000");
    if (authorization != null) {
      r.headers().set("authorization", authorization);
    }
    if (grpc) {
      r.headers().set("content-type", "application/grpc");
    }
    return r;
  }

  private String valid() {
    Instant now = Instant.now();
    return KEYS.rs256(TestJwts.claims(ISS, "alice", now).audience("helloworld").build());
  }

  @Test
  void aValidTokenPassesWithoutItsHeaderAndItsClaimsAreVisibleOnlyDuringThePass() {
    channel.writeInbound(request("Bearer " + valid(), false));
    assertThat(passed).hasSize(1);
    assertThat(passed.get(0).headers().contains("authorization")).isFalse();
    assertThat(seenMetadata.get(0)).containsKey("payload");
    assertThat(((Map<?, ?>) seenMetadata.get(0).get("payload")).get("sub")).isEqualTo("alice");
    assertThat(channel.attr(JwtAuthnHandler.METADATA).get()).as("cleared after the pass").isNull();
    assertThat((Object) channel.readOutbound()).isNull();
  }

  @Test
  void noTokenPassesWithoutClaims() {
    channel.writeInbound(request(null, false));
    assertThat(passed).hasSize(1);
    assertThat(seenMetadata.get(0)).isNull();
  }

  @Test
  void aBadTokenIsAnswered401WithABearerChallengeAndCounted() {
    String expired = KEYS.rs256(TestJwts.claims(ISS, "alice", Instant.now().minusSeconds(7200))
        .audience("helloworld").build());
    FullHttpRequest request = request("Bearer " + expired, false);
    channel.writeInbound(request);
    assertThat(passed).isEmpty();
    assertThat(request.refCnt()).as("the refused request is released").isZero();
    FullHttpResponse response = channel.readOutbound();
    try {
      assertThat(response.status().code()).isEqualTo(401);
      assertThat(response.headers().get("www-authenticate"))
          .isEqualTo("Bearer realm=\"http://helloworld:5000/hello\", error=\"invalid_token\"");
      assertThat(response.content().toString(StandardCharsets.UTF_8)).isEqualTo("Jwt is expired\n");
    } finally {
      response.release();
    }
    assertThat(metrics.count("isthmus_jwt_authn_denied", "port", "5000", "reason", "expired")).isEqualTo(1);
  }

  @Test
  void aGrpcCallGetsUnauthenticated() {
    channel.writeInbound(request("Bearer x.y.z", true));
    FullHttpResponse response = channel.readOutbound();
    try {
      assertThat(response.status().code()).isEqualTo(200);
      assertThat(response.headers().get("grpc-status")).isEqualTo("16");
    } finally {
      response.release();
    }
  }

  @Test
  void withoutJwtAuthenticationEveryRequestPassesUntouched() {
    EmbeddedChannel plain = new EmbeddedChannel(new JwtAuthnHandler(PORT, p -> JwtAuthentication.NONE, metrics));
    FullHttpRequest r = request("Bearer garbage", false);
    plain.writeInbound(r);
    FullHttpRequest out = plain.readInbound();
    assertThat(out).isSameAs(r);
    assertThat(out.headers().get("authorization")).isEqualTo("Bearer garbage");
    out.release();
    plain.finishAndReleaseAll();
  }
}
