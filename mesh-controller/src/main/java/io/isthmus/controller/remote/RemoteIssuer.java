package io.isthmus.controller.remote;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.isthmus.controller.ca.CacertsLoader;
import io.isthmus.trust.ServiceAccountTokenVerifier;
import java.time.Clock;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Where a remote cluster's service-account tokens are checked against: the issuer and keys the
 * cluster publishes. First the ConfigMap {@code istio-system/isthmus-sa-issuer} (the embedded
 * topology, and clusters whose API server keys are not served), else the API server's own OIDC
 * discovery ({@code /.well-known/openid-configuration} and {@code /openid/v1/jwks}), which every
 * Kubernetes since 1.21 serves to authenticated readers.
 */
final class RemoteIssuer {

    private static final JsonMapper JSON = JsonMapper.builder().build();

    private RemoteIssuer() {
    }

    static ServiceAccountTokenVerifier load(KubernetesClient client, Clock clock) {
        try {
            return CacertsLoader.loadIssuer(client, clock);
        } catch (CacertsLoader.MissingObjectException missing) {
            String discovery = client.raw("/.well-known/openid-configuration");
            if (discovery == null) {
                throw new IllegalArgumentException(missing.getMessage()
                        + ", and the API server serves no /.well-known/openid-configuration");
            }
            JsonNode doc = JSON.readTree(discovery);
            String issuer = doc.path("issuer").asString("");
            if (issuer.isEmpty()) {
                throw new IllegalArgumentException("/.well-known/openid-configuration has no issuer");
            }
            String jwks = client.raw("/openid/v1/jwks");
            if (jwks == null) {
                throw new IllegalArgumentException("the API server serves no /openid/v1/jwks");
            }
            return ServiceAccountTokenVerifier.fromJwks(issuer, jwks, clock);
        }
    }
}
