package io.isthmus.proxy.internal;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.isthmus.proxy.policy.RequestView;
import io.isthmus.proxy.policy.RouteRules;
import io.isthmus.proxy.policy.RouteRules.RouteRule;
import io.isthmus.proxy.policy.RouteRules.VirtualHostRules;
import io.isthmus.proxy.policy.RouteTarget;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The outbound HTTP routing decision: the Host header's port picks the route configuration
 * named after it, its host the virtual host (exact domain first, then the longest
 * {@code *.suffix}, then {@code *}), and the first route of that virtual host whose match
 * (path, headers, query parameters) holds is the answer. Everything is compiled once, when
 * the table is built. Immutable.
 */
public final class RouteTable {

  public static final RouteTable EMPTY = new RouteTable(Map.of());

  /**
   * Where a request matched: its route configuration, virtual host and route, whether the
   * connection manager that serves that configuration accepts WebSocket upgrades, and that
   * connection manager's {@code common_http_protocol_options.max_stream_duration} (zero: none).
   */
  record Match(RouteRules config, VirtualHostRules virtualHost, RouteRule route,
      boolean websocket, java.time.Duration maxStreamDuration) {
    Match(RouteRules config, VirtualHostRules virtualHost, RouteRule route) {
      this(config, virtualHost, route, false, java.time.Duration.ZERO);
    }

    Match(RouteRules config, VirtualHostRules virtualHost, RouteRule route,
        boolean websocket) {
      this(config, virtualHost, route, websocket, java.time.Duration.ZERO);
    }
  }

  /** One route configuration with its domain index. */
  private record Compiled(RouteRules rules, Map<String, VirtualHostRules> exact,
      List<Map.Entry<String, VirtualHostRules>> suffixes, VirtualHostRules any,
      boolean websocket, java.time.Duration maxStreamDuration) {}

  private final Map<String, Compiled> configs;

  /**
   * Compiles every configuration; they passed the xDS client's validation, so a failure here
   * is a bug, not bad input.
   */
  public RouteTable(Map<String, RouteConfiguration> configs) {
    this(configs, java.util.Set.of());
  }

  /**
   * As {@link #RouteTable(Map)}; the configurations named in {@code websocket} are served by a
   * connection manager whose {@code upgrade_configs} enable {@code websocket}.
   */
  public RouteTable(Map<String, RouteConfiguration> configs, java.util.Set<String> websocket) {
    this(configs, websocket, Map.of());
  }

  /**
   * As above; {@code maxStreamDuration}: the {@code common_http_protocol_options
   * .max_stream_duration} of the connection manager serving each configuration that has one.
   */
  public RouteTable(Map<String, RouteConfiguration> configs, java.util.Set<String> websocket,
      Map<String, java.time.Duration> maxStreamDuration) {
    requireNonNull(configs, "configs");
    requireNonNull(websocket, "websocket");
    requireNonNull(maxStreamDuration, "maxStreamDuration");
    Map<String, Compiled> compiled = new HashMap<>();
    configs.forEach((name, config) -> compiled.put(name,
        compile(RouteRules.compile(config), websocket.contains(name),
            maxStreamDuration.getOrDefault(name, java.time.Duration.ZERO))));
    this.configs = Map.copyOf(compiled);
  }

  private static Compiled compile(RouteRules rules, boolean websocket,
      java.time.Duration maxStreamDuration) {
    Map<String, VirtualHostRules> exact = new HashMap<>();
    List<Map.Entry<String, VirtualHostRules>> suffixes = new ArrayList<>();
    VirtualHostRules any = null;
    for (VirtualHostRules vhost : rules.virtualHosts()) {
      for (String domain : vhost.domains()) {
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
    return new Compiled(rules, Map.copyOf(exact), List.copyOf(suffixes), any, websocket,
        maxStreamDuration);
  }

  /**
   * The cluster for a request with no headers of interest, or empty when nothing routes it
   * to a cluster (the first of weighted clusters).
   *
   * @param hostHeader the request's Host header, {@code host[:port]}; port 80 when absent
   */
  public Optional<String> clusterFor(String hostHeader, String path) {
    requireNonNull(hostHeader, "hostHeader");
    requireNonNull(path, "path");
    int q = path.indexOf('?');
    RequestView view = new RequestView("GET", hostHeader, q >= 0 ? path.substring(0, q) : path,
        Map.of(), new DefaultHttpHeaders(), "");
    return route(view).flatMap(m -> m.route().target() instanceof RouteTarget.Forward f
        ? Optional.of(f.clusters().get(0).cluster()) : Optional.empty());
  }

  /** The first route of the request's virtual host that matches it, or empty. */
  Optional<Match> route(RequestView request) {
    return route(request, null);
  }

  /**
   * As {@link #route(RequestView)}, in route configuration {@code routeConfig} when not null (a
   * captured connection: its original destination's port picked the listener, so the Host
   * header's port, often absent, does not decide).
   */
  Optional<Match> route(RequestView request, String routeConfig) {
    String authority = request.authority().trim().toLowerCase(Locale.ROOT);
    String host = authority;
    String port = "80";
    int colon = authority.lastIndexOf(':');
    if (colon > 0 && authority.indexOf(']') < colon) {
      host = authority.substring(0, colon);
      port = authority.substring(colon + 1);
    }
    Compiled config = configs.get(routeConfig != null ? routeConfig : port);
    if (config == null) {
      return Optional.empty();
    }
    VirtualHostRules vhost = selectVirtualHost(config, authority, host);
    if (vhost == null) {
      return Optional.empty();
    }
    return vhost.match(request).map(route -> new Match(config.rules(), vhost, route,
        config.websocket(), config.maxStreamDuration()));
  }

  private static VirtualHostRules selectVirtualHost(Compiled config, String authority,
      String host) {
    VirtualHostRules found = config.exact().get(authority);
    if (found == null) {
      found = config.exact().get(host);
    }
    if (found != null) {
      return found;
    }
    Map.Entry<String, VirtualHostRules> best = null;
    for (Map.Entry<String, VirtualHostRules> suffix : config.suffixes()) {
      if ((host.endsWith(suffix.getKey()) || authority.endsWith(suffix.getKey()))
          && (best == null || suffix.getKey().length() > best.getKey().length())) {
        best = suffix;
      }
    }
    return best != null ? best.getValue() : config.any();
  }
}
