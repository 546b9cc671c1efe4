package io.isthmus.proxy.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.core.v3.CidrRange;
import io.envoyproxy.envoy.config.rbac.v3.Permission;
import io.envoyproxy.envoy.config.rbac.v3.Policy;
import io.envoyproxy.envoy.config.rbac.v3.Principal;
import io.envoyproxy.envoy.config.rbac.v3.RBAC;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.type.matcher.v3.MetadataMatcher;
import io.envoyproxy.envoy.type.matcher.v3.PathMatcher;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.net.InetAddress;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Envoy RBAC filters as Istio's translation emits them (DENY filter, then ALLOW filter) against
 * requests: tables of "policy + request → allowed or denied", and the path-encoding bypass table.
 */
class AuthorizationTest {

  private static final String CURL = "spiffe://cluster.local/ns/sample/sa/curl";
  private static final String OTHER = "spiffe://cluster.local/ns/other/sa/robot";

  // --- building blocks, shaped like SecurityTranslator's output ---

  private static StringMatcher exact(String v) {
    return StringMatcher.newBuilder().setExact(v).build();
  }

  private static StringMatcher prefix(String v) {
    return StringMatcher.newBuilder().setPrefix(v).build();
  }

  private static Permission path(StringMatcher m) {
    return Permission.newBuilder().setUrlPath(PathMatcher.newBuilder().setPath(m)).build();
  }

  private static Permission or(Permission... p) {
    return Permission.newBuilder().setOrRules(Permission.Set.newBuilder().addAllRules(List.of(p))).build();
  }

  private static Permission and(Permission... p) {
    return Permission.newBuilder().setAndRules(Permission.Set.newBuilder().addAllRules(List.of(p))).build();
  }

  private static Permission anyPermission() {
    return Permission.newBuilder().setAny(true).build();
  }

  private static Principal anyPrincipal() {
    return Principal.newBuilder().setAny(true).build();
  }

  private static Principal authenticated(StringMatcher m) {
    return Principal.newBuilder().setAuthenticated(Principal.Authenticated.newBuilder().setPrincipalName(m)).build();
  }

  private static Principal and(Principal... p) {
    return Principal.newBuilder().setAndIds(Principal.Set.newBuilder().addAllIds(List.of(p))).build();
  }

  /** Any verified token: the payload has an {@code iss}. */
  private static final Principal ANY_ISSUER = Principal.newBuilder().setMetadata(MetadataMatcher.newBuilder()
      .setFilter(JwtAuthentication.FILTER)
      .addPath(MetadataMatcher.PathSegment.newBuilder().setKey("payload"))
      .addPath(MetadataMatcher.PathSegment.newBuilder().setKey("iss"))
      .setValue(io.envoyproxy.envoy.type.matcher.v3.ValueMatcher.newBuilder().setPresentMatch(true))).build();

  private static Principal not(Principal p) {
    return Principal.newBuilder().setNotId(p).build();
  }

  private static Policy policy(Permission permission, Principal principal) {
    return Policy.newBuilder().addPermissions(permission).addPrincipals(principal).build();
  }

  private static HttpFilter filter(RBAC.Action action, Map<String, Policy> policies) {
    return HttpFilter.newBuilder().setName(Authorization.RBAC_FILTER)
        .setTypedConfig(Any.pack(io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.newBuilder()
            .setRules(RBAC.newBuilder().setAction(action).putAllPolicies(policies)).build()))
        .build();
  }

  private static Authorization authorization(HttpFilter... filters) {
    return Authorization.of(HttpConnectionManager.newBuilder()
        .setNormalizePath(BoolValue.of(true)).setMergeSlashes(true)
        .setPathWithEscapedSlashesAction(HttpConnectionManager.PathWithEscapedSlashesAction.REJECT_REQUEST)
        .addAllHttpFilters(List.of(filters)).build(), "test");
  }

