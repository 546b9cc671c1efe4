package io.isthmus.controller.translate;

import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.QueryParameterMatcher;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/** Envoy's first-match route selection over the fields the translator emits (test oracle). */
final class RouteTable {

    private RouteTable() {}

    /** The chosen cluster, {@code weighted:a=w,b=w}, or {@code none}. */
    static String decide(VirtualHost vh, String pathAndQuery, String method, Map<String, String> headers) {
        String path = pathAndQuery.contains("?") ? pathAndQuery.substring(0, pathAndQuery.indexOf('?')) : pathAndQuery;
        Map<String, String> query = new HashMap<>();
        if (pathAndQuery.contains("?")) {
            for (String kv : pathAndQuery.substring(pathAndQuery.indexOf('?') + 1).split("&")) {
                String[] p = kv.split("=", 2);
                query.put(p[0], p.length > 1 ? p[1] : "");
            }
        }
        Map<String, String> all = new HashMap<>(headers);
        all.put(":method", method);
        for (Route route : vh.getRoutesList()) {
            if (matches(route.getMatch(), path, query, all)) {
                if (route.getRoute().hasWeightedClusters()) {
                    List<String> parts = new ArrayList<>();
                    route.getRoute().getWeightedClusters().getClustersList()
                            .forEach(c -> parts.add(c.getName() + "=" + c.getWeight().getValue()));
                    return "weighted:" + String.join(",", parts);
                }
                return route.getRoute().getCluster();
            }
        }
        return "none";
    }

    private static boolean matches(RouteMatch m, String path, Map<String, String> query, Map<String, String> headers) {
        boolean pathOk = switch (m.getPathSpecifierCase()) {
            case PREFIX -> path.startsWith(m.getPrefix());
            case PATH -> path.equals(m.getPath());
            case SAFE_REGEX -> Pattern.matches(m.getSafeRegex().getRegex(), path);
            default -> false;
        };
        if (!pathOk) {
            return false;
        }
        for (HeaderMatcher h : m.getHeadersList()) {
            String v = headers.get(h.getName());
            boolean ok = h.getPresentMatch() ? v != null : v != null && string(h.getStringMatch(), v);
            if (ok == h.getInvertMatch()) {
                return false;
            }
        }
        for (QueryParameterMatcher q : m.getQueryParametersList()) {
            String v = query.get(q.getName());
            if (v == null || (!q.getPresentMatch() && !string(q.getStringMatch(), v))) {
                return false;
            }
        }
        return true;
    }

    private static boolean string(StringMatcher s, String v) {
        return switch (s.getMatchPatternCase()) {
            case EXACT -> v.equals(s.getExact());
            case PREFIX -> v.startsWith(s.getPrefix());
            case SAFE_REGEX -> Pattern.matches(s.getSafeRegex().getRegex(), v);
            default -> false;
        };
    }
}
