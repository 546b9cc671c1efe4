package io.isthmus.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.core.v3.Address;
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
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.type.matcher.v3.PathMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.isthmus.proxy.policy.Authorization;
import io.isthmus.proxy.testing.HeaderEchoApp;
import io.isthmus.proxy.testing.MeshResources.Ep;
import io.isthmus.proxy.testing.RawHttp;
import io.isthmus.proxy.xds.XdsResourceType;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three real sidecars on loopback with certificates from one mesh root: helloworld's inbound
 * carries the RBAC filters Istio's translation gives for "ALLOW
 * cluster.local/ns/sample/sa/curl" and "DENY /admin*"; curl's and intruder's sidecars call it
 * over mTLS. Then the inbound chains switch between PERMISSIVE and STRICT and a plaintext client
 * is answered, then refused.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AuthorizationLoopbackTest {

  private static final String HOST = "helloworld.sample.svc.cluster.local";
  private static final String SERVER_POD = "127.221.1.1";
  private static final String SERVER_LOCAL = "127.221.2.1";

  @TempDir
  static Path dir;

  private TwoSidecars mesh;
  private HeaderEchoApp app;
  private Sidecar server;
  private Sidecar curl;
  private Sidecar intruder;
  private int inboundPort;

  @BeforeAll
  void startMesh() throws Exception {
    mesh = new TwoSidecars(dir);
    app = mesh.own(new HeaderEchoApp(SERVER_LOCAL));
    inboundPort = mesh.port(SERVER_POD);
    mesh.serveInbound(virtualInbound(false), inboundPort, app.port());
    mesh.routeHttp(5000, HOST, new Ep(SERVER_POD, inboundPort, 1, "east", false));

    server = mesh.startServer(SERVER_POD, SERVER_LOCAL, "helloworld");
    curl = mesh.startClient("127.222.1.1", "127.222.2.1", "curl");
    intruder = mesh.startClient("127.223.1.1", "127.223.2.1", "intruder");
    mesh.awaitReady(Duration.ofSeconds(60));
  }

  @AfterAll
  void stopMesh() throws Exception {
    if (mesh != null) {
      mesh.close();
    }
  }

  /** What SecurityTranslator emits for the two policies, with one or two chains per port. */
  private Listener virtualInbound(boolean permissive) {
    String cluster = "inbound|" + inboundPort + "||";
    HttpConnectionManager hcm = HttpConnectionManager.newBuilder()
        .setStatPrefix(cluster)
        .setNormalizePath(BoolValue.of(true))
        .setMergeSlashes(true)
        .setPathWithEscapedSlashesAction(
            HttpConnectionManager.PathWithEscapedSlashesAction.REJECT_REQUEST)
        .setRouteConfig(RouteConfiguration.newBuilder().setName(cluster)
            .addVirtualHosts(VirtualHost.newBuilder().setName(cluster).addDomains("*")
                .addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
                    .setRoute(RouteAction.newBuilder().setCluster(cluster)))))
        .addHttpFilters(rbac(RBAC.Action.DENY, "ns[istio-system]-policy[deny-admin]-rule[0]",
            Permission.newBuilder().setUrlPath(PathMatcher.newBuilder().setPath(
                StringMatcher.newBuilder().setPrefix("/admin"))).build(),
            Principal.newBuilder().setAny(true).build()))
        .addHttpFilters(rbac(RBAC.Action.ALLOW, "ns[sample]-policy[allow-curl]-rule[0]",
            Permission.newBuilder().setAny(true).build(),
            Principal.newBuilder().setAuthenticated(Principal.Authenticated.newBuilder()
                .setPrincipalName(StringMatcher.newBuilder()
                    .setExact("spiffe://cluster.local/ns/sample/sa/curl"))).build()))
        .build();
    Listener.Builder listener = Listener.newBuilder().setName("virtualInbound")
        .setAddress(Address.newBuilder().setSocketAddress(
            SocketAddress.newBuilder().setAddress("0.0.0.0").setPortValue(15006)));
    listener.addFilterChains(chain(hcm, true));
    if (permissive) {
      listener.addFilterChains(chain(hcm, false));
    }
    return listener.build();
  }

  private FilterChain chain(HttpConnectionManager hcm, boolean tls) {
    FilterChain.Builder chain = FilterChain.newBuilder()
        .setFilterChainMatch(FilterChainMatch.newBuilder()
            .setDestinationPort(UInt32Value.of(inboundPort))
            .setTransportProtocol(tls ? "tls" : "raw_buffer"))
        .addFilters(Filter.newBuilder().setName("envoy.filters.network.http_connection_manager")
            .setTypedConfig(Any.pack(hcm)));
    if (tls) {
      chain.setTransportSocket(TransportSocket.newBuilder().setName("envoy.transport_sockets.tls")
          .setTypedConfig(Any.pack(DownstreamTlsContext.newBuilder()
              .setRequireClientCertificate(BoolValue.of(true)).build())));
    }
    return chain.build();
  }

  private static HttpFilter rbac(RBAC.Action action, String name, Permission permission,
      Principal principal) {
    return HttpFilter.newBuilder().setName(Authorization.RBAC_FILTER)
        .setTypedConfig(Any.pack(io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC
            .newBuilder().setRules(RBAC.newBuilder().setAction(action).putPolicies(name,
                Policy.newBuilder().addPermissions(permission).addPrincipals(principal).build()))
            .build()))
        .build();
  }

  @Test
  void theAllowedIdentityIsServedAndAnotherIsRefusedWith403() throws Exception {
    // Another test's plaintext requests are refused under policy "none" too: counted from here.
    double deniedBefore = rbacDenied("none");
    RawHttp.Response allowed = RawHttp.get(curl.outboundAddress(), HOST + ":5000", "/hello");
    assertThat(allowed.status()).as(allowed.body()).isEqualTo(200);
    assertThat(allowed.body()).contains("URI=spiffe://cluster.local/ns/sample/sa/curl");

    RawHttp.Response denied = RawHttp.get(intruder.outboundAddress(), HOST + ":5000", "/hello");
    assertThat(denied.status()).isEqualTo(403);
    assertThat(denied.body()).isEqualTo("RBAC: access denied\n");

    // Awaited: a request the sidecar answers itself is reported on the task after its response.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      assertThat(RawHttp.get(server.adminAddress(), "admin", "/stats/prometheus").body())
          .containsPattern("istio_requests_total\\{[^}]*response_code=\"403\""
              + "[^}]*source_workload=\"intruder[^\"]*\"[^}]*} 1");
      assertThat(rbacDenied("none")).isEqualTo(deniedBefore + 1);
    });
  }

  /** The server's {@code isthmus_rbac_denied_total} for {@code policy} on the inbound port. */
  private double rbacDenied(String policy) throws IOException {
    var matcher = java.util.regex.Pattern.compile("isthmus_rbac_denied_total\\{policy=\""
        + java.util.regex.Pattern.quote(policy) + "\",port=\"" + inboundPort + "\"} (\\S+)")
        .matcher(RawHttp.get(server.adminAddress(), "admin", "/stats/prometheus").body());
    return matcher.find() ? Double.parseDouble(matcher.group(1)) : 0;
  }

  @Test
  void adminIsDeniedHoweverItIsEncodedAndTheAppSeesTheNormalizedPath() throws Exception {
    for (String path : List.of("/admin", "//admin", "/./admin", "/x/../admin", "/%61dmin",
        "/admin;x", "/admin/users?x=1")) {
      RawHttp.Response r = RawHttp.get(curl.outboundAddress(), HOST + ":5000", path);
      assertThat(r.status()).as("curl GET %s: %s", path, r.body()).isEqualTo(403);
    }
    assertThat(RawHttp.get(curl.outboundAddress(), HOST + ":5000", "/admin%2Fx").status())
        .as("an encoded slash").isEqualTo(400);
    RawHttp.Response normalized = RawHttp.get(curl.outboundAddress(), HOST + ":5000",
        "/a//b/./c/../%64?q=%2F");
    assertThat(normalized.status()).isEqualTo(200);
    assertThat(normalized.body()).contains("path: /a/b/d?q=%2F");
  }

  @Test
  void permissiveAnswersPlaintextAndStrictRefusesIt() throws Exception {
    mesh.serverAds().set(XdsResourceType.LISTENER, "2", List.of(virtualInbound(true)));
    // Plaintext carries no identity: the ALLOW policy (curl only) refuses it, which shows the
    // request reached authorization instead of being cut at the handshake.
    await().atMost(Duration.ofSeconds(60)).until(() -> plaintextStatus() == 403);
    assertThat(RawHttp.get(curl.outboundAddress(), HOST + ":5000", "/still-mtls").status())
        .isEqualTo(200);

    mesh.serverAds().set(XdsResourceType.LISTENER, "3", List.of(virtualInbound(false)));
    await().atMost(Duration.ofSeconds(60)).until(() -> plaintextStatus() == -1);
    assertThat(RawHttp.get(curl.outboundAddress(), HOST + ":5000", "/after-strict").status())
        .isEqualTo(200);
  }

  /** The status a plaintext HTTP request to the inbound port gets; -1 when it gets no HTTP answer. */
  private int plaintextStatus() {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(SERVER_POD, inboundPort), 5_000);
      socket.setSoTimeout(5_000);
      socket.getOutputStream().write(("GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
          .getBytes(StandardCharsets.US_ASCII));
      String answer = new String(socket.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
      return answer.startsWith("HTTP/1.1 ") ? Integer.parseInt(answer.substring(9, 12)) : -1;
    } catch (IOException e) {
      return -1;
    }
  }
}
