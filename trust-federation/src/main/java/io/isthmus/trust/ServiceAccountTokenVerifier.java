package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.Signature;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.RSAPublicKeySpec;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;

/**
 * Verifies service-account tokens (JWT, RS256 only) against an issuer's JWKS (or several issuers', see {@link #anyOf}): size, structure,
 * algorithm, signature, then {@code iss}, {@code exp}, {@code nbf}/{@code iat} (with
 * {@value #LEEWAY_SECONDS} s of clock skew allowed) and {@code aud}. The identity comes from the
 * {@code kubernetes.io} claim and must agree with {@code sub}. Immutable and thread-safe.
 */
public final class ServiceAccountTokenVerifier {

    public static final int MAX_TOKEN_BYTES = 16 * 1024;
    public static final long LEEWAY_SECONDS = 30;

    private static final Base64.Decoder B64URL = Base64.getUrlDecoder();

    private final Map<String, IssuerKeys> issuers;
    private final Clock clock;

    /** One issuer's verification keys. */
    private record IssuerKeys(Map<String, PublicKey> byId, List<PublicKey> all) {
        IssuerKeys {
            byId = Map.copyOf(byId);
            all = List.copyOf(all);
        }
    }

    private ServiceAccountTokenVerifier(Map<String, IssuerKeys> issuers, Clock clock) {
        this.issuers = Map.copyOf(issuers);
        this.clock = clock;
    }

    /**
     * A verifier accepting tokens of any of the given verifiers' issuers (e.g. the local cluster's
     * and each remote cluster's, in primary-remote), each checked with its own keys. Uses the
     * first verifier's clock.
     *
     * @throws IllegalArgumentException if the list is empty or two verifiers share an issuer
     */
    public static ServiceAccountTokenVerifier anyOf(List<ServiceAccountTokenVerifier> verifiers) {
        requireNonNull(verifiers, "verifiers");
        if (verifiers.isEmpty()) {
            throw new IllegalArgumentException("verifiers is empty (expected: at least 1)");
        }
        Map<String, IssuerKeys> merged = new java.util.HashMap<>();
        for (ServiceAccountTokenVerifier v : verifiers) {
            for (Map.Entry<String, IssuerKeys> e : v.issuers.entrySet()) {
                if (merged.putIfAbsent(e.getKey(), e.getValue()) != null) {
                    throw new IllegalArgumentException("issuer " + e.getKey() + " appears in more than one verifier");
                }
            }
        }
        return new ServiceAccountTokenVerifier(merged, verifiers.get(0).clock);
    }

    /**
     * A verifier for tokens of {@code issuer} signed by a key of {@code jwksJson} (RSA keys of at
     * least 2048 bits; keys for other algorithms are skipped).
     *
     * @throws IllegalArgumentException if the JWKS is malformed or holds no usable RSA key
     */
    public static ServiceAccountTokenVerifier fromJwks(String issuer, String jwksJson, Clock clock) {
        requireNonNull(issuer, "issuer");
        requireNonNull(jwksJson, "jwksJson");
        requireNonNull(clock, "clock");
        JsonNode root;
        try {
            root = ServiceAccountIssuer.JSON.readTree(jwksJson);
        } catch (JacksonException e) {
            throw new IllegalArgumentException("JWKS is not valid JSON: " + e.getOriginalMessage(), e);
        }
        JsonNode array = root == null ? null : root.get("keys");
        if (array == null || !array.isArray()) {
            throw new IllegalArgumentException("JWKS has no \"keys\" array");
        }
        Map<String, PublicKey> byId = new java.util.HashMap<>();
        List<PublicKey> all = new ArrayList<>();
        int index = 0;
        for (JsonNode key : array) {
            String where = "JWKS keys[" + index++ + "]";
            if (!"RSA".equals(text(key, "kty"))) {
                continue;
            }
            String alg = text(key, "alg");
            if (alg != null && !alg.equals("RS256")) {
                continue;
            }
            String n = text(key, "n");
            String e = text(key, "e");
            if (n == null || e == null) {
                throw new IllegalArgumentException(where + ": RSA key without \"n\" and \"e\"");
            }
            RSAPublicKey publicKey;
            try {
                publicKey = (RSAPublicKey) KeyFactory.getInstance("RSA").generatePublic(
                        new RSAPublicKeySpec(new BigInteger(1, B64URL.decode(n)), new BigInteger(1, B64URL.decode(e))));
            } catch (GeneralSecurityException | IllegalArgumentException ex) {
                throw new IllegalArgumentException(where + ": RSA key is malformed: " + ex.getMessage(), ex);
            }
            if (publicKey.getModulus().bitLength() < 2048) {
                throw new IllegalArgumentException(where + ": RSA key of " + publicKey.getModulus().bitLength()
                        + " bits (expected: >= 2048)");
            }
            String kid = text(key, "kid");
            if (kid != null) {
                byId.put(kid, publicKey);
            }
            all.add(publicKey);
        }
        if (all.isEmpty()) {
            throw new IllegalArgumentException("JWKS holds no RS256 RSA key");
        }
        return new ServiceAccountTokenVerifier(Map.of(issuer, new IssuerKeys(byId, all)), clock);
    }

