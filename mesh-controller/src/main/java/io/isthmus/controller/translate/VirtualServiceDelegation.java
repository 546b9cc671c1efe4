package io.isthmus.controller.translate;

import io.isthmus.controller.config.ConfigEntry;
import io.isthmus.controller.config.Hosts;
import io.isthmus.controller.config.VirtualServiceSpec;
import io.isthmus.controller.config.VirtualServiceSpec.Destination;
import io.isthmus.controller.config.VirtualServiceSpec.HttpMirrorPolicy;
import io.isthmus.controller.config.VirtualServiceSpec.HttpRoute;
import io.isthmus.controller.config.VirtualServiceSpec.MatchRequest;
import io.isthmus.controller.config.VirtualServiceSpec.RouteDestination;
import io.isthmus.controller.config.VirtualServiceSpec.StringMatch;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BiFunction;

/**
 * Istio's VirtualService delegation, as pilot merges it before translation: a root route with a
 * {@code delegate} stands for the delegate VirtualService's {@code http} routes, each merged
 * with it.
 *
 * <ul>
 *   <li>A delegate is a VirtualService without {@code hosts}, named by the root route (its
 *       namespace by default the root's) and exported to the root's namespace; one that is
 *       missing or not exported drops only that root route.
 *   <li>Each delegate route keeps its own fields; the root route's {@code rewrite},
 *       {@code timeout}, {@code retries}, {@code fault}, mirror fields, {@code corsPolicy} and
 *       {@code headers} fill in what it leaves out; names join as {@code root-delegate}.
 *   <li>Matches: every delegate match must narrow some root match (a URI prefix inside the
 *       root's prefix, equal exact values, the same header values, the same port and URI case
 *       rule; a regex on either side never narrows); the merged match is the delegate's with the
 *       root's conditions added. A delegate route with a match that narrows no root match is
 *       dropped.
 * </ul>
 *
 * Destination hosts are resolved in the namespace of the VirtualService they are written in, so
 * a short name in a delegate means a service of the delegate's namespace. Pure.
 */
final class VirtualServiceDelegation {

    private VirtualServiceDelegation() {}

    /** Finds a VirtualService by namespace and name. */
    interface Lookup {
        Optional<ConfigEntry<VirtualServiceSpec>> find(String namespace, String name);
    }

    /**
     * The HTTP routes of {@code root} with each delegating route replaced by its merged delegate
     * routes, in order; destination hosts resolved with {@code resolve(host, namespace)}.
     */
    static List<HttpRoute> httpRoutes(ConfigEntry<VirtualServiceSpec> root, Lookup lookup,
            BiFunction<String, String, String> resolve) {
        List<HttpRoute> out = new ArrayList<>();
        for (HttpRoute route : root.spec().http()) {
            if (route.delegate() == null) {
                out.add(resolved(route, root.namespace(), resolve));
                continue;
            }
            String namespace = route.delegate().namespace() == null || route.delegate().namespace().isEmpty()
                    ? root.namespace() : route.delegate().namespace();
            Optional<ConfigEntry<VirtualServiceSpec>> delegate = lookup.find(namespace, route.delegate().name())
                    .filter(vs -> vs.spec().hosts().isEmpty())
                    .filter(vs -> Hosts.exported(vs.spec().exportTo(), vs.namespace(), root.namespace()));
            if (delegate.isEmpty()) {
                continue;
            }
            HttpRoute rootRoute = resolved(route, root.namespace(), resolve);
            for (HttpRoute child : delegate.get().spec().http()) {
                if (child.delegate() == null) {
                    merge(rootRoute, resolved(child, namespace, resolve)).ifPresent(out::add);
                }
            }
        }
        return out;
    }

