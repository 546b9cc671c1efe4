package io.isthmus.proxy.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Empty;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.gen.ECKeyGenerator;
import com.nimbusds.jose.util.Base64URL;
import com.nimbusds.jwt.JWTClaimsSet;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtClaimToHeader;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtHeader;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtProvider;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirement;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirementOrList;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.RemoteJwks;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.RequirementRule;
import io.isthmus.proxy.policy.JwtAuthentication.Failure;
import io.isthmus.proxy.policy.JwtAuthentication.HeaderChange;
import io.isthmus.proxy.testing.TestJwts;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The jwt_authn filter as the controller's translation emits it (one provider per rule, any of
 * them or no token at all) against requests: which tokens pass, which are refused and why, what
 * the verified payload and header changes are.
 */
class JwtAuthenticationTest {

  static final String ISS = "https://issuer.example.com";
  static final TestJwts KEYS = new TestJwts("rsa-1", "ec-1");

  /** A clock the test moves. */
  static final class MovableClock extends Clock {
    Instant now = Instant.parse("2026-11-27T12:00:00Z");

    @Override
    public java.time.ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }

    @Override
    public Instant instant() {
      return now;
    }
  }

  private final MovableClock clock = new MovableClock();

  static JwtProvider.Builder provider(String issuer, String jwks) {
    return JwtProvider.newBuilder().setIssuer(issuer)
        .setLocalJwks(DataSource.newBuilder().setInlineString(jwks)).setPayloadInMetadata("payload");
  }

  /** Istio's shape: any of the providers, or no token. */
  static io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication config(
      JwtProvider.Builder... providers) {
    var config = io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication.newBuilder();
    JwtRequirementOrList.Builder any = JwtRequirementOrList.newBuilder();
    for (int i = 0; i < providers.length; i++) {
      config.putProviders("origins-" + i, providers[i].build());
      any.addRequirements(JwtRequirement.newBuilder().setProviderName("origins-" + i));
    }
    any.addRequirements(JwtRequirement.newBuilder().setAllowMissing(Empty.getDefaultInstance()));
    return config.addRules(RequirementRule.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
            .setRequires(JwtRequirement.newBuilder().setRequiresAny(any)))
        .setBypassCorsPreflight(true).build();
  }

  private JwtAuthentication compile(JwtProvider.Builder... providers) {
    return JwtAuthentication.compile(config(providers), "jwt", clock);
  }

  private static JwtAuthentication.Request bearer(String token) {
    HttpHeaders h = new DefaultHttpHeaders();
    if (token != null) {
      h.set("authorization", "Bearer " + token);
    }
    return new JwtAuthentication.Request("GET", "/hello", h);
  }

  private JWTClaimsSet.Builder valid() {
    return TestJwts.claims(ISS, "alice", clock.now).audience(List.of("helloworld", "other"));
  }

  private final JwtAuthentication authn = compile(
      provider(ISS, KEYS.jwks()).addAudiences("helloworld"));

  @Test
  void aValidRs256TokenPassesWithItsPayloadInMetadataAndIsRemovedFromTheRequest() {
    var result = authn.authenticate(bearer(KEYS.rs256(valid().claim("groups", List.of("admins")).build())));
    assertThat(result.allowed()).isTrue();
    @SuppressWarnings("unchecked")
    Map<String, Object> payload = (Map<String, Object>) result.metadata().get("payload");
    assertThat(payload).containsEntry("iss", ISS).containsEntry("sub", "alice")
        .containsEntry("groups", List.of("admins"));
    assertThat(result.headers()).containsExactly(new HeaderChange("authorization", null));
  }

  @Test
  void aValidEs256TokenPasses() {
    assertThat(authn.authenticate(bearer(KEYS.es256(valid().build()))).allowed()).isTrue();
  }

  @Test
  void noTokenPassesUnauthenticated() {
    var result = authn.authenticate(bearer(null));
    assertThat(result.allowed()).isTrue();
    assertThat(result.metadata()).isEmpty();
  }

  @Test
  void anExpiredTokenIsRefusedPastTheClockSkewOnly() {
    String token = KEYS.rs256(TestJwts.claims(ISS, "alice", clock.now.minusSeconds(3600 + 30))
        .audience("helloworld").build());
    assertThat(authn.authenticate(bearer(token)).failure()).as("30 s late: within the 60 s skew").isNull();
    clock.now = clock.now.plusSeconds(31);
    assertThat(authn.authenticate(bearer(token)).failure()).as("cached, but expired now")
        .isEqualTo(Failure.EXPIRED);
  }

  @Test
  void aTokenNotYetValidIsRefused() {
    String token = KEYS.rs256(TestJwts.claims(ISS, "alice", clock.now.plusSeconds(120))
        .audience("helloworld").build());
    assertThat(authn.authenticate(bearer(token)).failure()).isEqualTo(Failure.NOT_YET_VALID);
  }

  @Test
  void aTokenFromAnotherIssuerIsRefused() {
    String token = KEYS.rs256(TestJwts.claims("https://evil.example", "alice", clock.now)
        .audience("helloworld").build());
    assertThat(authn.authenticate(bearer(token)).failure()).isEqualTo(Failure.ISSUER);
  }

  @Test
  void aTokenForAnotherAudienceIsRefused() {
    String token = KEYS.rs256(TestJwts.claims(ISS, "alice", clock.now).audience("billing").build());
    assertThat(authn.authenticate(bearer(token)).failure()).isEqualTo(Failure.AUDIENCE);
    String none = KEYS.rs256(TestJwts.claims(ISS, "alice", clock.now).build());
    assertThat(authn.authenticate(bearer(none)).failure()).isEqualTo(Failure.AUDIENCE);
  }

  @Test
  void aTokenSignedByAnotherKeyWithTheSameKidIsRefused() throws Exception {
    ECKey impostor = new ECKeyGenerator(Curve.P_256).keyID("ec-1").generate();
    String token = TestJwts.sign(JWSAlgorithm.ES256, "ec-1", valid().build(), impostor);
    assertThat(authn.authenticate(bearer(token)).failure()).isEqualTo(Failure.SIGNATURE);
    String unknownKid = TestJwts.sign(JWSAlgorithm.ES256, "ec-9", valid().build(), impostor);
    assertThat(authn.authenticate(bearer(unknownKid)).failure()).isEqualTo(Failure.UNKNOWN_KEY);
  }

  @Test
  void aTamperedPayloadIsRefused() {
    String[] parts = KEYS.rs256(valid().build()).split("\\.");
    String forged = Base64URL.encode(valid().subject("root").build().toString()).toString();
    assertThat(authn.authenticate(bearer(parts[0] + "." + forged + "." + parts[2])).failure())
        .isEqualTo(Failure.SIGNATURE);
  }

  @Test
  void algNoneAndHmacAreRefusedWhateverTheyClaim() {
    String payload = Base64URL.encode(valid().build().toString()).toString();
    String none = Base64URL.encode("{\"alg\":\"none\"}").toString() + "." + payload + ".";
    assertThat(authn.authenticate(bearer(none)).failure()).isIn(Failure.ALGORITHM, Failure.MALFORMED);
    String noneSigned = Base64URL.encode("{\"alg\":\"none\"}").toString() + "." + payload + ".c2ln";
    assertThat(authn.authenticate(bearer(noneSigned)).failure()).isEqualTo(Failure.ALGORITHM);
    String hs = Base64URL.encode("{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}").toString() + "." + payload
        + ".c2ln";
    assertThat(authn.authenticate(bearer(hs)).failure()).isEqualTo(Failure.ALGORITHM);
  }

  @Test
  void garbageIsMalformed() {
    for (String garbage : List.of("abc", "a.b", "a.b.c.d", "!!!.???.###", "e30.e30.")) {
      assertThat(authn.authenticate(bearer(garbage)).failure()).as(garbage).isIn(Failure.MALFORMED,
          Failure.ALGORITHM);
    }
  }

  @Test
  void aHotTokenIsVerifiedOnceThenServedFromTheCache() {
    String token = KEYS.rs256(valid().build());
    JwtVerifier p = authn.providers().get("origins-0");
    assertThat(p.cacheSize()).isZero();
    for (int i = 0; i < 100; i++) {
      assertThat(authn.authenticate(bearer(token)).allowed()).isTrue();
    }
    assertThat(p.cacheSize()).isEqualTo(1);
    // A different token (one signature character changed) is not the cached one. Not the last
    // characters: their low bits are padding a decoder ignores, so "changing" them can leave the
    // signature as it was (this test failed that way once).
    int at = token.length() - 10;
    char other = token.charAt(at) == 'A' ? 'B' : 'A';
    String tampered = token.substring(0, at) + other + token.substring(at + 1);
    assertThat(authn.authenticate(bearer(tampered)).allowed()).isFalse();
    assertThat(p.cacheSize()).isEqualTo(1);
  }

  @Test
  void withTwoIssuersEachTokenFindsItsProvider() {
    TestJwts other = new TestJwts("o-rsa", "o-ec");
    JwtAuthentication two = compile(provider(ISS, KEYS.jwks()), provider("https://other", other.jwks()));
    assertThat(two.authenticate(bearer(KEYS.rs256(valid().build()))).allowed()).isTrue();
    assertThat(two.authenticate(bearer(other.es256(TestJwts.claims("https://other", "bob", clock.now)
        .build()))).allowed()).isTrue();
    // Right issuer, wrong issuer's key.
    assertThat(two.authenticate(bearer(other.es256(valid().build()))).failure())
        .isEqualTo(Failure.UNKNOWN_KEY);
  }

  @Test
  void customPlacesForwardingAndClaimHeaders() {
    JwtAuthentication custom = compile(provider(ISS, KEYS.jwks())
        .addFromHeaders(JwtHeader.newBuilder().setName("x-jwt").setValuePrefix("Token "))
        .addFromParams("token")
        .setForward(true)
        .setForwardPayloadHeader("x-jwt-payload")
        .addClaimToHeaders(JwtClaimToHeader.newBuilder().setHeaderName("x-sub").setClaimName("sub")));
    String token = KEYS.rs256(valid().build());
    HttpHeaders h = new DefaultHttpHeaders().set("x-jwt", "Token " + token);
    var result = custom.authenticate(new JwtAuthentication.Request("GET", "/", h));
    assertThat(result.allowed()).isTrue();
    assertThat(result.headers()).containsExactlyInAnyOrder(
        new HeaderChange("x-jwt-payload", token.split("\\.")[1]), new HeaderChange("x-sub", "alice"));
    assertThat(custom.authenticate(new JwtAuthentication.Request("GET", "/x?token=" + token,
        new DefaultHttpHeaders())).metadata()).containsKey("payload");
    // The default Authorization header is not a place of this provider: a bad token there is ignored.
    assertThat(custom.authenticate(bearer("garbage")).allowed()).isTrue();
    assertThat(custom.authenticate(new JwtAuthentication.Request("GET", "/x?token=garbage",
        new DefaultHttpHeaders())).failure()).isEqualTo(Failure.MALFORMED);
  }

  @Test
  void corsPreflightsPassWithoutAToken() {
    HttpHeaders h = new DefaultHttpHeaders().set("origin", "https://app").set("access-control-request-method", "GET")
        .set("authorization", "Bearer garbage");
    assertThat(authn.authenticate(new JwtAuthentication.Request("OPTIONS", "/", h)).allowed()).isTrue();
  }

  @Test
  void whatCannotBeHonouredIsRefusedWithTheField() {
    assertThatThrownBy(() -> JwtAuthentication.compile(config(JwtProvider.newBuilder().setIssuer(ISS)
        .setRemoteJwks(RemoteJwks.getDefaultInstance())), "hcm.http_filters[0]", clock))
        .hasMessageContaining("hcm.http_filters[0].providers[origins-0].remote_jwks");
    assertThatThrownBy(() -> compile(provider(ISS, "{\"not\":\"keys\"")))
        .hasMessageContaining("jwt.providers[origins-0].local_jwks: not a JSON Web Key Set");
    var onPath = config(provider(ISS, KEYS.jwks())).toBuilder();
    onPath.setRules(0, onPath.getRules(0).toBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/api")));
    assertThatThrownBy(() -> JwtAuthentication.compile(onPath.build(), "jwt", clock))
        .hasMessageContaining("jwt.rules[0].match");
    var unknown = config(provider(ISS, KEYS.jwks())).toBuilder();
    unknown.setRules(0, unknown.getRules(0).toBuilder().setRequires(
        JwtRequirement.newBuilder().setProviderName("nope")));
    assertThatThrownBy(() -> JwtAuthentication.compile(unknown.build(), "jwt", clock))
        .hasMessageContaining("jwt.rules[0].requires.provider_name: 'nope'");
  }

  @Test
  void keysNotFetchedYetRefuseEveryTokenButNotTheLackOfOne() {
    JwtAuthentication empty = compile(provider(ISS, "{\"keys\":[]}"));
    assertThat(empty.authenticate(bearer(KEYS.rs256(valid().build()))).failure())
        .isEqualTo(Failure.UNKNOWN_KEY);
    assertThat(empty.authenticate(bearer(null)).allowed()).isTrue();
  }

  @Test
  void theFailureMessageIsEnvoys() {
    assertThat(Failure.EXPIRED.message()).isEqualTo("Jwt is expired");
    assertThat(Failure.SIGNATURE.label()).isEqualTo("signature");
    assertThat(Duration.ofSeconds(JwtVerifier.DEFAULT_SKEW_SECONDS)).isEqualTo(Duration.ofMinutes(1));
  }
}