    /**
     * The issuer of a single-issuer verifier.
     *
     * @throws IllegalStateException if this verifier was made by {@link #anyOf} with several issuers
     */
    public String issuer() {
        if (issuers.size() != 1) {
            throw new IllegalStateException("verifier has " + issuers.size() + " issuers " + issuers.keySet() + "; use issuers()");
        }
        return issuers.keySet().iterator().next();
    }

    /** The issuers whose tokens this verifier accepts. */
    public java.util.Set<String> issuers() {
        return issuers.keySet();
    }

    /**
     * Verifies {@code token} for {@code audience}.
     *
     * @throws TokenRejectedException saying why the token proves nothing
     */
    public VerifiedServiceAccount verify(String token, String audience) throws TokenRejectedException {
        requireNonNull(audience, "audience");
        if (token == null || token.isEmpty()) {
            throw new TokenRejectedException("malformed", "token is empty");
        }
        if (token.length() > MAX_TOKEN_BYTES) {
            throw new TokenRejectedException("oversized", "token size: " + token.length() + " bytes (expected: <= " + MAX_TOKEN_BYTES + ")");
        }
        String[] parts = token.split("\\.", -1);
        if (parts.length != 3) {
            throw new TokenRejectedException("malformed", "token has " + parts.length + " dot-separated parts (expected: 3, a signed JWT)");
        }
        JsonNode header = json(parts[0], "header");
        String alg = text(header, "alg");
        if (!"RS256".equals(alg)) {
            throw new TokenRejectedException("unsupported_alg", "token alg: " + alg + " (expected: RS256)");
        }
        if (header.has("crit")) {
            throw new TokenRejectedException("malformed", "token header has unsupported \"crit\" extensions");
        }
        byte[] signature = decode(parts[2], "signature");
        // The issuer is read before the signature is checked only to pick the keys; nothing else
        // in the payload is trusted until the signature verifies.
        JsonNode claims = json(parts[1], "payload");
        String iss = text(claims, "iss");
        IssuerKeys issuerKeys = iss == null ? null : issuers.get(iss);
        if (issuerKeys == null) {
            throw new TokenRejectedException("wrong_issuer", "token iss: " + (iss == null ? null : SpiffeId.printable(iss))
                    + " (expected: " + (issuers.size() == 1 ? issuers.keySet().iterator().next() : "one of " + issuers.keySet()) + ")");
        }
        String kid = text(header, "kid");
        List<PublicKey> candidates;
        if (kid != null) {
            PublicKey key = issuerKeys.byId().get(kid);
            if (key == null) {
                throw new TokenRejectedException("unknown_key", "token kid " + SpiffeId.printable(kid)
                        + " is not in the JWKS of issuer " + iss);
            }
            candidates = List.of(key);
        } else {
            candidates = issuerKeys.all();
        }
        byte[] signingInput = (parts[0] + "." + parts[1]).getBytes(StandardCharsets.US_ASCII);
        if (!anyVerifies(candidates, signingInput, signature)) {
            throw new TokenRejectedException("bad_signature", "token signature does not verify with the keys of issuer " + iss);
        }
        Instant now = clock.instant();
        long nowSeconds = now.getEpochSecond();
        Long exp = seconds(claims, "exp", true);
        if (nowSeconds >= exp + LEEWAY_SECONDS) {
            throw new TokenRejectedException("expired", "token expired at " + Instant.ofEpochSecond(exp) + " (now " + now + ")");
        }
        Long nbf = seconds(claims, "nbf", false);
        if (nbf != null && nowSeconds + LEEWAY_SECONDS < nbf) {
            throw new TokenRejectedException("not_yet_valid", "token not valid before " + Instant.ofEpochSecond(nbf) + " (now " + now + ")");
        }
        Long iat = seconds(claims, "iat", false);
        if (iat != null && nowSeconds + LEEWAY_SECONDS < iat) {
            throw new TokenRejectedException("not_yet_valid", "token issued in the future, at " + Instant.ofEpochSecond(iat) + " (now " + now + ")");
        }
        if (!audiences(claims).contains(audience)) {
            throw new TokenRejectedException("wrong_audience", "token aud: " + audiences(claims) + " (expected: to contain " + audience + ")");
        }
        return identity(claims);
    }

