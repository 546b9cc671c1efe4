package io.isthmus.controller.config;

import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;

/**
 * The spec of an Istio {@code VirtualService} (networking.istio.io v1/v1beta1/v1alpha3), field for
 * field as Istio's API names them. Absent fields are {@code null} (lists and maps: empty).
 * Parsing rejects any field not listed here, naming it; {@code tls} and {@code tcp} routes are
 * kept as raw JSON (accepted, not translated yet).
 */
public record VirtualServiceSpec(
        List<String> hosts,
        List<String> gateways,
        List<HttpRoute> http,
        List<JsonNode> tls,
        List<JsonNode> tcp,
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
            JsonNode delegate,
            Rewrite rewrite,
            String timeout,
            Retry retries,
            Fault fault,
            Destination mirror,
            Percent mirrorPercentage,
            Integer mirrorPercent,
            List<JsonNode> mirrors,
            JsonNode corsPolicy,
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

    /** Exactly one of {@code exact}, {@code prefix}, {@code regex} (validation checks). */
    public record StringMatch(String exact, String prefix, String regex) {}

    public record RouteDestination(Destination destination, Integer weight, Headers headers) {}

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

    public record Rewrite(String uri, String authority, JsonNode uriRegexRewrite) {}

    public record Retry(Integer attempts, String perTryTimeout, String retryOn, Boolean retryRemoteLocalities,
            Boolean retryIgnorePreviousHosts, String backoff) {}

    public record Fault(Delay delay, Abort abort) {}

    public record Delay(String fixedDelay, String exponentialDelay, Percent percentage, Integer percent) {}

    public record Abort(Integer httpStatus, String grpcStatus, String http2Error, Percent percentage) {}
}
