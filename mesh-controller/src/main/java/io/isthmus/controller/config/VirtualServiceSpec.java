package io.isthmus.controller.config;

import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;

/**
 * The spec of an Istio {@code VirtualService} (networking.istio.io v1/v1beta1/v1alpha3), field for
 * field as Istio's API names them. Absent fields are {@code null} (lists and maps: empty). One
 * without {@code hosts} is a delegate: its {@code http} routes are used only through another
 * VirtualService's route {@code delegate}.
 * Parsing rejects any field not listed here, naming it.
 */
public record VirtualServiceSpec(
        List<String> hosts,
        List<String> gateways,
        List<HttpRoute> http,
        List<TlsRoute> tls,
        List<TcpRoute> tcp,
        List<String> exportTo) {

    public VirtualServiceSpec {
        hosts = Specs.list(hosts);
        gateways = Specs.list(gateways);
        http = Specs.list(http);
        tls = Specs.list(tls);
        tcp = Specs.list(tcp);
        exportTo = Specs.list(exportTo);
    }

    public record HttpRoute(
            String name,
            List<MatchRequest> match,
            List<RouteDestination> route,
            Redirect redirect,
            DirectResponse directResponse,
            Delegate delegate,
            Rewrite rewrite,
            String timeout,
            Retry retries,
            Fault fault,
            Destination mirror,
            Percent mirrorPercentage,
            Integer mirrorPercent,
            List<HttpMirrorPolicy> mirrors,
            CorsPolicy corsPolicy,
            Headers headers) {

        public HttpRoute {
            match = Specs.list(match);
            route = Specs.list(route);
            mirrors = Specs.list(mirrors);
        }
    }

    public record MatchRequest(
            String name,
            StringMatch uri,
            StringMatch scheme,
            StringMatch method,
            StringMatch authority,
            Map<String, StringMatch> headers,
            Integer port,
            Map<String, String> sourceLabels,
            List<String> gateways,
            Map<String, StringMatch> queryParams,
            Boolean ignoreUriCase,
            Map<String, StringMatch> withoutHeaders,
            String sourceNamespace,
            String statPrefix) {

        public MatchRequest {
            headers = Specs.map(headers);
            sourceLabels = Specs.map(sourceLabels);
            gateways = Specs.list(gateways);
            queryParams = Specs.map(queryParams);
            withoutHeaders = Specs.map(withoutHeaders);
        }
    }

    /**
     * The VirtualService whose {@code http} routes stand in for this route ({@code namespace}
     * absent: the root VirtualService's): a delegate, one with no {@code hosts}.
     */
    public record Delegate(String name, String namespace) {}

    /** One of {@code mirrors}: where to send a copy, for which share of requests (absent: all). */
    public record HttpMirrorPolicy(Destination destination, Percent percentage) {}

    /**
     * Istio's {@code CorsPolicy}; {@code allowOrigin} is the deprecated list of exact origins,
     * {@code unmatchedPreflights} one of {@code UNSPECIFIED}, {@code FORWARD}, {@code IGNORE}.
     */
    public record CorsPolicy(
            List<String> allowOrigin,
            List<StringMatch> allowOrigins,
            List<String> allowMethods,
            List<String> allowHeaders,
            List<String> exposeHeaders,
            String maxAge,
            Boolean allowCredentials,
            String unmatchedPreflights) {

        public CorsPolicy {
            allowOrigin = Specs.list(allowOrigin);
            allowOrigins = Specs.list(allowOrigins);
            allowMethods = Specs.list(allowMethods);
            allowHeaders = Specs.list(allowHeaders);
            exposeHeaders = Specs.list(exposeHeaders);
        }
    }

    /** Istio's {@code TCPRoute}: the first whose match selects a connection sends it to {@code route}. */
    public record TcpRoute(List<L4MatchAttributes> match, List<L4RouteDestination> route) {

        public TcpRoute {
            match = Specs.list(match);
            route = Specs.list(route);
        }
    }

    /** Istio's {@code TLSRoute}: matched on the ClientHello's SNI, relayed without terminating TLS. */
    public record TlsRoute(List<TlsMatchAttributes> match, List<L4RouteDestination> route) {

        public TlsRoute {
            match = Specs.list(match);
            route = Specs.list(route);
        }
    }

    /** Istio's {@code L4MatchAttributes} ({@code sourceSubnet} is accepted, not translated, as in Istio's sidecars). */
    public record L4MatchAttributes(
            List<String> destinationSubnets,
            Integer port,
            String sourceSubnet,
            Map<String, String> sourceLabels,
            List<String> gateways,
            String sourceNamespace) {

        public L4MatchAttributes {
            destinationSubnets = Specs.list(destinationSubnets);
            sourceLabels = Specs.map(sourceLabels);
            gateways = Specs.list(gateways);
        }
    }

    /** Istio's {@code TLSMatchAttributes}: {@code sniHosts} is required. */
    public record TlsMatchAttributes(
            List<String> sniHosts,
            List<String> destinationSubnets,
            Integer port,
            Map<String, String> sourceLabels,
            List<String> gateways,
            String sourceNamespace) {

        public TlsMatchAttributes {
            sniHosts = Specs.list(sniHosts);
            destinationSubnets = Specs.list(destinationSubnets);
            sourceLabels = Specs.map(sourceLabels);
            gateways = Specs.list(gateways);
        }
    }

    /** A route's destination and its share of the traffic, in HTTP and TCP/TLS routes alike. */
    public sealed interface WeightedDestination permits RouteDestination, L4RouteDestination {
        Destination destination();

        Integer weight();
    }

    /** Istio's {@code RouteDestination} of TCP and TLS routes: no header operations. */
    public record L4RouteDestination(Destination destination, Integer weight) implements WeightedDestination {}

    /** Exactly one of {@code exact}, {@code prefix}, {@code regex} (validation checks). */
    public record StringMatch(String exact, String prefix, String regex) {}

    public record RouteDestination(Destination destination, Integer weight, Headers headers)
            implements WeightedDestination {}

    public record Destination(String host, String subset, PortSelector port) {}

    public record PortSelector(Integer number) {}

    public record Percent(Double value) {}

    public record Headers(HeaderOperations request, HeaderOperations response) {}

    public record HeaderOperations(Map<String, String> set, Map<String, String> add, List<String> remove) {

        public HeaderOperations {
            set = Specs.map(set);
            add = Specs.map(add);
            remove = Specs.list(remove);
        }
    }

    public record Redirect(
            String uri,
            String authority,
            Integer port,
            String derivePort,
            String scheme,
            Integer redirectCode) {}

    public record DirectResponse(Integer status, JsonNode body) {}

    public record Rewrite(String uri, String authority, RegexRewrite uriRegexRewrite) {}

    /** An RE2 {@code match} on the path and its {@code rewrite}, where {@code \1} names a group. */
    public record RegexRewrite(String match, String rewrite) {}

    public record Retry(Integer attempts, String perTryTimeout, String retryOn, Boolean retryRemoteLocalities,
            Boolean retryIgnorePreviousHosts, String backoff) {}

    public record Fault(Delay delay, Abort abort) {}

    public record Delay(String fixedDelay, String exponentialDelay, Percent percentage, Integer percent) {}

    public record Abort(Integer httpStatus, String grpcStatus, String http2Error, Percent percentage) {

        /** gRPC's status names and codes (grpc/doc/statuscodes.md), as Istio's {@code grpcStatus} takes them. */
        public static final Map<String, Integer> GRPC_STATUS = Map.ofEntries(Map.entry("OK", 0),
                Map.entry("CANCELLED", 1), Map.entry("UNKNOWN", 2), Map.entry("INVALID_ARGUMENT", 3),
                Map.entry("DEADLINE_EXCEEDED", 4), Map.entry("NOT_FOUND", 5), Map.entry("ALREADY_EXISTS", 6),
                Map.entry("PERMISSION_DENIED", 7), Map.entry("RESOURCE_EXHAUSTED", 8),
                Map.entry("FAILED_PRECONDITION", 9), Map.entry("ABORTED", 10), Map.entry("OUT_OF_RANGE", 11),
                Map.entry("UNIMPLEMENTED", 12), Map.entry("INTERNAL", 13), Map.entry("UNAVAILABLE", 14),
                Map.entry("DATA_LOSS", 15), Map.entry("UNAUTHENTICATED", 16));
    }
}
