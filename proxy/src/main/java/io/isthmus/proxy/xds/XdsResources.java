package io.isthmus.proxy.xds;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.ProxyProtocolConfig;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport;
import io.envoyproxy.envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * Read-only helpers over Envoy resources: the few nested fields the proxy and the gateway
 * look at. They assume resources that passed the client's validation, and never throw for
 * an absent field: absent means empty.
 */
public final class XdsResources {

  public static final String HCM_TYPE_URL =
      "type.googleapis.com/" + HttpConnectionManager.getDescriptor().getFullName();
  public static final String UPSTREAM_TLS_TYPE_URL =
      "type.googleapis.com/" + UpstreamTlsContext.getDescriptor().getFullName();
  public static final String DOWNSTREAM_TLS_TYPE_URL =
      "type.googleapis.com/" + DownstreamTlsContext.getDescriptor().getFullName();
  public static final String PROXY_PROTOCOL_TYPE_URL =
      "type.googleapis.com/" + ProxyProtocolUpstreamTransport.getDescriptor().getFullName();
  public static final String RAW_BUFFER_TYPE_URL =
      "type.googleapis.com/" + RawBuffer.getDescriptor().getFullName();

  private XdsResources() {}

  /** The EDS name of a cluster: its {@code eds_cluster_config.service_name}, else its name. */
  public static String edsServiceName(Cluster cluster) {
    String serviceName = cluster.getEdsClusterConfig().getServiceName();
    return serviceName.isEmpty() ? cluster.getName() : serviceName;
  }

  /** Every RDS route configuration name the listeners' HTTP connection managers refer to. */
  public static Set<String> routeNames(Collection<Listener> listeners) {
    Set<String> names = new TreeSet<>();
    for (Listener listener : listeners) {
      for (FilterChain chain : listener.getFilterChainsList()) {
        httpConnectionManager(chain).ifPresent(hcm -> {
          if (hcm.hasRds()) {
            names.add(hcm.getRds().getRouteConfigName());
          }
        });
      }
    }
    return names;
  }

  public static Optional<HttpConnectionManager> httpConnectionManager(FilterChain chain) {
    for (Filter filter : chain.getFiltersList()) {
      if (filter.hasTypedConfig() && filter.getTypedConfig().getTypeUrl().equals(HCM_TYPE_URL)) {
        return Optional.of(unpack(filter.getTypedConfig(), HttpConnectionManager.class));
      }
    }
    return Optional.empty();
  }

  /**
   * The cluster's upstream TLS context, inside an {@code upstream_proxy_protocol} wrapper too; or
   * empty for plaintext.
   */
  public static Optional<UpstreamTlsContext> upstreamTlsContext(Cluster cluster) {
    if (!cluster.hasTransportSocket()) {
      return Optional.empty();
    }
    TransportSocket socket = cluster.getTransportSocket();
    if (socket.getTypedConfig().getTypeUrl().equals(PROXY_PROTOCOL_TYPE_URL)) {
      socket = unpack(socket.getTypedConfig(), ProxyProtocolUpstreamTransport.class)
          .getTransportSocket();
    }
    if (!socket.getTypedConfig().getTypeUrl().equals(UPSTREAM_TLS_TYPE_URL)) {
      return Optional.empty();
    }
    return Optional.of(unpack(socket.getTypedConfig(), UpstreamTlsContext.class));
  }

  /**
   * The PROXY protocol version a cluster's connections start with: its transport socket is an
   * {@code upstream_proxy_protocol} wrapper (around TLS or raw bytes); empty when it is not.
   */
  public static Optional<ProxyProtocolConfig.Version> upstreamProxyProtocol(Cluster cluster) {
    if (!cluster.hasTransportSocket()
        || !cluster.getTransportSocket().getTypedConfig().getTypeUrl().equals(PROXY_PROTOCOL_TYPE_URL)) {
      return Optional.empty();
    }
    return Optional.of(unpack(cluster.getTransportSocket().getTypedConfig(),
        ProxyProtocolUpstreamTransport.class).getConfig().getVersion());
  }

  public static Optional<DownstreamTlsContext> downstreamTlsContext(FilterChain chain) {
    if (!chain.hasTransportSocket()) {
      return Optional.empty();
    }
    TransportSocket socket = chain.getTransportSocket();
    if (!socket.getTypedConfig().getTypeUrl().equals(DOWNSTREAM_TLS_TYPE_URL)) {
      return Optional.empty();
    }
    return Optional.of(unpack(socket.getTypedConfig(), DownstreamTlsContext.class));
  }

  /** The PEM roots of a validation-context secret such as {@code ROOTCA}, or empty. */
  public static String trustedCaPem(Secret secret) {
    var source = secret.getValidationContext().getTrustedCa();
    if (!source.getInlineString().isEmpty()) {
      return source.getInlineString();
    }
    return source.getInlineBytes().toString(StandardCharsets.UTF_8);
  }

  static <T extends com.google.protobuf.Message> T unpack(Any any, Class<T> type) {
    try {
      return any.unpack(type);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException(
          "typed_config: cannot decode " + any.getTypeUrl() + " as " + type.getSimpleName(), e);
    }
  }
}
