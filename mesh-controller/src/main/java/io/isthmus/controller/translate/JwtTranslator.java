package io.isthmus.controller.translate;

import com.google.protobuf.Empty;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtClaimToHeader;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtHeader;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtProvider;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirement;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirementOrList;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.RequirementRule;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.isthmus.controller.config.ConfigEntry;
import io.isthmus.controller.config.RequestAuthenticationSpec;
import io.isthmus.controller.config.RequestAuthenticationSpec.JwtRule;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * RequestAuthentication → the inbound connection manager's {@code envoy.filters.http.jwt_authn}
 * filter, as Istio's pilot builds it: one provider {@code origins-<i>} per {@code jwtRules} entry
 * of every policy that selects the sidecar, keys inlined ({@code local_jwks}), the verified
 * payload put in the filter's dynamic metadata under {@code payload} (where the RBAC matchers of
 * {@link SecurityTranslator} read {@code iss}, {@code sub}, {@code aud}, {@code azp} and claims),
 * and one rule: any provider, or no token at all. So a request with a token that no provider
 * verifies is refused (401); a request without a token passes, unauthenticated, and only an
 * AuthorizationPolicy on {@code requestPrincipals} can refuse it. Pure.
 */
final class JwtTranslator {

    static final String JWT_FILTER = "envoy.filters.http.jwt_authn";
    /** The dynamic-metadata key of the verified payload (Istio's {@code filters.EnvoyJwtFilterPayload}). */
    static final String PAYLOAD = "payload";
    /** Keys that verify nothing: a {@code jwksUri} not fetched yet refuses every token (fails closed). */
    static final String NO_KEYS = "{\"keys\":[]}";

    private JwtTranslator() {}

    /**
     * The jwt_authn filter for {@code node}, or empty when no RequestAuthentication selects it.
     *
     * @param jwks {@code jwksUri} → the JWKS fetched from it
     */
    static Optional<HttpFilter> filter(List<ConfigEntry<RequestAuthenticationSpec>> all, ProxyNode node,
            Map<String, String> jwks) {
        List<JwtRule> rules = new ArrayList<>();
        for (var e : selecting(all, node)) {
            rules.addAll(e.spec().jwtRules());
        }
        if (rules.isEmpty()) {
            return Optional.empty();
        }
        JwtAuthentication.Builder config = JwtAuthentication.newBuilder();
        JwtRequirementOrList.Builder any = JwtRequirementOrList.newBuilder();
        for (int i = 0; i < rules.size(); i++) {
            String name = "origins-" + i;
            config.putProviders(name, provider(rules.get(i), jwks));
            any.addRequirements(JwtRequirement.newBuilder().setProviderName(name));
        }
        any.addRequirements(JwtRequirement.newBuilder().setAllowMissing(Empty.getDefaultInstance()));
        config.addRules(RequirementRule.newBuilder()
                .setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setRequires(JwtRequirement.newBuilder().setRequiresAny(any)));
        // Browsers send CORS preflights without credentials; Istio lets them through.
        config.setBypassCorsPreflight(true);
        return Optional.of(HttpFilter.newBuilder()
                .setName(JWT_FILTER)
                .setTypedConfig(Protos.pack(config.build()))
                .build());
    }

    /** Root namespace or the sidecar's own, selector matching, no targetRef; by namespace then name. */
    static List<ConfigEntry<RequestAuthenticationSpec>> selecting(List<ConfigEntry<RequestAuthenticationSpec>> all,
            ProxyNode node) {
        List<ConfigEntry<RequestAuthenticationSpec>> out = new ArrayList<>();
        for (var e : all) {
            RequestAuthenticationSpec spec = e.spec();
            if (spec.targetRef() != null || !spec.targetRefs().isEmpty()) {
                continue; // gateways and waypoints, not sidecars
            }
            boolean inScope = e.namespace().equals(SecurityTranslator.ROOT_NAMESPACE)
                    || e.namespace().equals(node.namespace());
            if (inScope && (spec.selector() == null || spec.selector().matches(node.labels()))) {
                out.add(e);
            }
        }
        out.sort(Comparator.comparing((ConfigEntry<RequestAuthenticationSpec> e) -> e.namespace())
                .thenComparing(ConfigEntry::name));
        return out;
    }

    private static JwtProvider provider(JwtRule rule, Map<String, String> jwks) {
        JwtProvider.Builder p = JwtProvider.newBuilder()
                .setIssuer(rule.issuer())
                .addAllAudiences(rule.audiences())
                .setLocalJwks(DataSource.newBuilder().setInlineString(keys(rule, jwks)))
                .setForward(Boolean.TRUE.equals(rule.forwardOriginalToken()))
                .setPayloadInMetadata(PAYLOAD);
        for (var h : rule.fromHeaders()) {
            p.addFromHeaders(JwtHeader.newBuilder().setName(h.name())
                    .setValuePrefix(h.prefix() == null ? "" : h.prefix()));
        }
        p.addAllFromParams(rule.fromParams());
        p.addAllFromCookies(rule.fromCookies());
        if (rule.outputPayloadToHeader() != null) {
            p.setForwardPayloadHeader(rule.outputPayloadToHeader());
        }
        for (var c : rule.outputClaimToHeaders()) {
            p.addClaimToHeaders(JwtClaimToHeader.newBuilder().setHeaderName(c.header()).setClaimName(c.claim()));
        }
        return p.build();
    }

    /** Inline keys, else the ones fetched from {@code jwksUri}, else none (tokens refused until they come). */
    private static String keys(JwtRule rule, Map<String, String> jwks) {
        if (rule.jwks() != null) {
            return rule.jwks();
        }
        if (rule.jwksUri() != null) {
            return jwks.getOrDefault(rule.jwksUri(), NO_KEYS);
        }
        return jwks.getOrDefault(JwksSources.discoveryUri(rule.issuer()), NO_KEYS);
    }
}
