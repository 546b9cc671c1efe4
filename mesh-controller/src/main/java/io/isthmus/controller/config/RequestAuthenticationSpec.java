package io.isthmus.controller.config;

import java.util.List;
import tools.jackson.databind.JsonNode;

/**
 * The spec of an Istio {@code RequestAuthentication} (security.istio.io v1/v1beta1): which JWT
 * issuers a workload accepts. Parsed and validated; Isthmus does not verify JWTs yet, so a
 * request never carries a request principal (see docs/reference/supported-config.md).
 */
public record RequestAuthenticationSpec(
        WorkloadSelector selector, JsonNode targetRef, List<JsonNode> targetRefs, List<JwtRule> jwtRules) {

    public RequestAuthenticationSpec {
        targetRefs = Specs.list(targetRefs);
        jwtRules = Specs.list(jwtRules);
    }

    public record JwtRule(
            String issuer,
            List<String> audiences,
            String jwksUri,
            String jwks,
            List<JwtHeader> fromHeaders,
            List<String> fromParams,
            List<String> fromCookies,
            String outputPayloadToHeader,
            Boolean forwardOriginalToken,
            List<ClaimToHeader> outputClaimToHeaders,
            String timeout) {

        public JwtRule {
            audiences = Specs.list(audiences);
            fromHeaders = Specs.list(fromHeaders);
            fromParams = Specs.list(fromParams);
            fromCookies = Specs.list(fromCookies);
            outputClaimToHeaders = Specs.list(outputClaimToHeaders);
        }
    }

    public record JwtHeader(String name, String prefix) {}

    public record ClaimToHeader(String header, String claim) {}
}
