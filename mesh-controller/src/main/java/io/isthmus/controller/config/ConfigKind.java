package io.isthmus.controller.config;

import java.util.List;
import java.util.Optional;

/**
 * The Istio configuration kinds the controller ingests: groups {@code networking.istio.io} and
 * {@code security.istio.io}.
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
            Group.SECURITY);

    public static final String GROUP = "networking.istio.io";
    /** Every served version; the same object may be read through any of them. */
    public static final List<String> VERSIONS = List.of("v1", "v1beta1", "v1alpha3");
    public static final String SECURITY_GROUP = "security.istio.io";
    /** Every served version of {@link #SECURITY_GROUP}, newest first. */
    public static final List<String> SECURITY_VERSIONS = List.of("v1", "v1beta1");

    private enum Group {
        NETWORKING, SECURITY
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
        return group == Group.SECURITY ? SECURITY_GROUP : GROUP;
    }

    /** The served versions of {@link #group()}, newest first. */
    public List<String> versions() {
        return group == Group.SECURITY ? SECURITY_VERSIONS : VERSIONS;
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
