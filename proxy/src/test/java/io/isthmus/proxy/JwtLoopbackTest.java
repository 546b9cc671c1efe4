package io.isthmus.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.Empty;
import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.FilterChainMatch;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.rbac.v3.Permission;
import io.envoyproxy.envoy.config.rbac.v3.Policy;
import io.envoyproxy.envoy.config.rbac.v3.Principal;
import io.envoyproxy.envoy.config.rbac.v3.RBAC;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtClaimToHeader;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtProvider;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirement;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirementOrList;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.RequirementRule;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.type.matcher.v3.MetadataMatcher;
import io.envoyproxy.envoy.type.matcher.v3.PathMatcher;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.envoyproxy.envoy.type.matcher.v3.ValueMatcher;
import io.isthmus.proxy.policy.Authorization;
import io.isthmus.proxy.testing.HeaderEchoApp;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.testing.TestJwts;
import io.isthmus.proxy.xds.XdsResourceType;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two real sidecars on loopback, mTLS between them: helloworld's inbound carries what the
 * controller translates for a RequestAuthentication (issuer, audience helloworld, the issuer's
 * JWKS inlined, claim sub → x-user) and "DENY /private* unless a request principal": a bad token
 * is refused with 401 whatever the path, no token passes on public paths only, and a valid
 * token reaches the app without its Authorization header, with its subject in x-user. New keys
 * pushed over LDS apply to the next request.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class JwtLoopbackTest {

  private static final String HOST = "helloworld.sample.svc.cluster.local";
  private static final String SERVER_POD = "127.226.1.1";
  private static final String SERVER_LOCAL = "127.226.2.1";
  private static final String ISS = "https://issuer.example.com";

  @TempDir
  static Path dir;

  private final TestJwts issuer = new TestJwts("rsa-1", "ec-1");
  private TwoSidecars mesh;
  private HeaderEchoApp app;
  private Sidecar server;
  private Sidecar curl;
  private int inboundPort;

  @BeforeAll
  void startMesh() throws Exception {
    mesh = new TwoSidecars(dir);
    app = mesh.own(new HeaderEchoApp(SERVER_LOCAL));
    inboundPort = mesh.port(SERVER_POD);
    mesh.serveInbound(virtualInbound(issuer.jwks()), inboundPort, app.port());
    mesh.routeHttp(5000, HOST, new Ep(SERVER_POD, inboundPort, 1, "east", false));

    server = mesh.startServer(SERVER_POD, SERVER_LOCAL, "helloworld");
    curl = mesh.startClient("127.227.1.1", "127.227.2.1", "curl");
    mesh.awaitReady(Duration.ofSeconds(60));
  }

  @AfterAll
  void stopMesh() throws Exception {
    if (mesh != null) {
      mesh.close();
    }
  }

  private Listener virtualInbound(String jwks) {
    String cluster = "inbound|" + inboundPort + "||";
    JwtAuthentication jwt = JwtAuthentication.newBuilder()
        .putProviders("origins-0", JwtProvider.newBuilder().setIssuer(ISS).addAudiences("helloworld")
            .setLocalJwks(DataSource.newBuilder().setInlineString(jwks))
            .setPayloadInMetadata("payload")
            .addClaimToHeaders(JwtClaimToHeader.newBuilder().setHeaderName("x-user").setClaimName("sub"))
            .build())
        .addRules(RequirementRule.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
            .setRequires(JwtRequirement.newBuilder().setRequiresAny(JwtRequirementOrList.newBuilder()
                .addRequirements(JwtRequirement.newBuilder().setProviderName("origins-0"))
                .addRequirements(JwtRequirement.newBuilder().setAllowMissing(Empty.getDefaultInstance())))))
        .setBypassCorsPreflight(true)
        .build();
    StringMatcher any = StringMatcher.newBuilder().setSafeRegex(RegexMatcher.newBuilder().setRegex(".+")).build();
    Principal anyRequestPrincipal = Principal.newBuilder().setAndIds(Principal.Set.newBuilder()
        .addIds(payload("iss", any)).addIds(payload("sub", any))).build();
    HttpFilter denyAnonymousPrivate = HttpFilter.newBuilder().setName(Authorization.RBAC_FILTER)
        .setTypedConfig(Any.pack(io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.newBuilder()
            .setRules(RBAC.newBuilder().setAction(RBAC.Action.DENY).putPolicies(
                "ns[sample]-policy[private]-rule[0]", Policy.newBuilder()
                    .addPermissions(Permission.newBuilder().setUrlPath(PathMatcher.newBuilder()
                        .setPath(StringMatcher.newBuilder().setPrefix("/private"))))
                    .addPrincipals(Principal.newBuilder().setNotId(anyRequestPrincipal)).build()))
            .build()))
        .build();
    HttpConnectionManager hcm = HttpConnectionManager.newBuilder()
        .setStatPrefix(cluster)
        .setNormalizePath(BoolValue.of(true))
        .setMergeSlashes(true)
        .setPathWithEscapedSlashesAction(HttpConnectionManager.PathWithEscapedSlashesAction.REJECT_REQUEST)
        .setRouteConfig(RouteConfiguration.newBuilder().setName(cluster)
            .addVirtualHosts(VirtualHost.newBuilder().setName(cluster).addDomains("*")
                .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
                    .setRoute(RouteAction.newBuilder().setCluster(cluster)))))
        .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.jwt_authn")
            .setTypedConfig(Any.pack(jwt)))
        .addHttpFilters(denyAnonymousPrivate)
        .build();
    return Listener.newBuilder().setName("virtualInbound")
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress("0.0.0.0").setPortValue(15006)))
        .addFilterChains(FilterChain.newBuilder()
            .setFilterChainMatch(FilterChainMatch.newBuilder()
                .setDestinationPort(UInt32Value.of(inboundPort)).setTransportProtocol("tls"))
            .addFilters(Filter.newBuilder().setName("envoy.filters.network.http_connection_manager")
                .setTypedConfig(Any.pack(hcm)))
            .setTransportSocket(TransportSocket.newBuilder().setName("envoy.transport_sockets.tls")
                .setTypedConfig(Any.pack(DownstreamTlsContext.newBuilder()
                    .setRequireClientCertificate(BoolValue.of(true)).build()))))
        .build();
  }

  private static Principal payload(String claim, StringMatcher m) {
    return Principal.newBuilder().setMetadata(MetadataMatcher.newBuilder()
        .setFilter("envoy.filters.http.jwt_authn")
        .addPath(MetadataMatcher.PathSegment.newBuilder().setKey("payload"))
        .addPath(MetadataMatcher.PathSegment.newBuilder().setKey(claim))
        .setValue(ValueMatcher.newBuilder().setStringMatch(m))).build();
  }

  private RawHttp.Response get(String path, String token) throws Exception {
    return RawHttp.get(curl.outboundAddress(), HOST + ":5000", path,
        token == null ? Map.of() : Map.of("Authorization", "Bearer " + token));
  }

  private String token(TestJwts keys, String sub) {
    return keys.es256(TestJwts.claims(ISS, sub, Instant.now()).audience("helloworld").build());
  }

  @Test
  void aValidTokenReachesTheAppAsItsSubjectWithoutTheTokenItself() throws Exception {
    RawHttp.Response r = get("/private/report", token(issuer, "alice"));
    assertThat(r.status()).as(r.body()).isEqualTo(200);
    assertThat(r.body()).contains("x-user: alice").doesNotContain("authorization:");
    RawHttp.Response rs = get("/private/report", issuer.rs256(TestJwts.claims(ISS, "bob", Instant.now())
        .audience("helloworld").build()));
    assertThat(rs.body()).contains("x-user: bob");
  }

  @Test
  void withoutATokenOnlyPublicPathsAnswer() throws Exception {
    assertThat(get("/public", null).status()).isEqualTo(200);
    RawHttp.Response denied = get("/private/report", null);
    assertThat(denied.status()).isEqualTo(403);
    assertThat(denied.body()).isEqualTo("RBAC: access denied\n");
  }

  @Test
  void aBadTokenIsRefusedWith401OnEveryPathAndCounted() throws Exception {
    // Other tests' refusals count too (a rotated key's old tokens): counted from here.
    double expiredBefore = jwtDenied("expired");
    double signatureBefore = jwtDenied("signature");
    String expired = issuer.rs256(TestJwts.claims(ISS, "alice", Instant.now().minusSeconds(7200))
        .audience("helloworld").build());
    String otherAudience = issuer.rs256(TestJwts.claims(ISS, "alice", Instant.now()).audience("billing").build());
    for (String bad : List.of(expired, otherAudience, token(new TestJwts("rsa-1", "ec-1"), "mallory"))) {
      RawHttp.Response r = get("/public", bad);
      assertThat(r.status()).as(r.body()).isEqualTo(401);
      assertThat(r.headers().get("www-authenticate")).startsWith("Bearer realm=").contains("invalid_token");
    }
    // Awaited: a locally answered request is reported on the task after its response is written.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      assertThat(jwtDenied("expired")).isEqualTo(expiredBefore + 1);
      assertThat(jwtDenied("signature")).isEqualTo(signatureBefore + 1);
      assertThat(RawHttp.get(server.adminAddress(), "admin", "/stats/prometheus").body())
          .containsPattern("istio_requests_total\\{[^}]*response_code=\"401\"");
    });
  }

  /** The server's {@code isthmus_jwt_authn_denied_total} for {@code reason} on the inbound port. */
  private double jwtDenied(String reason) throws IOException {
    var matcher = java.util.regex.Pattern.compile("isthmus_jwt_authn_denied_total\\{port=\""
        + inboundPort + "\",reason=\"" + java.util.regex.Pattern.quote(reason) + "\"} (\\S+)")
        .matcher(RawHttp.get(server.adminAddress(), "admin", "/stats/prometheus").body());
    return matcher.find() ? Double.parseDouble(matcher.group(1)) : 0;
  }

  @Test
  void rotatedKeysApplyToTheNextRequest() throws Exception {
    TestJwts rotated = new TestJwts("rsa-2", "ec-2");
    mesh.serverAds().set(XdsResourceType.LISTENER, "2", List.of(virtualInbound(rotated.jwks())));
    await().atMost(Duration.ofSeconds(60)).until(() -> get("/private/x", token(rotated, "carol")).status() == 200);
    assertThat(get("/private/x", token(issuer, "alice")).status()).as("the old key is gone").isEqualTo(401);
    mesh.serverAds().set(XdsResourceType.LISTENER, "3", List.of(virtualInbound(issuer.jwks())));
    await().atMost(Duration.ofSeconds(60)).until(() -> get("/private/x", token(issuer, "alice")).status() == 200);
  }
}
