package io.isthmus.proxy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.FilterChainMatch;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.rbac.v3.Permission;
import io.envoyproxy.envoy.config.rbac.v3.Policy;
import io.envoyproxy.envoy.config.rbac.v3.Principal;
import io.envoyproxy.envoy.config.rbac.v3.RBAC;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.isthmus.proxy.policy.Authorization;
import io.isthmus.proxy.xds.XdsSnapshot;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The mTLS mode and authorization each inbound port gets from virtualInbound's chains. */
class InboundSecurityTest {

  private static HttpConnectionManager hcm(RBAC.Action... filters) {
    HttpConnectionManager.Builder hcm = HttpConnectionManager.newBuilder().setStatPrefix("inbound");
    for (RBAC.Action action : filters) {
      hcm.addHttpFilters(HttpFilter.newBuilder().setName(Authorization.RBAC_FILTER)
          .setTypedConfig(Any.pack(io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.newBuilder()
              .setRules(RBAC.newBuilder().setAction(action).putPolicies("p", Policy.newBuilder()
                  .addPermissions(Permission.newBuilder().setAny(true))
                  .addPrincipals(Principal.newBuilder().setAny(true)).build())).build())));
    }
    return hcm.build();
  }

  private static FilterChain chain(int port, String transport, HttpConnectionManager hcm) {
    return FilterChain.newBuilder()
        .setFilterChainMatch(FilterChainMatch.newBuilder().setDestinationPort(UInt32Value.of(port))
            .setTransportProtocol(transport))
        .addFilters(Filter.newBuilder().setName("envoy.filters.network.http_connection_manager")
            .setTypedConfig(Any.pack(hcm)))
        .build();
  }

  private static XdsSnapshot snapshot(FilterChain... chains) {
    Listener inbound = Listener.newBuilder().setName(DataPlaneConfig.VIRTUAL_INBOUND)
        .addAllFilterChains(List.of(chains)).build();
    return new XdsSnapshot(Map.of(), Map.of(), Map.of(DataPlaneConfig.VIRTUAL_INBOUND, inbound), Map.of(),
        Map.of(), Map.of());
  }

  @Test
  void chainsGiveEachPortItsMode() {
    Map<Integer, InboundSecurity.Port> ports = InboundSecurity.compile(snapshot(
        chain(5000, "tls", hcm()),
        chain(6000, "tls", hcm()), chain(6000, "raw_buffer", hcm()),
        chain(7000, "raw_buffer", hcm())));
    assertThat(ports.get(5000).mode()).isEqualTo(InboundSecurity.Mode.STRICT);
    assertThat(ports.get(6000).mode()).isEqualTo(InboundSecurity.Mode.PERMISSIVE);
    assertThat(ports.get(7000).mode()).isEqualTo(InboundSecurity.Mode.DISABLE);
    assertThat(ports.values()).allSatisfy(p -> assertThat(p.authorization().enforcing()).isFalse());
  }

  @Test
  void rbacFiltersOfTheConnectionManagerBecomeThePortsAuthorization() {
    InboundSecurity.Port port = InboundSecurity.compile(snapshot(
        chain(5000, "tls", hcm(RBAC.Action.DENY, RBAC.Action.ALLOW)))).get(5000);
    assertThat(port.authorization().enforcing()).isTrue();
    assertThat(port.authorization().filters()).hasSize(2);
  }

  @Test
  void settingsFollowTheCurrentSnapshotAndUnknownPortsAreStrict() {
    AtomicReference<DataPlaneConfig> config = new AtomicReference<>(
        DataPlaneConfig.from(snapshot(chain(5000, "tls", hcm()))));
    InboundSecurity security = new InboundSecurity(config::get);
    assertThat(security.port(5000).mode()).isEqualTo(InboundSecurity.Mode.STRICT);
    assertThat(security.port(9999)).isEqualTo(InboundSecurity.Port.DEFAULT);
    config.set(DataPlaneConfig.from(snapshot(chain(5000, "raw_buffer", hcm(RBAC.Action.ALLOW)))));
    assertThat(security.port(5000).mode()).isEqualTo(InboundSecurity.Mode.DISABLE);
    assertThat(security.port(5000).authorization().enforcing()).isTrue();
  }

  /**
   * DISABLE on the pipeline an inbound connection starts with (mTLS, gate, ALPN selector): the
   * plaintext request reaches the app and the connection stays open. Removing the SslHandler
   * fails its handshake; while the gate was still there it closed the connection (a reset for a
   * plaintext client of a captured port).
   */
  @Test
  void disableTurnsTheStrictPipelineIntoPlaintextWithoutClosingIt() throws Exception {
    var cert = new io.isthmus.proxy.testing.TestPki().leaf(
        new io.isthmus.proxy.testing.TestPki().intermediate("east"), "sample", "app");
    io.netty.handler.ssl.SslContext server = io.netty.handler.ssl.SslContextBuilder
        .forServer(cert.privateKey(), cert.chain()).build();
    XdsSnapshot plain = snapshot(chain(7000, "raw_buffer", hcm()));
    DataPlaneConfig config = DataPlaneConfig.from(plain);
    InboundSecurity security = new InboundSecurity(() -> config);
    List<Object> received = new java.util.ArrayList<>();
    java.util.function.Supplier<io.netty.channel.ChannelHandler> app = () ->
        new io.netty.channel.ChannelInboundHandlerAdapter() {
          @Override
          public void channelRead(io.netty.channel.ChannelHandlerContext ctx, Object msg) {
            received.add(msg);
          }
        };
    var ch = new io.netty.channel.embedded.EmbeddedChannel();
    ch.pipeline().addLast(server.newHandler(ch.alloc()), new HandshakeGate(cause -> { }),
        new InboundProtocolSelector(app, new ProxyMetrics(), null));
    security.install(ch.pipeline(), 7000, null, app);
    ch.runPendingTasks();
    assertThat(ch.isOpen()).as("open after the SslHandler is gone").isTrue();
    ch.writeInbound(io.netty.buffer.Unpooled.copiedBuffer(
        "GET /x HTTP/1.1\r\nHost: app\r\n\r\n", java.nio.charset.StandardCharsets.US_ASCII));
    assertThat(ch.isOpen()).isTrue();
    assertThat(received).singleElement()
        .isInstanceOfSatisfying(io.netty.handler.codec.http.FullHttpRequest.class,
            r -> assertThat(r.uri()).isEqualTo("/x"));
    received.forEach(io.netty.util.ReferenceCountUtil::release);
    ch.finishAndReleaseAll();
  }
}
