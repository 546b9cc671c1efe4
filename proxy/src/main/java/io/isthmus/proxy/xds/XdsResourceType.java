package io.isthmus.proxy.xds;

import com.google.protobuf.Message;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.isthmus.trust.nds.NameTable;

/**
 * The Envoy v3 resource types the proxy subscribes to over ADS.
 *
 * <p>{@link #fullState()} types (CDS, LDS) are subscribed with a wildcard and every
 * response carries the complete set: a resource missing from a response is deleted.
 * The other types are subscribed by name. {@link #NAME_TABLE} is Istio's NDS: one unnamed
 * resource, subscribed only by a proxy whose node says {@code DNS_CAPTURE: "true"} (as
 * istio-agent asks for it only with {@code ISTIO_META_DNS_CAPTURE}).
 */
public enum XdsResourceType {
  CLUSTER("type.googleapis.com/envoy.config.cluster.v3.Cluster", Cluster.class, true),
  ENDPOINT("type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
      ClusterLoadAssignment.class, false),
  LISTENER("type.googleapis.com/envoy.config.listener.v3.Listener", Listener.class, true),
  ROUTE("type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
      RouteConfiguration.class, false),
  SECRET("type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
      Secret.class, false),
  NAME_TABLE("type.googleapis.com/istio.networking.nds.v1.NameTable", NameTable.class, true);

  private final String typeUrl;
  private final Class<? extends Message> messageClass;
  private final boolean fullState;

  XdsResourceType(String typeUrl, Class<? extends Message> messageClass, boolean fullState) {
    this.typeUrl = typeUrl;
    this.messageClass = messageClass;
    this.fullState = fullState;
  }

  public String typeUrl() {
    return typeUrl;
  }

  public Class<? extends Message> messageClass() {
    return messageClass;
  }

  public boolean fullState() {
    return fullState;
  }

  /** The type with this type URL, or {@code null} when the proxy does not handle it. */
  public static XdsResourceType fromTypeUrl(String typeUrl) {
    for (XdsResourceType type : values()) {
      if (type.typeUrl.equals(typeUrl)) {
        return type;
      }
    }
    return null;
  }
}
