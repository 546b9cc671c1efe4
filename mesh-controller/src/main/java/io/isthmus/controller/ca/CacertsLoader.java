package io.isthmus.controller.ca;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.ServiceAccountTokenVerifier;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.Base64;
import java.util.Map;
import java.util.TreeMap;

/**
 * Reads the controller's CA and token issuer from its own cluster: Secret
 * {@code istio-system/cacerts} (Istio's format) and ConfigMap {@code istio-system/isthmus-sa-issuer}.
 */
public final class CacertsLoader {

    public static final String NAMESPACE = "istio-system";
    public static final String CACERTS_SECRET = "cacerts";
    public static final String ISSUER_CONFIG_MAP = "isthmus-sa-issuer";

    private CacertsLoader() {}

    /** Thrown while an input object does not exist yet (the caller may wait for it). */
    public static final class MissingObjectException extends RuntimeException {
        MissingObjectException(String message) {
            super(message);
        }
    }

    /**
     * Loads the CA from {@code istio-system/cacerts}.
     *
     * @throws MissingObjectException if the Secret does not exist
     * @throws io.isthmus.trust.InvalidCacertsException naming the file at fault
     */
    public static CertificateAuthority loadCa(KubernetesClient client) {
        requireNonNull(client, "client");
        Secret secret = client.secrets().inNamespace(NAMESPACE).withName(CACERTS_SECRET).get();
        if (secret == null) {
            throw new MissingObjectException("Secret " + NAMESPACE + "/" + CACERTS_SECRET
                    + " not found (expected: ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem)");
        }
        return CertificateAuthority.fromCacerts(secretFiles(secret));
    }

    /** The Secret's files as text: {@code data} is base64, {@code stringData} plain. */
    public static Map<String, String> secretFiles(Secret secret) {
        requireNonNull(secret, "secret");
        Map<String, String> files = new TreeMap<>();
        if (secret.getData() != null) {
            secret.getData().forEach((name, base64) -> {
                try {
                    files.put(name, new String(Base64.getMimeDecoder().decode(base64), StandardCharsets.UTF_8));
                } catch (IllegalArgumentException e) {
                    throw new io.isthmus.trust.InvalidCacertsException(name, "is not valid base64 in Secret "
                            + NAMESPACE + "/" + CACERTS_SECRET, e);
                }
            });
        }
        if (secret.getStringData() != null) {
            files.putAll(secret.getStringData());
        }
        return files;
    }

    /**
     * Loads the service-account token verifier from {@code istio-system/isthmus-sa-issuer}
     * ({@code issuer}, {@code jwks.json}).
     *
     * @throws MissingObjectException if the ConfigMap does not exist
     * @throws IllegalArgumentException if a key is missing or the JWKS is unusable
     */
    public static ServiceAccountTokenVerifier loadIssuer(KubernetesClient client, Clock clock) {
        requireNonNull(client, "client");
        requireNonNull(clock, "clock");
        ConfigMap map = client.configMaps().inNamespace(NAMESPACE).withName(ISSUER_CONFIG_MAP).get();
        if (map == null) {
            throw new MissingObjectException("ConfigMap " + NAMESPACE + "/" + ISSUER_CONFIG_MAP
                    + " not found (expected: keys issuer and jwks.json)");
        }
        Map<String, String> data = map.getData() == null ? Map.of() : map.getData();
        String issuer = data.get("issuer");
        String jwks = data.get("jwks.json");
        if (issuer == null || issuer.isBlank() || jwks == null || jwks.isBlank()) {
            throw new IllegalArgumentException("ConfigMap " + NAMESPACE + "/" + ISSUER_CONFIG_MAP
                    + " has keys " + data.keySet() + " (expected: non-empty issuer and jwks.json)");
        }
        try {
            return ServiceAccountTokenVerifier.fromJwks(issuer.trim(), jwks, clock);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("ConfigMap " + NAMESPACE + "/" + ISSUER_CONFIG_MAP
                    + " jwks.json: " + e.getMessage(), e);
        }
    }
}
