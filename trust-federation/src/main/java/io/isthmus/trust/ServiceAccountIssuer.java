package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.interfaces.RSAPrivateCrtKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.RSAPublicKeySpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;

import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Mints Kubernetes-style service-account tokens (JWT, RS256) for a cluster, the way the API
 * server's token issuer does, and publishes its public key as a JWKS. Used by the local launcher
 * (which plays the API server) and by tests. Thread-safe.
 *
 * <p>Claims: {@code iss}, {@code sub = system:serviceaccount:<ns>:<sa>}, {@code aud}, {@code exp},
 * {@code iat}, {@code nbf}, and {@code kubernetes.io: {namespace, serviceaccount: {name}, pod: {name}}}.
 */
public final class ServiceAccountIssuer {

    static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Base64.Encoder B64URL = Base64.getUrlEncoder().withoutPadding();

    private final String issuer;
    private final PrivateKey privateKey;
    private final RSAPublicKey publicKey;
    private final String keyId;

    private ServiceAccountIssuer(String issuer, PrivateKey privateKey, RSAPublicKey publicKey) {
        this.issuer = requireNonNull(issuer, "issuer");
        this.privateKey = privateKey;
        this.publicKey = publicKey;
        this.keyId = thumbprint(publicKey);
    }

    /** An issuer with a new RSA 2048 key, e.g. {@code https://kubernetes.default.svc/east}. */
    public static ServiceAccountIssuer create(String issuer) {
        checkIssuer(issuer);
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
            generator.initialize(2048);
            KeyPair keys = generator.generateKeyPair();
            return new ServiceAccountIssuer(issuer, keys.getPrivate(), (RSAPublicKey) keys.getPublic());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("RSA key generation is unavailable in this JDK", e);
        }
    }

    /** An issuer from a PEM RSA private key saved with {@link #privateKeyPem()}. */
    public static ServiceAccountIssuer fromPrivateKeyPem(String issuer, String privateKeyPem) {
        checkIssuer(issuer);
        PrivateKey key = Pem.decodePrivateKey(requireNonNull(privateKeyPem, "privateKeyPem"));
        if (!(key instanceof RSAPrivateCrtKey crt)) {
            throw new IllegalArgumentException("service-account issuer key: " + key.getAlgorithm()
                    + " (expected: an RSA private key with CRT parameters)");
        }
        try {
            RSAPublicKey pub = (RSAPublicKey) KeyFactory.getInstance("RSA")
                    .generatePublic(new RSAPublicKeySpec(crt.getModulus(), crt.getPublicExponent()));
            return new ServiceAccountIssuer(issuer, key, pub);
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("service-account issuer key cannot be used: " + e.getMessage(), e);
        }
    }

    public String issuer() {
        return issuer;
    }

    /** The signing key as PKCS#8 PEM, to persist the issuer across restarts. */
    public String privateKeyPem() {
        return Pem.encodePrivateKey(privateKey);
    }

    /** The key id ({@code kid}): the RFC 7638 thumbprint of the public key. */
    public String keyId() {
        return keyId;
    }

    /** Mints a token for {@code namespace/serviceAccount}, bound to {@code podName} (may be empty). */
    public String mint(String namespace, String serviceAccount, String podName, List<String> audiences,
            Duration ttl, Instant now) {
        requireNonNull(podName, "podName");
        requireNonNull(audiences, "audiences");
        requireNonNull(ttl, "ttl");
        requireNonNull(now, "now");
        // Validates the names with the same rules a SPIFFE ID path segment follows.
        SpiffeId.of("cluster.local", namespace, serviceAccount);
        if (audiences.isEmpty()) {
            throw new IllegalArgumentException("audiences is empty (expected: e.g. [\"istio-ca\"])");
        }
        if (ttl.isNegative() || ttl.isZero()) {
            throw new IllegalArgumentException("ttl: " + ttl + " (expected: > 0)");
        }
        ObjectNode header = JSON.createObjectNode();
        header.put("alg", "RS256");
        header.put("kid", keyId);
        header.put("typ", "JWT");

        ObjectNode claims = JSON.createObjectNode();
        claims.put("iss", issuer);
        claims.put("sub", "system:serviceaccount:" + namespace + ":" + serviceAccount);
        ArrayNode aud = claims.putArray("aud");
        audiences.forEach(a -> aud.add(requireNonNull(a, "audience")));
        long iat = now.getEpochSecond();
        claims.put("exp", iat + Math.max(1, ttl.toSeconds()));
        claims.put("iat", iat);
        claims.put("nbf", iat);
        ObjectNode k8s = claims.putObject("kubernetes.io");
        k8s.put("namespace", namespace);
        k8s.putObject("serviceaccount").put("name", serviceAccount);
        if (!podName.isEmpty()) {
            k8s.putObject("pod").put("name", podName);
        }
        String signingInput = b64(JSON.writeValueAsBytes(header)) + "." + b64(JSON.writeValueAsBytes(claims));
        try {
            Signature signer = Signature.getInstance("SHA256withRSA");
            signer.initSign(privateKey);
            signer.update(signingInput.getBytes(StandardCharsets.US_ASCII));
            return signingInput + "." + b64(signer.sign());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot sign a service-account token", e);
        }
    }

    /** The public key as a JWKS document, {@code {"keys":[{"kty":"RSA","alg":"RS256","use":"sig","kid","n","e"}]}}. */
    public String jwksJson() {
        ObjectNode jwks = JSON.createObjectNode();
        ObjectNode key = jwks.putArray("keys").addObject();
        key.put("kty", "RSA");
        key.put("alg", "RS256");
        key.put("use", "sig");
        key.put("kid", keyId);
        key.put("n", b64(unsigned(publicKey.getModulus())));
        key.put("e", b64(unsigned(publicKey.getPublicExponent())));
        return JSON.writeValueAsString(jwks);
    }

    private static void checkIssuer(String issuer) {
        requireNonNull(issuer, "issuer");
        if (issuer.isBlank()) {
            throw new IllegalArgumentException("issuer is blank (expected: e.g. https://kubernetes.default.svc/east)");
        }
    }

    private static String thumbprint(RSAPublicKey key) {
        String canonical = "{\"e\":\"" + b64(unsigned(key.getPublicExponent())) + "\",\"kty\":\"RSA\",\"n\":\""
                + b64(unsigned(key.getModulus())) + "\"}";
        try {
            return b64(MessageDigest.getInstance("SHA-256").digest(canonical.getBytes(StandardCharsets.UTF_8)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("SHA-256 is unavailable", e);
        }
    }

    static byte[] unsigned(BigInteger value) {
        byte[] bytes = value.toByteArray();
        if (bytes.length > 1 && bytes[0] == 0) {
            byte[] trimmed = new byte[bytes.length - 1];
            System.arraycopy(bytes, 1, trimmed, 0, trimmed.length);
            return trimmed;
        }
        return bytes;
    }

    private static String b64(byte[] bytes) {
        return B64URL.encodeToString(bytes);
    }
}
