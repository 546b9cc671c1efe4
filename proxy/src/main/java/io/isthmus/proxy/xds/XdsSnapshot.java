package io.isthmus.proxy.xds;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.isthmus.trust.nds.NameTable;
import java.util.Map;

/**
 * One consistent view of everything the controller has told the proxy: the last good
 * version of each resource, keyed by resource name, and the last accepted version per
 * resource type.
 *
 * <p>Immutable; a new snapshot is built for every change. {@code versions} has an entry for
 * a type once a response for it has been accepted (even an empty one). {@code nameTables} holds
 * Istio's NDS name table under the name {@code ""} once the controller sent one (DNS capture).
 */
public record XdsSnapshot(
    Map<String, Cluster> clusters,
    Map<String, ClusterLoadAssignment> endpoints,
    Map<String, Listener> listeners,
    Map<String, RouteConfiguration> routes,
    Map<String, Secret> secrets,
    Map<String, NameTable> nameTables,
    Map<XdsResourceType, String> versions) {

  public static final XdsSnapshot EMPTY =
      new XdsSnapshot(Map.of(), Map.of(), Map.of(), Map.of(), Map.of(), Map.of());

  /** A snapshot without a name table. */
  public XdsSnapshot(Map<String, Cluster> clusters, Map<String, ClusterLoadAssignment> endpoints,
      Map<String, Listener> listeners, Map<String, RouteConfiguration> routes,
      Map<String, Secret> secrets, Map<XdsResourceType, String> versions) {
    this(clusters, endpoints, listeners, routes, secrets, Map.of(), versions);
  }

  public XdsSnapshot {
    clusters = Map.copyOf(requireNonNull(clusters, "clusters"));
    endpoints = Map.copyOf(requireNonNull(endpoints, "endpoints"));
    listeners = Map.copyOf(requireNonNull(listeners, "listeners"));
    routes = Map.copyOf(requireNonNull(routes, "routes"));
    secrets = Map.copyOf(requireNonNull(secrets, "secrets"));
    nameTables = Map.copyOf(requireNonNull(nameTables, "nameTables"));
    versions = Map.copyOf(requireNonNull(versions, "versions"));
  }

  /** The name table (NDS), or an empty one when the controller sent none. */
  public NameTable nameTable() {
    return nameTables.getOrDefault("", NameTable.getDefaultInstance());
  }

  public boolean received(XdsResourceType type) {
    return versions.containsKey(type);
  }

  /**
   * Whether the first full configuration has arrived: clusters, the endpoints of every EDS
   * cluster, and (when {@code requireListeners}) listeners and every route they name.
   */
  public boolean initialConfigApplied(boolean requireListeners) {
    if (!received(XdsResourceType.CLUSTER)) {
      return false;
    }
    for (Cluster cluster : clusters.values()) {
      if (cluster.getType() == Cluster.DiscoveryType.EDS
          && !endpoints.containsKey(XdsResources.edsServiceName(cluster))) {
        return false;
      }
    }
    if (!requireListeners) {
      return true;
    }
    if (!received(XdsResourceType.LISTENER)) {
      return false;
    }
    for (String routeName : XdsResources.routeNames(listeners.values())) {
      if (!routes.containsKey(routeName)) {
        return false;
      }
    }
    return true;
  }

  @SuppressWarnings("unchecked")
  Map<String, ? extends com.google.protobuf.Message> resources(XdsResourceType type) {
    return switch (type) {
      case CLUSTER -> clusters;
      case ENDPOINT -> endpoints;
      case LISTENER -> listeners;
      case ROUTE -> routes;
      case SECRET -> secrets;
      case NAME_TABLE -> nameTables;
    };
  }
}