    /** The delegate route merged with its root route; empty when their matches conflict. */
    static Optional<HttpRoute> merge(HttpRoute root, HttpRoute delegate) {
        Optional<List<MatchRequest>> matches = mergeMatches(root.match(), delegate.match());
        if (matches.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(new HttpRoute(
                joinNames(root.name(), delegate.name()),
                matches.get(),
                delegate.route(),
                delegate.redirect(),
                delegate.directResponse(),
                null,
                or(delegate.rewrite(), root.rewrite()),
                or(delegate.timeout(), root.timeout()),
                or(delegate.retries(), root.retries()),
                or(delegate.fault(), root.fault()),
                or(delegate.mirror(), root.mirror()),
                or(delegate.mirrorPercentage(), root.mirrorPercentage()),
                or(delegate.mirrorPercent(), root.mirrorPercent()),
                delegate.mirrors(),
                or(delegate.corsPolicy(), root.corsPolicy()),
                or(delegate.headers(), root.headers())));
    }

    /**
     * Each delegate match merged with every root match it narrows; empty (a conflict) when one
     * narrows none. No matches on one side: the other side's.
     */
    static Optional<List<MatchRequest>> mergeMatches(List<MatchRequest> root, List<MatchRequest> delegate) {
        if (root.isEmpty()) {
            return Optional.of(delegate);
        }
        if (delegate.isEmpty()) {
            return Optional.of(root);
        }
        List<MatchRequest> out = new ArrayList<>();
        for (MatchRequest leaf : delegate) {
            boolean narrowsOne = false;
            for (MatchRequest parent : root) {
                if (!conflict(parent, leaf)) {
                    out.add(mergeMatch(parent, leaf));
                    narrowsOne = true;
                }
            }
            if (!narrowsOne) {
                return Optional.empty();
            }
        }
        return Optional.of(out);
    }

    private static MatchRequest mergeMatch(MatchRequest root, MatchRequest leaf) {
        return new MatchRequest(
                joinNames(root.name(), leaf.name()),
                or(leaf.uri(), root.uri()),
                or(leaf.scheme(), root.scheme()),
                or(leaf.method(), root.method()),
                or(leaf.authority(), root.authority()),
                union(root.headers(), leaf.headers()),
                leaf.port() != null && leaf.port() != 0 ? leaf.port() : root.port(),
                // Source labels, namespace and gateways select the sidecar: the delegate's own only, as pilot.
                leaf.sourceLabels(),
                leaf.gateways(),
                union(root.queryParams(), leaf.queryParams()),
                leaf.ignoreUriCase(),
                union(root.withoutHeaders(), leaf.withoutHeaders()),
                leaf.sourceNamespace(),
                or(leaf.statPrefix(), root.statPrefix()));
    }

    private static boolean conflict(MatchRequest root, MatchRequest leaf) {
        if (conflict(root.uri(), leaf.uri()) || conflict(root.scheme(), leaf.scheme())
                || conflict(root.method(), leaf.method()) || conflict(root.authority(), leaf.authority())) {
            return true;
        }
        for (Map.Entry<String, StringMatch> header : leaf.headers().entrySet()) {
            if (conflict(root.headers().get(header.getKey()), header.getValue())) {
                return true;
            }
        }
        for (Map.Entry<String, StringMatch> header : leaf.withoutHeaders().entrySet()) {
            if (conflict(root.withoutHeaders().get(header.getKey()), header.getValue())) {
                return true;
            }
        }
        for (Map.Entry<String, StringMatch> param : leaf.queryParams().entrySet()) {
            if (conflict(root.queryParams().get(param.getKey()), param.getValue())) {
                return true;
            }
        }
        if (Boolean.TRUE.equals(root.ignoreUriCase()) != Boolean.TRUE.equals(leaf.ignoreUriCase())) {
            return true;
        }
        return root.port() != null && root.port() > 0 && leaf.port() != null && leaf.port() > 0
                && !root.port().equals(leaf.port());
    }

    /** Whether {@code leaf} fails to narrow {@code root} (no conflict when either is absent). */
    private static boolean conflict(StringMatch root, StringMatch leaf) {
        if (root == null || leaf == null) {
            return false;
        }
        if (root.regex() != null || leaf.regex() != null) {
            return true;
        }
        if (root.exact() != null) {
            return leaf.prefix() != null || !root.exact().equals(leaf.exact());
        }
        if (root.prefix() != null) {
            String narrower = leaf.prefix() != null ? leaf.prefix() : leaf.exact();
            return narrower == null || !narrower.startsWith(root.prefix());
        }
        return true;
    }

    /** {@code route} with its destinations' hosts resolved in {@code namespace}. */
    private static HttpRoute resolved(HttpRoute route, String namespace, BiFunction<String, String, String> resolve) {
        List<RouteDestination> destinations = route.route().stream()
                .map(d -> new RouteDestination(resolved(d.destination(), namespace, resolve), d.weight(), d.headers()))
                .toList();
        List<HttpMirrorPolicy> mirrors = route.mirrors().stream()
                .map(m -> new HttpMirrorPolicy(resolved(m.destination(), namespace, resolve), m.percentage()))
                .toList();
        return new HttpRoute(route.name(), route.match(), destinations, route.redirect(), route.directResponse(),
                route.delegate(), route.rewrite(), route.timeout(), route.retries(), route.fault(),
                resolved(route.mirror(), namespace, resolve), route.mirrorPercentage(), route.mirrorPercent(),
                mirrors, route.corsPolicy(), route.headers());
    }

    private static Destination resolved(Destination d, String namespace, BiFunction<String, String, String> resolve) {
        return d == null || d.host() == null ? d : new Destination(resolve.apply(d.host(), namespace), d.subset(), d.port());
    }

    private static String joinNames(String root, String leaf) {
        if (leaf == null || leaf.isEmpty()) {
            return root;
        }
        return root == null || root.isEmpty() ? leaf : root + "-" + leaf;
    }

    private static <T> Map<String, T> union(Map<String, T> root, Map<String, T> leaf) {
        Map<String, T> out = new LinkedHashMap<>(root);
        out.putAll(leaf);
        return out;
    }

    private static <T> T or(T value, T fallback) {
        return value != null ? value : fallback;
    }
}