  private record Req(String principal, String ip, int port, String method, String target, Map<String, String> headers) {
    static Req get(String principal, String target) {
      return new Req(principal, "127.102.1.1", 5000, "GET", target, Map.of());
    }
  }

  /** What the inbound handler does: normalize (refusing what cannot be), then decide on the matching path. */
  private static String decide(Authorization authz, Req r) throws Exception {
    PathNormalizer.Result path = PathNormalizer.normalize(r.target(), authz.paths());
    if (path.rejected()) {
      return "400";
    }
    HttpHeaders headers = new DefaultHttpHeaders();
    r.headers().forEach(headers::add);
    AuthzRequest request = new AuthzRequest(Optional.ofNullable(r.principal()), InetAddress.getByName(r.ip()),
        InetAddress.getByName(r.ip()), InetAddress.getByName("127.101.1.1"), r.port(), "", r.method(),
        "helloworld:5000", PathNormalizer.forMatching(path.path()), headers);
    Authorization.Decision d = authz.decide(request);
    return d.allowed() ? "allow" : "deny:" + d.reason();
  }

  // --- the path-encoding bypass table ---

  static Stream<Arguments> bypassAttempts() {
    return Stream.of("/admin", "//admin", "///admin", "/./admin", "/a/../admin", "/../admin", "/%61dmin",
        "/%2e/admin", "/%2E%2E/admin", "/admin%2F", "/admin%2f", "/admin%5C", "/admin/", "/admin/x", "/admin?x",
        "/admin#x", "/admin;x", "/admin;x=1/", "\\admin", "/\\admin", "/x/..\\admin", "/admin/.", "/admin/x/..",
        "http://helloworld/admin").map(Arguments::of);
  }

  private static final Authorization DENY_ADMIN_PREFIX = authorization(filter(RBAC.Action.DENY,
      Map.of("ns[sample]-policy[deny-admin]-rule[0]", policy(path(prefix("/admin")), anyPrincipal()))));

  @ParameterizedTest(name = "DENY /admin* refuses {0}")
  @MethodSource("bypassAttempts")
  void everyEncodingOfAdminIsRefusedByAPrefixRule(String target) throws Exception {
    assertThat(decide(DENY_ADMIN_PREFIX, Req.get(CURL, target))).isIn(
        "deny:ns[sample]-policy[deny-admin]-rule[0]", "400");
  }

  private static final Authorization DENY_ADMIN_EXACT = authorization(filter(RBAC.Action.DENY,
      Map.of("ns[sample]-policy[deny-admin]-rule[0]", policy(path(exact("/admin")), anyPrincipal()))));

  @ParameterizedTest(name = "DENY /admin (exact) on {0}")
  @MethodSource("bypassAttempts")
  void everyEncodingOfExactlyAdminIsRefusedByAnExactRule(String target) throws Exception {
    String decision = decide(DENY_ADMIN_EXACT, Req.get(CURL, target));
    // An exact rule names one resource: /admin/ and /admin/x are others (Istio: list them, or use /admin*).
    boolean anotherResource = target.matches("/admin/(x|\\.)?|/admin;x=1/|/admin/x/\\.\\.");
    if (anotherResource) {
      assertThat(decision).as("a different path than /admin").isEqualTo("allow");
    } else {
      assertThat(decision).isIn("deny:ns[sample]-policy[deny-admin]-rule[0]", "400");
    }
  }

  @Test
  void matchingIsCaseSensitiveAsInIstio() throws Exception {
    assertThat(decide(DENY_ADMIN_PREFIX, Req.get(CURL, "/ADMIN"))).isEqualTo("allow");
    assertThat(decide(DENY_ADMIN_PREFIX, Req.get(CURL, "/Admin"))).isEqualTo("allow");
    assertThat(decide(DENY_ADMIN_PREFIX, Req.get(CURL, "/public"))).isEqualTo("allow");
  }

  // --- precedence and rule semantics ---

