package io.isthmus.controller.translate;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import java.util.List;

/**
 * The complete xDS configuration of one proxy, one list per resource type, each sorted by
 * resource name so equal inputs give equal (and equally serialized) outputs.
 *
 * @param listenerConflicts the outbound listener conflicts translation settled for this proxy
 *                          ({@link ListenerConflict}), in the order it met them; not sent to the
 *                          proxy, reported by the controller
 */
public record ProxyResources(
        List<Cluster> clusters,
        List<ClusterLoadAssignment> endpoints,
        List<Listener> listeners,
        List<RouteConfiguration> routes,
        List<Secret> secrets,
        List<ListenerConflict> listenerConflicts) {

    public ProxyResources {
        clusters = List.copyOf(clusters);
        endpoints = List.copyOf(endpoints);
        listeners = List.copyOf(listeners);
        routes = List.copyOf(routes);
        secrets = List.copyOf(secrets);
        listenerConflicts = List.copyOf(listenerConflicts);
    }

    /** Resources without listener conflicts. */
    public ProxyResources(List<Cluster> clusters, List<ClusterLoadAssignment> endpoints, List<Listener> listeners,
            List<RouteConfiguration> routes, List<Secret> secrets) {
        this(clusters, endpoints, listeners, routes, secrets, List.of());
    }
}
