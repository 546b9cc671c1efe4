package io.isthmus.trust;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Base64;
import java.util.List;

import org.junit.jupiter.api.Test;

class ServiceAccountTokenTest {

    private static final String ISS = "https://kubernetes.default.svc/east";
    private static final Instant NOW = Instant.parse("2026-11-27T12:00:00Z");
    private static final ServiceAccountIssuer ISSUER = ServiceAccountIssuer.create(ISS);
    private static final ServiceAccountTokenVerifier VERIFIER =
            ServiceAccountTokenVerifier.fromJwks(ISS, ISSUER.jwksJson(), Clock.fixed(NOW, ZoneOffset.UTC));

    private static String mint() {
        return ISSUER.mint("sample", "curl", "curl-1", List.of("istio-ca"), Duration.ofHours(1), NOW);
    }

    private static String b64(String s) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(s.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void mintedTokenVerifiesToItsServiceAccount() throws Exception {
        assertThat(VERIFIER.verify(mint(), "istio-ca")).isEqualTo(new VerifiedServiceAccount("sample", "curl", "curl-1"));
        String payload = new String(Base64.getUrlDecoder().decode(mint().split("\\.")[1]), StandardCharsets.UTF_8);
        assertThat(payload).contains("\"sub\":\"system:serviceaccount:sample:curl\"", "\"aud\":[\"istio-ca\"]",
                "\"kubernetes.io\"", "\"iat\":", "\"nbf\":", "\"exp\":");
    }

    @Test
    void issuerPersistsAcrossRestartThroughItsKeyPem() throws Exception {
        ServiceAccountIssuer reloaded = ServiceAccountIssuer.fromPrivateKeyPem(ISS, ISSUER.privateKeyPem());
        assertThat(reloaded.keyId()).isEqualTo(ISSUER.keyId());
        String token = reloaded.mint("sample", "curl", "", List.of("istio-ca"), Duration.ofHours(1), NOW);
        assertThat(VERIFIER.verify(token, "istio-ca").podName()).isEmpty();
    }

    @Test
    void adversarialTokensAreRejectedWithTheirReason() {
        String good = mint();
        String[] p = good.split("\\.");
        ServiceAccountIssuer other = ServiceAccountIssuer.create(ISS);
        String otherSigned = other.mint("sample", "curl", "x", List.of("istio-ca"), Duration.ofHours(1), NOW);
        String otherSignedSameKid = b64("{\"alg\":\"RS256\",\"kid\":\"" + ISSUER.keyId() + "\"}") + "."
                + otherSigned.split("\\.")[1] + "." + otherSigned.split("\\.")[2];
        String payloadSwapped = p[0] + "." + b64("{\"iss\":\"" + ISS + "\",\"sub\":\"system:serviceaccount:istio-system:istiod\","
                + "\"aud\":[\"istio-ca\"],\"exp\":" + (NOW.getEpochSecond() + 3600) + "}") + "." + p[2];

        assertRejected(null, "malformed");
        assertRejected("", "malformed");
        assertRejected("a.b", "malformed");
        assertRejected("a.b.c.d", "malformed");
        assertRejected("%%%." + p[1] + "." + p[2], "malformed");
        assertRejected(b64("[1]") + "." + p[1] + "." + p[2], "malformed");
        assertRejected(b64("{not json") + "." + p[1] + "." + p[2], "malformed");
        assertRejected(good + "x".repeat(ServiceAccountTokenVerifier.MAX_TOKEN_BYTES), "oversized");
        assertRejected(b64("{\"alg\":\"none\"}") + "." + p[1] + ".", "unsupported_alg");
        assertRejected(b64("{\"alg\":\"none\"}") + "." + p[1] + "." + p[2], "unsupported_alg");
        assertRejected(b64("{\"alg\":\"HS256\"}") + "." + p[1] + "." + p[2], "unsupported_alg");
        assertRejected(b64("{\"alg\":\"RS256\",\"kid\":\"nope\"}") + "." + p[1] + "." + p[2], "unknown_key");
        assertRejected(otherSigned, "unknown_key");
        assertRejected(otherSignedSameKid, "bad_signature");
        assertRejected(payloadSwapped, "bad_signature");
        assertRejected(p[0] + "." + p[1] + "." + b64("short"), "bad_signature");
        assertRejected(ServiceAccountIssuer.fromPrivateKeyPem("https://evil", ISSUER.privateKeyPem())
                .mint("sample", "curl", "x", List.of("istio-ca"), Duration.ofHours(1), NOW), "wrong_issuer");
        assertRejected(ISSUER.mint("sample", "curl", "x", List.of("istio-ca"), Duration.ofHours(1), NOW.minus(Duration.ofHours(2))), "expired");
        assertRejected(ISSUER.mint("sample", "curl", "x", List.of("istio-ca"), Duration.ofHours(1), NOW.plus(Duration.ofMinutes(5))), "not_yet_valid");
        assertRejected(ISSUER.mint("sample", "curl", "x", List.of("kubernetes"), Duration.ofHours(1), NOW), "wrong_audience");
    }

    @Test
    void anyOfAcceptsEachIssuerWithItsOwnKeysOnly() throws Exception {
        ServiceAccountIssuer west = ServiceAccountIssuer.create("https://kubernetes.default.svc/west");
        Clock clock = Clock.fixed(NOW, ZoneOffset.UTC);
        ServiceAccountTokenVerifier both = ServiceAccountTokenVerifier.anyOf(List.of(VERIFIER,
                ServiceAccountTokenVerifier.fromJwks(west.issuer(), west.jwksJson(), clock)));
        assertThat(both.issuers()).containsExactlyInAnyOrder(ISS, west.issuer());
        assertThat(both.verify(mint(), "istio-ca").serviceAccount()).isEqualTo("curl");
        assertThat(both.verify(west.mint("sample", "sleep", "", List.of("istio-ca"), Duration.ofHours(1), NOW), "istio-ca")
                .serviceAccount()).isEqualTo("sleep");
        // West's key cannot vouch for a token claiming east's issuer.
        String forged = ServiceAccountIssuer.fromPrivateKeyPem(ISS, west.privateKeyPem())
                .mint("istio-system", "istiod", "", List.of("istio-ca"), Duration.ofHours(1), NOW);
        assertThatThrownBy(() -> both.verify(forged, "istio-ca")).isInstanceOf(TokenRejectedException.class)
                .satisfies(e -> assertThat(((TokenRejectedException) e).reason()).isEqualTo("unknown_key"));
        assertThatThrownBy(() -> ServiceAccountTokenVerifier.anyOf(List.of(VERIFIER, VERIFIER)))
                .hasMessageContaining("more than one verifier");
    }

    @Test
    void smallClockSkewIsTolerated() throws Exception {
        String token = ISSUER.mint("sample", "curl", "x", List.of("istio-ca"), Duration.ofHours(1), NOW.plusSeconds(10));
        assertThat(VERIFIER.verify(token, "istio-ca").serviceAccount()).isEqualTo("curl");
    }

    @Test
    void jwksMustHoldAUsableKey() {
        assertThatThrownBy(() -> ServiceAccountTokenVerifier.fromJwks(ISS, "{}", Clock.systemUTC()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("keys");
        assertThatThrownBy(() -> ServiceAccountTokenVerifier.fromJwks(ISS, "{\"keys\":[{\"kty\":\"EC\"}]}", Clock.systemUTC()))
                .hasMessageContaining("no RS256");
        assertThatThrownBy(() -> ServiceAccountTokenVerifier.fromJwks(ISS, "not json", Clock.systemUTC()))
                .hasMessageContaining("not valid JSON");
    }

    private static void assertRejected(String token, String reason) {
        assertThatThrownBy(() -> VERIFIER.verify(token, "istio-ca"))
                .as("token %s", token == null ? null : token.substring(0, Math.min(60, token.length())))
                .isInstanceOf(TokenRejectedException.class)
                .satisfies(e -> assertThat(((TokenRejectedException) e).reason()).isEqualTo(reason));
    }
}
