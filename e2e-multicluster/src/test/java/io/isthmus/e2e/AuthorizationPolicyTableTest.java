package io.isthmus.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.controller.translate.XdsTranslator;
import io.isthmus.proxy.policy.Authorization;
import io.isthmus.proxy.policy.AuthzRequest;
import io.isthmus.proxy.policy.PathNormalizer;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.net.InetAddress;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * "Istio policy + request → allowed or denied", through the real code on both sides and no
 * process: the YAML is parsed and validated by the controller's config package, translated by
 * {@link XdsTranslator} for helloworld's sidecar (namespace sample, labels app=helloworld,
 * version=v1, port 5000), and the resulting inbound connection manager is compiled and evaluated
 * by the proxy's {@link Authorization}, as the sidecar does per request.
 */
class AuthorizationPolicyTableTest {

    private static final String CURL = "spiffe://cluster.local/ns/sample/sa/curl";
    private static final String OPS = "spiffe://cluster.local/ns/ops/sa/robot";

    private static String ap(String ns, String name, String spec) {
        return HelloworldInbound.object("security.istio.io/v1", "AuthorizationPolicy", ns, name, spec);
    }

    private static Authorization authorization(String yaml) {
        return Authorization.of(HelloworldInbound.connectionManager(yaml), "virtualInbound");
    }

    private record Req(String principal, String ip, String method, String target, String host,
            Map<String, String> headers) {
        static Req of(String principal, String method, String target) {
            return new Req(principal, "127.0.2.1", method, target, "helloworld:5000", Map.of());
        }
    }

    private static String decide(Authorization authz, Req r) throws Exception {
        PathNormalizer.Result path = PathNormalizer.normalize(r.target(), authz.paths());
        if (path.rejected()) {
            return "400";
        }
        HttpHeaders headers = new DefaultHttpHeaders();
        r.headers().forEach(headers::add);
        Authorization.Decision d = authz.decide(new AuthzRequest(Optional.ofNullable(r.principal()),
                InetAddress.getByName(r.ip()), InetAddress.getByName(r.ip()), InetAddress.getByName("127.0.1.1"),
                5000, "", r.method(), r.host(), PathNormalizer.forMatching(path.path()), headers));
        return d.allowed() ? "allow" : "deny";
    }

    static final String ALLOW_CURL_DENY_ADMIN = ap("sample", "allow-curl", """
            selector: {matchLabels: {app: helloworld}}
            rules:
            - from: [{source: {principals: ["cluster.local/ns/sample/sa/curl"]}}]
            - from: [{source: {namespaces: ["ops"]}}]
              to: [{operation: {methods: ["GET"], paths: ["/metrics", "/status/*"]}}]
            """) + ap("istio-system", "deny-admin", """
            action: DENY
            rules:
            - to: [{operation: {paths: ["/admin", "/admin/*"]}}]
            """);

    static Stream<Arguments> table() {
        String headerRule = ap("sample", "team", """
                rules:
                - when: [{key: "request.headers[x-team]", values: ["blue", "green"]}]
                """);
        String ipRule = ap("sample", "ip", """
                action: DENY
                rules:
                - from: [{source: {notIpBlocks: ["127.0.2.0/24"]}}]
                """);
        String hostRule = ap("sample", "hosts", """
                rules:
                - to: [{operation: {hosts: ["helloworld"], notMethods: ["DELETE"]}}]
                """);
        return Stream.of(
                Arguments.of("no policy", "", Req.of(null, "GET", "/"), "allow"),
                Arguments.of("ALLOW without rules", ap("sample", "none", "{}"), Req.of(CURL, "GET", "/"), "deny"),
                Arguments.of("rule {}", ap("sample", "all", "rules: [{}]"), Req.of(null, "POST", "/x"), "allow"),
                Arguments.of("curl anywhere", ALLOW_CURL_DENY_ADMIN, Req.of(CURL, "POST", "/anything"), "allow"),
                Arguments.of("curl on /admin: DENY wins", ALLOW_CURL_DENY_ADMIN, Req.of(CURL, "GET", "/admin"), "deny"),
                Arguments.of("curl on //admin/./x", ALLOW_CURL_DENY_ADMIN, Req.of(CURL, "GET", "//admin/./x"), "deny"),
                Arguments.of("curl on /%61dmin", ALLOW_CURL_DENY_ADMIN, Req.of(CURL, "GET", "/%61dmin"), "deny"),
                Arguments.of("curl on /x/../admin;y", ALLOW_CURL_DENY_ADMIN, Req.of(CURL, "GET", "/x/../admin;y"),
                        "deny"),
                Arguments.of("curl on /admin%2Fx", ALLOW_CURL_DENY_ADMIN, Req.of(CURL, "GET", "/admin%2Fx"), "400"),
                Arguments.of("curl on /ADMIN (case-sensitive)", ALLOW_CURL_DENY_ADMIN, Req.of(CURL, "GET", "/ADMIN"),
                        "allow"),
                Arguments.of("ops GET /metrics", ALLOW_CURL_DENY_ADMIN, Req.of(OPS, "GET", "/metrics?x=1"), "allow"),
                Arguments.of("ops GET /status/db", ALLOW_CURL_DENY_ADMIN, Req.of(OPS, "GET", "/status/db"), "allow"),
                Arguments.of("ops POST /metrics", ALLOW_CURL_DENY_ADMIN, Req.of(OPS, "POST", "/metrics"), "deny"),
                Arguments.of("ops GET /other", ALLOW_CURL_DENY_ADMIN, Req.of(OPS, "GET", "/other"), "deny"),
                Arguments.of("plaintext caller", ALLOW_CURL_DENY_ADMIN, Req.of(null, "GET", "/metrics"), "deny"),
                Arguments.of("header blue", headerRule, new Req(CURL, "127.0.2.1", "GET", "/", "h",
                        Map.of("x-team", "blue")), "allow"),
                Arguments.of("header red", headerRule, new Req(CURL, "127.0.2.1", "GET", "/", "h",
                        Map.of("x-team", "red")), "deny"),
                Arguments.of("header absent", headerRule, Req.of(CURL, "GET", "/"), "deny"),
                Arguments.of("inside the allowed block", ipRule, Req.of(CURL, "GET", "/"), "allow"),
                Arguments.of("outside the allowed block", ipRule, new Req(CURL, "127.0.3.1", "GET", "/", "h", Map.of()),
                        "deny"),
                Arguments.of("host with port", hostRule, Req.of(CURL, "GET", "/"), "allow"),
                Arguments.of("host in another case", hostRule, new Req(CURL, "127.0.2.1", "GET", "/", "HelloWorld",
                        Map.of()), "allow"),
                Arguments.of("other host", hostRule, new Req(CURL, "127.0.2.1", "GET", "/", "reviews:5000", Map.of()),
                        "deny"),
                Arguments.of("notMethods DELETE", hostRule, Req.of(CURL, "DELETE", "/"), "deny"),
                Arguments.of("another namespace's policy", ap("other", "x", "action: DENY\nrules: [{}]"),
                        Req.of(CURL, "GET", "/"), "allow"),
                Arguments.of("requestPrincipals without JWT support", ap("sample", "jwt",
                        "rules: [{from: [{source: {requestPrincipals: [\"*\"]}}]}]"), Req.of(CURL, "GET", "/"),
                        "deny"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("table")
    void istioPolicyAndRequestGiveTheDecision(String name, String yaml, Req request, String expected)
            throws Exception {
        assertThat(decide(authorization(yaml), request)).isEqualTo(expected);
    }
}
