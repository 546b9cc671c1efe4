package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The outbound HTTP routing decision: the Host header's port picks the route configuration
 * named after it, its host the virtual host (exact domain first, then the longest
 * {@code *.suffix}, then {@code *}), the path the first matching route, whose cluster is
 * the answer. Immutable.
 */
public final class RouteTable {

  public static final RouteTable EMPTY = new RouteTable(Map.of());

  private final Map<String, RouteConfiguration> configs;

  public RouteTable(Map<String, RouteConfiguration> configs) {
    this.configs = Map.copyOf(requireNonNull(configs, "configs"));
  }

  /**
   * The cluster for a request, or empty when nothing routes it.
   *
   * @param hostHeader the request's Host header, {@code host[:port]}; port 80 when absent
   */
  public Optional<String> clusterFor(String hostHeader, String path) {
    requireNonNull(hostHeader, "hostHeader");
    requireNonNull(path, "path");
    String authority = hostHeader.trim().toLowerCase(Locale.ROOT);
    String host = authority;
    String port = "80";
    int colon = authority.lastIndexOf(':');
    if (colon > 0 && authority.indexOf(']') < colon) {
      host = authority.substring(0, colon);
      port = authority.substring(colon + 1);
    }
    RouteConfiguration config = configs.get(port);
    if (config == null) {
      return Optional.empty();
    }
    VirtualHost vhost = selectVirtualHost(config, authority, host);
    if (vhost == null) {
      return Optional.empty();
    }
    for (Route route : vhost.getRoutesList()) {
      if (matches(route.getMatch(), path) && route.hasRoute()) {
        var action = route.getRoute();
        if (!action.getCluster().isEmpty()) {
          return Optional.of(action.getCluster());
        }
        if (action.hasWeightedClusters() && action.getWeightedClusters().getClustersCount() > 0) {
          return Optional.of(action.getWeightedClusters().getClusters(0).getName());
        }
      }
    }
    return Optional.empty();
  }

  private static VirtualHost selectVirtualHost(RouteConfiguration config, String authority,
      String host) {
    Map<String, VirtualHost> exact = new HashMap<>();
    List<Map.Entry<String, VirtualHost>> suffixes = new ArrayList<>();
    VirtualHost any = null;
    for (VirtualHost vhost : config.getVirtualHostsList()) {
      for (String domain : vhost.getDomainsList()) {
        String d = domain.toLowerCase(Locale.ROOT);
        if (d.equals("*")) {
          any = any == null ? vhost : any;
        } else if (d.startsWith("*")) {
          suffixes.add(Map.entry(d.substring(1), vhost));
        } else {
          exact.putIfAbsent(d, vhost);
        }
      }
    }
    VirtualHost found = exact.get(authority);
    if (found == null) {
      found = exact.get(host);
    }
    if (found != null) {
      return found;
    }
    Map.Entry<String, VirtualHost> best = null;
    for (Map.Entry<String, VirtualHost> suffix : suffixes) {
      if ((host.endsWith(suffix.getKey()) || authority.endsWith(suffix.getKey()))
          && (best == null || suffix.getKey().length() > best.getKey().length())) {
        best = suffix;
      }
    }
    return best != null ? best.getValue() : any;
  }

  private static boolean matches(RouteMatch match, String path) {
    return switch (match.getPathSpecifierCase()) {
      case PREFIX -> path.startsWith(match.getPrefix());
      case PATH -> path.equals(match.getPath()) || path.startsWith(match.getPath() + "?");
      case PATHSPECIFIER_NOT_SET -> true;
      default -> false;
    };
  }
}
