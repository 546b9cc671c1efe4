package io.isthmus.e2e;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import io.isthmus.proxy.policy.JwtAuthentication;
import java.time.Instant;
import java.util.Date;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.controller.translate.XdsTranslator;
import io.isthmus.proxy.policy.Authorization;
import io.isthmus.proxy.policy.AuthzRequest;
import io.isthmus.proxy.policy.PathNormalizer;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * "RequestAuthentication + AuthorizationPolicy + token → 401, allowed or denied", through the
 * real code on both sides and no process: the YAML is parsed by the controller's config package
 * and translated by {@link XdsTranslator} for helloworld's sidecar; the inbound connection
 * manager is compiled by the proxy, which verifies real tokens (RS256, keys generated here and
 * inlined, as the controller inlines fetched ones) and evaluates the RBAC filters on the claims.
 */
class JwtPolicyTableTest {

    private static final String CURL = "spiffe://cluster.local/ns/sample/sa/curl";
    private static final String OPS = "spiffe://cluster.local/ns/ops/sa/robot";

    private static String ap(String ns, String name, String spec) {
        return HelloworldInbound.object("security.istio.io/v1", "AuthorizationPolicy", ns, name, spec);
    }

    private static final String ISS = "https://issuer.example.com";
    private static final RSAKey KEY = generate();

    private static RSAKey generate() {
        try {
            return new RSAKeyGenerator(2048).keyID("k1").generate();
        } catch (com.nimbusds.jose.JOSEException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String ra(String extra) {
        return "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: sample,"
                + " creationTimestamp: '2026-11-27T00:00:00Z'}\nspec:\n  selector: {matchLabels: {app: helloworld}}\n"
                + "  jwtRules:\n  - issuer: " + ISS + "\n    audiences: [helloworld]\n    jwksUri: " + ISS + "/keys\n"
                + extra + "---\n";
    }

    private static Authorization authorization(String yaml) {
        // What the controller's JwksFetcher would have fetched from jwksUri.
        Map<String, String> fetched = Map.of(ISS + "/keys", new JWKSet(KEY.toPublicJWK()).toString());
        return Authorization.of(HelloworldInbound.connectionManager(yaml, fetched), "virtualInbound");
    }

    private static String token(String sub, String audience, Map<String, Object> claims) {
        Instant now = Instant.now();
        JWTClaimsSet.Builder b = new JWTClaimsSet.Builder().issuer(ISS).subject(sub).audience(audience)
                .issueTime(Date.from(now)).expirationTime(Date.from(now.plusSeconds(600)));
        claims.forEach(b::claim);
        try {
            SignedJWT jwt = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.RS256).keyID("k1").build(), b.build());
            jwt.sign(new RSASSASigner(KEY));
            return jwt.serialize();
        } catch (com.nimbusds.jose.JOSEException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String decide(Authorization authz, String path, String token) throws Exception {
        HttpHeaders headers = new DefaultHttpHeaders();
        if (token != null) {
            headers.set("authorization", "Bearer " + token);
        }
        JwtAuthentication.Result authn = authz.jwt().authenticate(new JwtAuthentication.Request("GET", path, headers));
        if (!authn.allowed()) {
            return "401";
        }
        PathNormalizer.Result normalized = PathNormalizer.normalize(path, authz.paths());
        InetAddress ip = InetAddress.getByName("127.0.2.1");
        Authorization.Decision d = authz.decide(new AuthzRequest(Optional.of(CURL), ip, ip,
                InetAddress.getByName("127.0.1.1"), 5000, "", "GET", "helloworld:5000",
                PathNormalizer.forMatching(normalized.path()), headers, authn.metadata()));
        return d.allowed() ? "allow" : "deny";
    }

    static Stream<Arguments> table() {
        String requireJwt = ra("") + ap("sample", "require-jwt", """
                selector: {matchLabels: {app: helloworld}}
                rules:
                - from: [{source: {requestPrincipals: ["https://issuer.example.com/*"]}}]
                """);
        String alice = ra("") + ap("sample", "alice", """
                rules:
                - from: [{source: {requestPrincipals: ["https://issuer.example.com/alice"]}}]
                  to: [{operation: {paths: ["/private*"]}}]
                - to: [{operation: {notPaths: ["/private*"]}}]
                """);
        String admins = ra("") + ap("sample", "admins", """
                rules:
                - when:
                  - {key: "request.auth.claims[groups]", values: ["admins"]}
                  - {key: "request.auth.claims[org][tier]", notValues: ["free"]}
                  - {key: request.auth.audiences, values: ["helloworld"]}
                """);
        String denyAnonymous = ra("") + ap("istio-system", "deny-anonymous", """
                action: DENY
                rules:
                - from: [{source: {notRequestPrincipals: ["*"]}}]
                  to: [{operation: {paths: ["/admin*"]}}]
                """);
        String authnOnly = ra("");
        return Stream.of(
                Arguments.of("authn only: no token", authnOnly, "/", null, "allow"),
                Arguments.of("authn only: valid token", authnOnly, "/", token("bob", "helloworld", Map.of()), "allow"),
                Arguments.of("authn only: other audience", authnOnly, "/", token("bob", "billing", Map.of()), "401"),
                Arguments.of("authn only: garbage", authnOnly, "/", "not.a.jwt", "401"),
                Arguments.of("require JWT: no token", requireJwt, "/", null, "deny"),
                Arguments.of("require JWT: valid", requireJwt, "/", token("bob", "helloworld", Map.of()), "allow"),
                Arguments.of("alice on /private: alice", alice, "/private/x", token("alice", "helloworld", Map.of()),
                        "allow"),
                Arguments.of("alice on /private: bob", alice, "/private/x", token("bob", "helloworld", Map.of()), "deny"),
                Arguments.of("alice on /private: nobody", alice, "/private/x", null, "deny"),
                Arguments.of("alice on /private: /public without token", alice, "/public", null, "allow"),
                Arguments.of("claims: admins, paid tier", admins, "/",
                        token("bob", "helloworld", Map.of("groups", List.of("admins"), "org", Map.of("tier", "gold"))),
                        "allow"),
                Arguments.of("claims: admins, free tier", admins, "/",
                        token("bob", "helloworld", Map.of("groups", List.of("admins"), "org", Map.of("tier", "free"))),
                        "deny"),
                Arguments.of("claims: not admin", admins, "/",
                        token("bob", "helloworld", Map.of("groups", List.of("dev"))), "deny"),
                Arguments.of("claims: no token", admins, "/", null, "deny"),
                Arguments.of("deny anonymous /admin: no token", denyAnonymous, "/admin/x", null, "deny"),
                Arguments.of("deny anonymous /admin: a token", denyAnonymous, "/admin/x",
                        token("bob", "helloworld", Map.of()), "allow"),
                Arguments.of("deny anonymous /admin: encoded path, no token", denyAnonymous, "/%61dmin", null, "deny"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("table")
    void policyAndTokenGiveTheDecision(String name, String yaml, String path, String token, String expected)
            throws Exception {
        assertThat(decide(authorization(yaml), path, token)).isEqualTo(expected);
    }
}