  private static final Policy ALLOW_CURL = policy(anyPermission(), authenticated(exact(CURL)));
  private static final Policy ALLOW_GET_FROM_SAMPLE_NS = policy(
      and(or(Permission.newBuilder().setHeader(HeaderMatcher.newBuilder().setName(":method")
          .setStringMatch(exact("GET"))).build()), Permission.newBuilder().setDestinationPort(5000).build()),
      authenticated(StringMatcher.newBuilder().setSafeRegex(RegexMatcher.newBuilder().setRegex(".*/ns/sample/.*"))
          .build()));

  static Stream<Arguments> decisions() {
    Map<String, Policy> denyAdmin = Map.of("deny-admin", policy(path(prefix("/admin")), anyPrincipal()));
    Map<String, Policy> allowCurl = Map.of("allow-curl", ALLOW_CURL);
    return Stream.of(
        Arguments.of("no filter: allow", List.of(), Req.get(OTHER, "/"), "allow"),
        Arguments.of("ALLOW with no policy denies all", List.of(filter(RBAC.Action.ALLOW, Map.of())),
            Req.get(CURL, "/"), "deny:none"),
        Arguments.of("ALLOW any: allows all", List.of(filter(RBAC.Action.ALLOW,
            Map.of("all", policy(anyPermission(), anyPrincipal())))), Req.get(null, "/"), "allow"),
        Arguments.of("ALLOW curl: curl", List.of(filter(RBAC.Action.ALLOW, allowCurl)), Req.get(CURL, "/x"),
            "allow"),
        Arguments.of("ALLOW curl: another identity", List.of(filter(RBAC.Action.ALLOW, allowCurl)),
            Req.get(OTHER, "/x"), "deny:none"),
        Arguments.of("ALLOW curl: plaintext (no identity)", List.of(filter(RBAC.Action.ALLOW, allowCurl)),
            Req.get(null, "/x"), "deny:none"),
        Arguments.of("DENY wins over ALLOW", List.of(filter(RBAC.Action.DENY, denyAdmin),
            filter(RBAC.Action.ALLOW, allowCurl)), Req.get(CURL, "/admin/users"), "deny:deny-admin"),
        Arguments.of("DENY not matching, ALLOW matching", List.of(filter(RBAC.Action.DENY, denyAdmin),
            filter(RBAC.Action.ALLOW, allowCurl)), Req.get(CURL, "/public"), "allow"),
        Arguments.of("namespace + method + port: GET", List.of(filter(RBAC.Action.ALLOW,
            Map.of("ns", ALLOW_GET_FROM_SAMPLE_NS))), Req.get(CURL, "/"), "allow"),
        Arguments.of("namespace + method + port: POST", List.of(filter(RBAC.Action.ALLOW,
            Map.of("ns", ALLOW_GET_FROM_SAMPLE_NS))), new Req(CURL, "127.0.0.9", 5000, "POST", "/", Map.of()),
            "deny:none"),
        Arguments.of("namespace + method + port: other port", List.of(filter(RBAC.Action.ALLOW,
            Map.of("ns", ALLOW_GET_FROM_SAMPLE_NS))), new Req(CURL, "127.0.0.9", 9000, "GET", "/", Map.of()),
            "deny:none"),
        Arguments.of("namespace + method + port: other namespace", List.of(filter(RBAC.Action.ALLOW,
            Map.of("ns", ALLOW_GET_FROM_SAMPLE_NS))), Req.get(OTHER, "/"), "deny:none"),
        Arguments.of("DENY from outside 127.102.0.0/16", List.of(filter(RBAC.Action.DENY, Map.of("ip",
            policy(anyPermission(), not(Principal.newBuilder().setDirectRemoteIp(CidrRange.newBuilder()
                .setAddressPrefix("127.102.0.0").setPrefixLen(UInt32Value.of(16))).build()))))),
            new Req(CURL, "127.103.1.1", 5000, "GET", "/", Map.of()), "deny:ip"),
        Arguments.of("DENY from outside 127.102.0.0/16: inside", List.of(filter(RBAC.Action.DENY, Map.of("ip",
            policy(anyPermission(), not(Principal.newBuilder().setDirectRemoteIp(CidrRange.newBuilder()
                .setAddressPrefix("127.102.0.0").setPrefixLen(UInt32Value.of(16))).build()))))),
            Req.get(CURL, "/"), "allow"),
        Arguments.of("when request.headers[x-team]=blue", List.of(filter(RBAC.Action.ALLOW, Map.of("team",
            policy(anyPermission(), and(authenticated(exact(CURL)), Principal.newBuilder().setHeader(
                HeaderMatcher.newBuilder().setName("x-team").setStringMatch(exact("blue"))).build()))))),
            new Req(CURL, "127.102.1.1", 5000, "GET", "/", Map.of("x-team", "blue")), "allow"),
        Arguments.of("when request.headers[x-team]=blue: red", List.of(filter(RBAC.Action.ALLOW, Map.of("team",
            policy(anyPermission(), Principal.newBuilder().setHeader(
                HeaderMatcher.newBuilder().setName("x-team").setStringMatch(exact("blue"))).build())))),
            new Req(CURL, "127.102.1.1", 5000, "GET", "/", Map.of("x-team", "red")), "deny:none"),
        Arguments.of("requestPrincipals, request without a verified token: ALLOW denies", List.of(filter(
            RBAC.Action.ALLOW, Map.of("jwt", policy(anyPermission(), ANY_ISSUER)))), Req.get(CURL, "/"),
            "deny:none"),
        Arguments.of("notRequestPrincipals, request without a verified token: DENY denies", List.of(filter(
            RBAC.Action.DENY, Map.of("nojwt", policy(anyPermission(), not(ANY_ISSUER))))), Req.get(CURL, "/"),
            "deny:nojwt"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("decisions")
  void policyAndRequestGiveTheDecision(String name, List<HttpFilter> filters, Req request, String expected)
      throws Exception {
    assertThat(decide(authorization(filters.toArray(HttpFilter[]::new)), request)).isEqualTo(expected);
  }

  @Test
  void aDenyReportsTheFirstMatchingPolicyByName() throws Exception {
    Map<String, Policy> two = new LinkedHashMap<>();
    two.put("z-second", policy(anyPermission(), anyPrincipal()));
    two.put("a-first", policy(anyPermission(), anyPrincipal()));
    assertThat(decide(authorization(filter(RBAC.Action.DENY, two)), Req.get(CURL, "/"))).isEqualTo("deny:a-first");
  }

  @Test
  void unusableConfigIsRejectedNamingTheField() {
    HttpFilter badCidr = filter(RBAC.Action.ALLOW, Map.of("p", policy(anyPermission(),
        Principal.newBuilder().setDirectRemoteIp(CidrRange.newBuilder().setAddressPrefix("example.com")).build())));
    assertThatThrownBy(() -> authorization(badCidr)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("test.http_filters[0].rules.policies[p].principals[0].direct_remote_ip"
            + ".address_prefix: 'example.com' (expected: an IPv4 or IPv6 address literal)");
    HttpFilter noPrincipals = filter(RBAC.Action.ALLOW, Map.of("p",
        Policy.newBuilder().addPermissions(anyPermission()).build()));
    assertThatThrownBy(() -> authorization(noPrincipals)).hasMessageContaining("has no principals");
    HttpFilter badRegex = filter(RBAC.Action.ALLOW, Map.of("p", policy(anyPermission(),
        authenticated(StringMatcher.newBuilder().setSafeRegex(RegexMatcher.newBuilder().setRegex("(a")).build()))));
    assertThatThrownBy(() -> authorization(badRegex)).hasMessageContaining("authenticated.principal_name.safe_regex");
  }
}
