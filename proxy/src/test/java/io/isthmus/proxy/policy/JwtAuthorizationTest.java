package io.isthmus.proxy.policy;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import io.envoyproxy.envoy.config.rbac.v3.Permission;
import io.envoyproxy.envoy.config.rbac.v3.Policy;
import io.envoyproxy.envoy.config.rbac.v3.Principal;
import io.envoyproxy.envoy.config.rbac.v3.RBAC;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.type.matcher.v3.ListMatcher;
import io.envoyproxy.envoy.type.matcher.v3.MetadataMatcher;
import io.envoyproxy.envoy.type.matcher.v3.OrMatcher;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.envoyproxy.envoy.type.matcher.v3.ValueMatcher;
import io.isthmus.proxy.testing.TestJwts;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.net.InetAddress;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * AuthorizationPolicy rules on request principals and JWT claims, in the RBAC shapes the
 * controller's translation emits (metadata matchers on the jwt_authn payload), behind the
 * jwt_authn filter: "rule + token → decision". {@code 401} when the token itself is refused.
 */
class JwtAuthorizationTest {

  private static final String ISS = "https://issuer.example.com";
  private static final TestJwts KEYS = JwtAuthenticationTest.KEYS;
  private static final Instant NOW = Instant.parse("2026-11-27T12:00:00Z");
  private static final Clock CLOCK = Clock.fixed(NOW, ZoneOffset.UTC);

  // --- the translator's shapes ---

  private static StringMatcher exact(String v) {
    return StringMatcher.newBuilder().setExact(v).build();
  }

  private static StringMatcher prefix(String v) {
    return StringMatcher.newBuilder().setPrefix(v).build();
  }

  private static StringMatcher any() {
    return StringMatcher.newBuilder().setSafeRegex(RegexMatcher.newBuilder().setRegex(".+")).build();
  }

  private static Principal payload(List<String> path, ValueMatcher value) {
    MetadataMatcher.Builder m = MetadataMatcher.newBuilder().setFilter(JwtAuthentication.FILTER)
        .addPath(MetadataMatcher.PathSegment.newBuilder().setKey("payload"));
    path.forEach(k -> m.addPath(MetadataMatcher.PathSegment.newBuilder().setKey(k)));
    return Principal.newBuilder().setMetadata(m.setValue(value)).build();
  }

  /** requestPrincipals: iss and sub. */
  private static Principal requestPrincipal(StringMatcher iss, StringMatcher sub) {
    return Principal.newBuilder().setAndIds(Principal.Set.newBuilder()
        .addIds(payload(List.of("iss"), ValueMatcher.newBuilder().setStringMatch(iss).build()))
        .addIds(payload(List.of("sub"), ValueMatcher.newBuilder().setStringMatch(sub).build()))).build();
  }

  /** A claim, string or list of strings, against any of the values. */
  private static Principal claim(List<String> path, StringMatcher... values) {
    List<ValueMatcher> strings = Stream.of(values)
        .map(v -> ValueMatcher.newBuilder().setStringMatch(v).build()).toList();
    ValueMatcher oneOf = strings.size() == 1 ? strings.get(0)
        : ValueMatcher.newBuilder().setOrMatch(OrMatcher.newBuilder().addAllValueMatchers(strings)).build();
    return payload(path, ValueMatcher.newBuilder().setOrMatch(OrMatcher.newBuilder()
        .addValueMatchers(ValueMatcher.newBuilder().setListMatch(ListMatcher.newBuilder().setOneOf(oneOf)))
        .addValueMatchers(oneOf)).build());
  }

  private static Principal not(Principal p) {
    return Principal.newBuilder().setNotId(p).build();
  }

  private static HttpFilter rbac(RBAC.Action action, Principal principal) {
    return HttpFilter.newBuilder().setName(Authorization.RBAC_FILTER)
        .setTypedConfig(Any.pack(io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.newBuilder()
            .setRules(RBAC.newBuilder().setAction(action).putPolicies("rule", Policy.newBuilder()
                .addPermissions(Permission.newBuilder().setAny(true)).addPrincipals(principal).build()))
            .build()))
        .build();
  }

  private static final HttpFilter JWT = HttpFilter.newBuilder().setName(JwtAuthentication.FILTER)
      .setTypedConfig(Any.pack(JwtAuthenticationTest.config(
          JwtAuthenticationTest.provider(ISS, KEYS.jwks())))).build();

  private static Authorization authorization(HttpFilter... rbac) {
    return Authorization.of(HttpConnectionManager.newBuilder().addHttpFilters(JWT)
        .addAllHttpFilters(List.of(rbac)).build(), "hcm", CLOCK);
  }