    private static VerifiedServiceAccount identity(JsonNode claims) throws TokenRejectedException {
        String sub = text(claims, "sub");
        String prefix = "system:serviceaccount:";
        if (sub == null || !sub.startsWith(prefix)) {
            throw new TokenRejectedException("bad_claims", "token sub: " + (sub == null ? null : SpiffeId.printable(sub))
                    + " (expected: system:serviceaccount:<namespace>:<name>)");
        }
        String[] subParts = sub.substring(prefix.length()).split(":", -1);
        if (subParts.length != 2) {
            throw new TokenRejectedException("bad_claims", "token sub: " + SpiffeId.printable(sub)
                    + " (expected: system:serviceaccount:<namespace>:<name>)");
        }
        String namespace = subParts[0];
        String serviceAccount = subParts[1];
        String podName = "";
        JsonNode k8s = claims.get("kubernetes.io");
        if (k8s != null) {
            String ns = text(k8s, "namespace");
            JsonNode sa = k8s.get("serviceaccount");
            String saName = sa == null ? null : text(sa, "name");
            if (!namespace.equals(ns) || !serviceAccount.equals(saName)) {
                throw new TokenRejectedException("bad_claims", "token kubernetes.io claim (" + ns + "/" + saName
                        + ") disagrees with sub " + SpiffeId.printable(sub));
            }
            JsonNode pod = k8s.get("pod");
            String name = pod == null ? null : text(pod, "name");
            podName = name == null ? "" : name;
        }
        try {
            SpiffeId.of("cluster.local", namespace, serviceAccount);
        } catch (IllegalArgumentException e) {
            throw new TokenRejectedException("bad_claims", "token service account cannot form a SPIFFE ID: " + e.getMessage(), e);
        }
        return new VerifiedServiceAccount(namespace, serviceAccount, podName);
    }

    private static boolean anyVerifies(List<PublicKey> candidates, byte[] input, byte[] signature) {
        for (PublicKey key : candidates) {
            try {
                Signature verifier = Signature.getInstance("SHA256withRSA");
                verifier.initVerify(key);
                verifier.update(input);
                if (verifier.verify(signature)) {
                    return true;
                }
            } catch (GeneralSecurityException e) {
                // A signature of the wrong length is just a bad signature.
            }
        }
        return false;
    }

    private static List<String> audiences(JsonNode claims) {
        JsonNode aud = claims.get("aud");
        if (aud == null) {
            return List.of();
        }
        if (aud.isString()) {
            return List.of(aud.stringValue());
        }
        List<String> out = new ArrayList<>();
        if (aud.isArray()) {
            for (JsonNode a : aud) {
                if (a.isString()) {
                    out.add(a.stringValue());
                }
            }
        }
        return out;
    }

    private static Long seconds(JsonNode claims, String name, boolean required) throws TokenRejectedException {
        JsonNode node = claims.get(name);
        if (node == null || node.isNull()) {
            if (required) {
                throw new TokenRejectedException("bad_claims", "token has no \"" + name + "\" claim");
            }
            return null;
        }
        if (!node.isNumber() || !node.canConvertToLong()) {
            throw new TokenRejectedException("bad_claims", "token \"" + name + "\" claim is not a number of seconds");
        }
        return node.longValue();
    }

    private static JsonNode json(String part, String what) throws TokenRejectedException {
        byte[] bytes = decode(part, what);
        try {
            JsonNode node = ServiceAccountIssuer.JSON.readTree(bytes);
            if (node == null || !node.isObject()) {
                throw new TokenRejectedException("malformed", "token " + what + " is not a JSON object");
            }
            return node;
        } catch (JacksonException e) {
            throw new TokenRejectedException("malformed", "token " + what + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    private static byte[] decode(String part, String what) throws TokenRejectedException {
        if (part.isEmpty()) {
            throw new TokenRejectedException("malformed", "token " + what + " is empty");
        }
        try {
            return B64URL.decode(part);
        } catch (IllegalArgumentException e) {
            throw new TokenRejectedException("malformed", "token " + what + " is not base64url: " + e.getMessage(), e);
        }
    }

    private static String text(JsonNode node, String field) {
        JsonNode value = node.get(field);
        return value != null && value.isString() ? value.stringValue() : null;
    }

    @Override
    public String toString() {
        return "ServiceAccountTokenVerifier[" + issuers.keySet() + ", leeway " + Duration.ofSeconds(LEEWAY_SECONDS) + "]";
    }
}
