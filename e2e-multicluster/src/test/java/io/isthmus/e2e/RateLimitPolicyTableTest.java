package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.controller.translate.XdsTranslator;
import io.isthmus.proxy.policy.RateLimits;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * "RateLimitPolicy + a sequence of requests → which pass and which get 429", through the real code
 * on both sides and no process: the YAML is parsed and validated by the controller's config
 * package, translated by {@link XdsTranslator} for helloworld's sidecar (namespace sample, labels
 * app=helloworld, version=v1, port 5000), and the resulting inbound connection manager is compiled
 * by the proxy's {@link RateLimits} on a fake clock and asked about each request, as the sidecar's
 * handler does. Proves that what the controller emits is what the sidecar enforces.
 */
class RateLimitPolicyTableTest {

    private static String rl(String ns, String name, String spec) {
        return HelloworldInbound.object("policy.isthmus.io/v1alpha1", "RateLimitPolicy", ns, name, spec);
    }

    private static RateLimits limits(String yaml, AtomicLong clock) {
        return RateLimits.compile(HelloworldInbound.connectionManager(yaml), "virtualInbound",
                RateLimits.Buckets.fresh(clock::get));
    }

    /**
     * {@code "GET /hello"}, with a host and {@code name=value} request headers after it
     * ({@code "GET / - x-user-id=alice"}: the default host), or {@code "+500ms"} to advance the clock.
     */
    private static String run(String yaml, List<String> steps) {
        AtomicLong clock = new AtomicLong();
        RateLimits limits = limits(yaml, clock);
        StringBuilder out = new StringBuilder();
        for (String step : steps) {
            if (step.startsWith("+")) {
                clock.addAndGet(io.isthmus.controller.config.Durations.parse(step.substring(1)).toNanos());
                continue;
            }
            String[] parts = step.split(" ");
            HttpRequest request = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.valueOf(parts[0]),
                    parts[1]);
            request.headers().set("host", parts.length > 2 && !parts[2].equals("-") && !parts[2].contains("=")
                    ? parts[2] : "helloworld.sample:5000");
            for (int i = 2; i < parts.length; i++) {
                int eq = parts[i].indexOf('=');
                if (eq > 0) {
                    request.headers().add(parts[i].substring(0, eq), parts[i].substring(eq + 1));
                }
            }
            RateLimits.Limited limited = limits.check(request, l -> { });
            out.append(limited == null ? 'P' : 'L');
        }
        return out.toString();
    }

    private static List<String> times(int n, String step) {
        return java.util.Collections.nCopies(n, step);
    }

    private static List<String> seq(Object... parts) {
        List<String> out = new ArrayList<>();
        for (Object p : parts) {
            if (p instanceof List<?> l) {
                l.forEach(x -> out.add((String) x));
            } else {
                out.add((String) p);
            }
        }
        return out;
    }

    static Stream<Arguments> table() {
        String perSecond = rl("sample", "hw", "rules: [{limit: {requests: 3, unit: SECOND}}]");
        String burst = rl("sample", "hw", "rules: [{limit: {requests: 2, fillInterval: 500ms, burst: 4}}]");
        String writes = rl("sample", "hw", """
                rules:
                - name: writes
                  match: {methods: [POST, PUT], paths: ["/api/*"]}
                  limit: {requests: 1, unit: MINUTE}
                """);
        String twoRules = rl("sample", "hw", """
                rules:
                - match: {paths: ["/hello"]}
                  limit: {requests: 10, unit: SECOND}
                - limit: {requests: 2, unit: SECOND}
                """);
        String hosts = rl("sample", "hw", """
                rules:
                - match: {hosts: ["helloworld.sample*"]}
                  limit: {requests: 1, unit: HOUR}
                """);
        String perUser = rl("sample", "hw", """
                rules:
                - name: per-user
                  perHeader: {name: x-user-id}
                  limit: {requests: 2, unit: MINUTE}
                """);
        String perUserApi = rl("sample", "hw", """
                rules:
                - name: per-user-api
                  match: {paths: ["/api/*"]}
                  perHeader: {name: x-api-key, maxValues: 2}
                  limit: {requests: 1, unit: HOUR}
                """);
        return Stream.of(
                Arguments.of("no policy", "", times(5, "GET /"), "PPPPP"),
                Arguments.of("per header value: a bucket per user, none without the header", perUser,
                        seq(times(3, "GET / - x-user-id=alice"), times(3, "GET / - x-user-id=bob"),
                                times(3, "GET /")), "PPLPPLPPP"),
                Arguments.of("per header value, refilled", perUser,
                        seq(times(3, "GET / - x-user-id=alice"), "+1m", times(3, "GET / - x-user-id=alice")),
                        "PPLPPL"),
                Arguments.of("per header value with a match, the least recently used value forgotten", perUserApi,
                        seq("GET /api/a - x-api-key=k1", "GET /api/a - x-api-key=k1", "GET /web - x-api-key=k1",
                                "GET /api/a - x-api-key=k2", "GET /api/a - x-api-key=k3",
                                "GET /api/a - x-api-key=k1", "GET /api/a - x-api-key=k3"), "PLPPPPL"),
                Arguments.of("3 per second", perSecond, times(5, "GET /"), "PPPLL"),
                Arguments.of("3 per second, then a second later", perSecond,
                        seq(times(4, "GET /"), "+1s", times(4, "GET /")), "PPPLPPPL"),
                Arguments.of("burst 4, 2 per 500ms", burst,
                        seq(times(5, "GET /"), "+500ms", times(3, "GET /"), "+2s", times(5, "GET /")),
                        "PPPPLPPLPPPPL"),
                Arguments.of("writes to /api only", writes,
                        seq("POST /api/a", "PUT /api/b", "GET /api/c", "POST /web", "GET /api/d"), "PLPPP"),
                Arguments.of("a request takes a token of every rule it matches", twoRules,
                        seq("GET /hello", "GET /hello", "GET /hello", "GET /other"), "PPLL"),
                Arguments.of("path exact with a query", rl("sample", "hw",
                        "rules: [{match: {paths: [\"/exact\"]}, limit: {requests: 1, unit: HOUR}}]"),
                        seq("GET /exact?x=1", "GET /exact", "GET /exact/more"), "PLP"),
                Arguments.of("hosts, any port and case", hosts,
                        seq("GET / HelloWorld.Sample:5000", "GET / helloworld.sample", "GET / reviews"), "PLP"),
                Arguments.of("another port's rule", rl("sample", "hw",
                        "rules: [{match: {ports: [\"9000\"]}, limit: {requests: 1, unit: HOUR}}]"),
                        times(3, "GET /"), "PPP"),
                Arguments.of("dry run never refuses", rl("sample", "hw",
                        "dryRun: true\nrules: [{limit: {requests: 1, unit: HOUR}}]"), times(3, "GET /"), "PPP"),
                Arguments.of("mesh-wide from the root namespace", rl("istio-system", "mesh",
                        "rules: [{limit: {requests: 1, unit: HOUR}}]"), times(2, "GET /"), "PL"),
                Arguments.of("selector for another version", rl("sample", "v2",
                        "selector: {matchLabels: {version: v2}}\nrules: [{limit: {requests: 1, unit: HOUR}}]"),
                        times(2, "GET /"), "PP"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("table")
    void policyAndRequestsGiveWhatPassesAndWhatIsLimited(String name, String yaml, List<String> steps,
            String expected) {
        assertThat(run(yaml, steps)).isEqualTo(expected);
    }
}