  /** What the two handlers do in turn: authenticate (401), then authorize (403). */
  private static String decide(Authorization authz, String token) throws Exception {
    HttpHeaders headers = new DefaultHttpHeaders();
    if (token != null) {
      headers.set("authorization", "Bearer " + token);
    }
    JwtAuthentication.Result authn = authz.jwt().authenticate(new JwtAuthentication.Request("GET", "/", headers));
    if (!authn.allowed()) {
      return "401";
    }
    InetAddress ip = InetAddress.getByName("127.102.1.1");
    AuthzRequest request = new AuthzRequest(Optional.of("spiffe://cluster.local/ns/sample/sa/curl"), ip, ip,
        InetAddress.getByName("127.101.1.1"), 5000, "", "GET", "helloworld:5000", "/", headers,
        authn.metadata());
    Authorization.Decision d = authz.decide(request);
    return d.allowed() ? "allow" : "deny";
  }

  private static String token(Map<String, Object> claims) {
    return KEYS.rs256(TestJwts.with(TestJwts.claims(ISS, "alice", NOW), claims));
  }

  static Stream<Arguments> table() {
    Authorization alice = authorization(rbac(RBAC.Action.ALLOW, requestPrincipal(exact(ISS), exact("alice"))));
    Authorization anyone = authorization(rbac(RBAC.Action.ALLOW, requestPrincipal(any(), any())));
    Authorization denyAnonymous = authorization(rbac(RBAC.Action.DENY, not(requestPrincipal(any(), any()))));
    Authorization noPolicy = authorization();
    Authorization admins = authorization(rbac(RBAC.Action.ALLOW, claim(List.of("groups"), exact("admins"),
        prefix("ops"))));
    Authorization realmRole = authorization(rbac(RBAC.Action.ALLOW, claim(List.of("realm", "role"),
        exact("editor"))));
    Authorization audience = authorization(rbac(RBAC.Action.ALLOW, claim(List.of("aud"), exact("helloworld"))));
    Authorization presenter = authorization(rbac(RBAC.Action.ALLOW, claim(List.of("azp"), exact("web"))));
    Authorization notGuest = authorization(rbac(RBAC.Action.DENY, claim(List.of("role"), exact("guest"))));
    return Stream.of(
        Arguments.of("requestPrincipals alice: alice's token", alice, token(Map.of()), "allow"),
        Arguments.of("requestPrincipals alice: bob's token", alice,
            KEYS.rs256(TestJwts.claims(ISS, "bob", NOW).build()), "deny"),
        Arguments.of("requestPrincipals alice: no token", alice, null, "deny"),
        Arguments.of("requestPrincipals alice: a forged token", alice, "x" + token(Map.of()), "401"),
        Arguments.of("requestPrincipals *: any valid token", anyone, token(Map.of()), "allow"),
        Arguments.of("requestPrincipals *: no token", anyone, null, "deny"),
        Arguments.of("DENY notRequestPrincipals *: no token", denyAnonymous, null, "deny"),
        Arguments.of("DENY notRequestPrincipals *: a token", denyAnonymous, token(Map.of()), "allow"),
        Arguments.of("no policy: no token", noPolicy, null, "allow"),
        Arguments.of("no policy: a bad token is still refused", noPolicy, "a.b.c", "401"),
        Arguments.of("claims[groups] admins: in a list", admins, token(Map.of("groups", List.of("dev", "admins"))),
            "allow"),
        Arguments.of("claims[groups] ops*: prefix in a list", admins, token(Map.of("groups", List.of("ops-eu"))),
            "allow"),
        Arguments.of("claims[groups] admins: as a string", admins, token(Map.of("groups", "admins")), "allow"),
        Arguments.of("claims[groups] admins: other groups", admins, token(Map.of("groups", List.of("dev"))), "deny"),
        Arguments.of("claims[groups] admins: no such claim", admins, token(Map.of()), "deny"),
        Arguments.of("claims[groups] admins: a number", admins, token(Map.of("groups", 7)), "deny"),
        Arguments.of("claims[realm][role] editor: nested", realmRole,
            token(Map.of("realm", Map.of("role", "editor"))), "allow"),
        Arguments.of("claims[realm][role] editor: other role", realmRole,
            token(Map.of("realm", Map.of("role", "viewer"))), "deny"),
        Arguments.of("claims[realm][role] editor: realm not an object", realmRole,
            token(Map.of("realm", "editor")), "deny"),
        Arguments.of("audiences helloworld", audience, token(Map.of("aud", List.of("x", "helloworld"))), "allow"),
        Arguments.of("audiences helloworld: other", audience, token(Map.of("aud", "x")), "deny"),
        Arguments.of("presenter web", presenter, token(Map.of("azp", "web")), "allow"),
        Arguments.of("presenter web: cli", presenter, token(Map.of("azp", "cli")), "deny"),
        Arguments.of("DENY role guest: guest", notGuest, token(Map.of("role", "guest")), "deny"),
        Arguments.of("DENY role guest: admin", notGuest, token(Map.of("role", "admin")), "allow"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("table")
  void ruleAndTokenGiveTheDecision(String name, Authorization authz, String token, String expected)
      throws Exception {
    assertThat(decide(authz, token)).isEqualTo(expected);
  }

}
