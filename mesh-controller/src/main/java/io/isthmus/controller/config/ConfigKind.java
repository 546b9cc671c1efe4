package io.isthmus.controller.config;

import java.util.List;
import java.util.Optional;

/**
 * The configuration kinds the controller ingests: Istio's groups {@code networking.istio.io} and
 * {@code security.istio.io}, and Isthmus' own {@code policy.isthmus.io}.
 */
public enum ConfigKind {
    VIRTUAL_SERVICE("VirtualService", "virtualservices", VirtualServiceSpec.class),
    DESTINATION_RULE("DestinationRule", "destinationrules", DestinationRuleSpec.class),
    GATEWAY("Gateway", "gateways", GatewaySpec.class),
    SERVICE_ENTRY("ServiceEntry", "serviceentries", ServiceEntrySpec.class),
    SIDECAR("Sidecar", "sidecars", SidecarSpec.class),
    PEER_AUTHENTICATION("PeerAuthentication", "peerauthentications", PeerAuthenticationSpec.class,
            Group.SECURITY),
    AUTHORIZATION_POLICY("AuthorizationPolicy", "authorizationpolicies", AuthorizationPolicySpec.class,
            Group.SECURITY),
    REQUEST_AUTHENTICATION("RequestAuthentication", "requestauthentications", RequestAuthenticationSpec.class,
            Group.SECURITY),
    /** Isthmus' own rate-limit resource (docs/reference/ratelimit.md). */
    RATE_LIMIT_POLICY("RateLimitPolicy", "ratelimitpolicies", RateLimitPolicySpec.class, Group.POLICY);

    public static final String GROUP = "networking.istio.io";
    /** Every served version; the same object may be read through any of them. */
    public static final List<String> VERSIONS = List.of("v1", "v1beta1", "v1alpha3");
    public static final String SECURITY_GROUP = "security.istio.io";
    /** Every served version of {@link #SECURITY_GROUP}, newest first. */
    public static final List<String> SECURITY_VERSIONS = List.of("v1", "v1beta1");
    /** Isthmus' own policy kinds, which Istio does not have. */
    public static final String POLICY_GROUP = "policy.isthmus.io";
    public static final List<String> POLICY_VERSIONS = List.of("v1alpha1");

    private enum Group {
        NETWORKING, SECURITY, POLICY
    }

    private final String kind;
    private final String plural;
    private final Class<?> specType;
    private final Group group;

    ConfigKind(String kind, String plural, Class<?> specType) {
        this(kind, plural, specType, Group.NETWORKING);
    }

    ConfigKind(String kind, String plural, Class<?> specType, Group group) {
        this.kind = kind;
        this.plural = plural;
        this.specType = specType;
        this.group = group;
    }

    /** The API group, e.g. {@code security.istio.io}. */
    public String group() {
        return switch (group) {
            case NETWORKING -> GROUP;
            case SECURITY -> SECURITY_GROUP;
            case POLICY -> POLICY_GROUP;
        };
    }

    /** The served versions of {@link #group()}, newest first. */
    public List<String> versions() {
        return switch (group) {
            case NETWORKING -> VERSIONS;
            case SECURITY -> SECURITY_VERSIONS;
            case POLICY -> POLICY_VERSIONS;
        };
    }

    /** The Kubernetes kind, e.g. {@code VirtualService}. */
    public String kind() {
        return kind;
    }

    public String plural() {
        return plural;
    }

    Class<?> specType() {
        return specType;
    }

    public static Optional<ConfigKind> of(String kind) {
        for (ConfigKind k : values()) {
            if (k.kind.equals(kind)) {
                return Optional.of(k);
            }
        }
        return Optional.empty();
    }
}
