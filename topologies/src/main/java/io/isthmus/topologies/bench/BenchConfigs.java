package io.isthmus.topologies.bench;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.Message;
import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.Http2ProtocolOptions;
import io.envoyproxy.envoy.config.core.v3.AggregatedConfigSource;
import io.envoyproxy.envoy.config.core.v3.ConfigSource;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.FilterChainMatch;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.Rds;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.isthmus.proxy.xds.XdsStaticConfig;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.Pem;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.WorkloadCertificate;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Writes everything a bench run starts from into one directory: a mesh PKI (root → cluster
 * intermediate → workload certificates, from trust-federation's CA, the same kind the
 * controller issues), the static xDS files of the client sidecar, the server sidecar and the
 * east-west gateway (the resources the controller would send, Istio's names), and the HAProxy
 * configurations of the backend and the peer baseline. The certificates are shared: HAProxy
 * presents the same ECDSA P-256 chains as the sidecars.
 */
final class BenchConfigs {

  /** The backend's answer: exactly 100 bytes. */
  static final String BODY = "0123456789".repeat(10);

  private final BenchLayout layout;
  private final Path dir;

  BenchConfigs(BenchLayout layout, Path dir) {
    this.layout = layout;
    this.dir = dir;
  }

  Path dir() {
    return dir;
  }

  Path file(String name) {
    return dir.resolve(name);
  }

  void write() throws IOException {
    Files.createDirectories(dir);
    CertificateAuthority root = CertificateAuthority.createRoot("isthmus-bench", Duration.ofDays(2));
    CertificateAuthority intermediate = root.createIntermediate("bench", Duration.ofDays(1));
    Files.writeString(file("root-cert.pem"), Pem.encodeCertificate(root.certificate()));
    writeCert("client", intermediate.issue(SpiffeId.of(BenchLayout.TRUST_DOMAIN,
        BenchLayout.NAMESPACE, "client"), List.of("client.bench"), Duration.ofHours(12)));
    writeCert("server", intermediate.issue(SpiffeId.of(BenchLayout.TRUST_DOMAIN,
        BenchLayout.NAMESPACE, "server"), List.of(BenchLayout.MTLS_HOST), Duration.ofHours(12)));
    writeCert("gateway", intermediate.issue(SpiffeId.of(BenchLayout.TRUST_DOMAIN,
        "istio-system", "istio-eastwestgateway"), List.of(), Duration.ofHours(12)));
    Files.writeString(file("client-xds.json"), XdsStaticConfig.render(clientResources()));
    Files.writeString(file("server-xds.json"), XdsStaticConfig.render(serverResources()));
    Files.writeString(file("gateway-xds.json"), XdsStaticConfig.render(gatewayResources()));
    Files.writeString(file("backend.cfg"), backendHaproxy());
    Files.writeString(file("haproxy-client.cfg"), clientHaproxy());
    Files.writeString(file("haproxy-server.cfg"), serverHaproxy());
  }

  private void writeCert(String name, WorkloadCertificate cert) throws IOException {
    // The chain without the root, as a sidecar presents it; HAProxy wants key and chain in one file.
    List<java.security.cert.X509Certificate> chain = cert.chain().subList(0, cert.chain().size() - 1);
    String chainPem = Pem.encodeCertificates(chain);
    String keyPem = Pem.encodePrivateKey(cert.privateKey());
    Files.writeString(file(name + "-chain.pem"), chainPem);
    Files.writeString(file(name + "-key.pem"), keyPem);
    Files.writeString(file(name + "-haproxy.pem"), chainPem + keyPem);
  }

  /** The client sidecar: one outbound route table for port 5000, one cluster per path. */
  List<Message> clientResources() {
    String mtls = "outbound|" + BenchLayout.APP_PORT + "||" + BenchLayout.SERVICE;
    String viaGateway = "outbound|" + BenchLayout.APP_PORT + "||" + BenchLayout.GATEWAY_HOST;
    String mtlsH2 = "outbound|" + BenchLayout.APP_PORT + "||" + BenchLayout.MTLS_H2_HOST;
    return List.of(
        staticCluster("plain", layout.app(), BenchLayout.APP_PORT, null),
        staticCluster(mtls, layout.serverPod(), BenchLayout.APP_PORT, BenchLayout.sni()),
        http2(staticCluster(mtlsH2, layout.serverPod(), BenchLayout.APP_PORT, BenchLayout.sni())),
        staticCluster(viaGateway, layout.gateway(), BenchLayout.GATEWAY_PORT, BenchLayout.sni()),
        outboundListener(BenchLayout.APP_PORT),
        RouteConfiguration.newBuilder().setName(Integer.toString(BenchLayout.APP_PORT))
            .addVirtualHosts(virtualHost(BenchLayout.PLAIN_HOST, "plain"))
            .addVirtualHosts(virtualHost(BenchLayout.MTLS_HOST, mtls))
            .addVirtualHosts(virtualHost(BenchLayout.MTLS_H2_HOST, mtlsH2))
            .addVirtualHosts(virtualHost(BenchLayout.GATEWAY_HOST, viaGateway))
            .build());
  }

  /** The server sidecar: an mTLS inbound port 5000 in front of the app on its localhost. */
  List<Message> serverResources() {
    String inbound = "inbound|" + BenchLayout.APP_PORT + "||";
    return List.of(
        staticCluster(inbound, layout.app(), BenchLayout.APP_PORT, null),
        Listener.newBuilder()
            .setName("virtualInbound")
            .setAddress(socket("0.0.0.0", 15006))
            .addFilterChains(FilterChain.newBuilder()
                .setFilterChainMatch(FilterChainMatch.newBuilder()
                    .setDestinationPort(UInt32Value.of(BenchLayout.APP_PORT)))
                .setTransportSocket(TransportSocket.newBuilder()
                    .setName("envoy.transport_sockets.tls")
                    .setTypedConfig(Any.pack(DownstreamTlsContext.newBuilder()
                        .setRequireClientCertificate(BoolValue.of(true))
                        .setCommonTlsContext(CommonTlsContext.newBuilder()
                            .addAlpnProtocols("h2").addAlpnProtocols("http/1.1"))
                        .build())))
                .addFilters(Filter.newBuilder()
                    .setName("envoy.filters.network.http_connection_manager")
                    .setTypedConfig(Any.pack(HttpConnectionManager.newBuilder()
                        .setStatPrefix(inbound)
                        .setRouteConfig(RouteConfiguration.newBuilder().setName(inbound)
                            .addVirtualHosts(VirtualHost.newBuilder().setName(inbound)
                                .addDomains("*").addRoutes(route(inbound))))
                        .build()))))
            .build());
  }

  /** The gateway: the SNI names a cluster whose endpoint is the server sidecar's inbound port. */
  List<Message> gatewayResources() {
    return List.of(staticCluster(BenchLayout.sni(), layout.serverPod(), BenchLayout.APP_PORT, null));
  }

  /**
   * {@code cluster} speaking HTTP/2 to its endpoints, as Istio configures a cluster whose port
   * is declared HTTP/2 or gRPC: one multiplexed connection (ALPN h2) instead of a pool.
   */
  private static Cluster http2(Cluster cluster) {
    Cluster.Builder h2 = cluster.toBuilder().putTypedExtensionProtocolOptions(
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        Any.pack(HttpProtocolOptions.newBuilder()
            .setExplicitHttpConfig(HttpProtocolOptions.ExplicitHttpConfig.newBuilder()
                .setHttp2ProtocolOptions(Http2ProtocolOptions.getDefaultInstance()))
            .build()));
    UpstreamTlsContext tls;
    try {
      tls = h2.getTransportSocket().getTypedConfig().unpack(UpstreamTlsContext.class);
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      throw new IllegalStateException("the bench's own UpstreamTlsContext", e);
    }
    h2.setTransportSocket(h2.getTransportSocket().toBuilder().setTypedConfig(Any.pack(
        tls.toBuilder().setCommonTlsContext(CommonTlsContext.newBuilder()
            .addAlpnProtocols("h2")).build())));
    return h2.build();
  }

  private static Cluster staticCluster(String name, String address, int port, String sni) {
    Cluster.Builder cluster = Cluster.newBuilder()
        .setName(name)
        .setType(Cluster.DiscoveryType.STATIC)
        .setConnectTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(10))
        .setLoadAssignment(ClusterLoadAssignment.newBuilder()
            .setClusterName(name)
            .addEndpoints(LocalityLbEndpoints.newBuilder()
                .addLbEndpoints(LbEndpoint.newBuilder()
                    .setEndpoint(Endpoint.newBuilder().setAddress(socket(address, port))))));
    if (sni != null) {
      cluster.setTransportSocket(TransportSocket.newBuilder()
          .setName("envoy.transport_sockets.tls")
          .setTypedConfig(Any.pack(UpstreamTlsContext.newBuilder()
              .setSni(sni)
              .setCommonTlsContext(CommonTlsContext.newBuilder().addAlpnProtocols("http/1.1"))
              .build())));
    }
    return cluster.build();
  }

  private static Listener outboundListener(int port) {
    ConfigSource ads = ConfigSource.newBuilder()
        .setAds(AggregatedConfigSource.getDefaultInstance()).build();
    return Listener.newBuilder()
        .setName("0.0.0.0_" + port)
        .setAddress(socket("0.0.0.0", port))
        .addFilterChains(FilterChain.newBuilder().addFilters(Filter.newBuilder()
            .setName("envoy.filters.network.http_connection_manager")
            .setTypedConfig(Any.pack(HttpConnectionManager.newBuilder()
                .setStatPrefix("outbound_0.0.0.0_" + port)
                .setRds(Rds.newBuilder().setRouteConfigName(Integer.toString(port))
                    .setConfigSource(ads))
                .build()))))
        .build();
  }

  private static VirtualHost virtualHost(String host, String cluster) {
    return VirtualHost.newBuilder()
        .setName(host + ":" + BenchLayout.APP_PORT)
        .addDomains(host).addDomains(host + ":" + BenchLayout.APP_PORT)
        .addRoutes(route(cluster))
        .build();
  }

  private static Route route(String cluster) {
    return Route.newBuilder()
        .setMatch(RouteMatch.newBuilder().setPrefix("/"))
        .setRoute(RouteAction.newBuilder().setCluster(cluster))
        .build();
  }

  private static Address socket(String address, int port) {
    return Address.newBuilder().setSocketAddress(
        SocketAddress.newBuilder().setAddress(address).setPortValue(port)).build();
  }

  private static final String DEFAULTS = """
      defaults
        mode http
        timeout connect 5s
        timeout client 60s
        timeout server 60s
        http-reuse always
      """;

  /** The backend of every path: HAProxy answering 100 bytes itself, plain and over TLS. */
  String backendHaproxy() {
    return """
        global
          nbthread 1
        %s
        frontend app
          bind %s:%d
          bind %s:%d ssl crt %s
          http-request return status 200 content-type text/plain string "%s"
        """.formatted(DEFAULTS, layout.app(), BenchLayout.APP_PORT, layout.app(),
        BenchLayout.APP_TLS_PORT, file("server-haproxy.pem"), BODY);
  }

  /** The peer's client side: a plain hop, and TLS origination with the client certificate. */
  String clientHaproxy() {
    return """
        global
          ssl-server-verify required
        %s
        frontend plain
          bind %s:%d
          default_backend app
        backend app
          server app %s:%d
        frontend tls
          bind %s:%d
          default_backend peer
        backend peer
          server peer %s:%d ssl crt %s ca-file %s verify required sni str(%s) alpn http/1.1
        """.formatted(DEFAULTS, layout.haproxyClient(), BenchLayout.HAPROXY_PLAIN_PORT,
        layout.app(), BenchLayout.APP_PORT, layout.haproxyClient(), BenchLayout.HAPROXY_TLS_PORT,
        layout.haproxyServer(), BenchLayout.HAPROXY_SERVER_PORT, file("client-haproxy.pem"),
        file("root-cert.pem"), BenchLayout.MTLS_HOST);
  }

  /** The peer's server side: terminates TLS, requires the client certificate, plain to the app. */
  String serverHaproxy() {
    return """
        global
        %s
        frontend tls
          bind %s:%d ssl crt %s ca-file %s verify required alpn http/1.1
          default_backend app
        backend app
          server app %s:%d
        """.formatted(DEFAULTS, layout.haproxyServer(), BenchLayout.HAPROXY_SERVER_PORT,
        file("server-haproxy.pem"), file("root-cert.pem"), layout.app(), BenchLayout.APP_PORT);
  }
}
