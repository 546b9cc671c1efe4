package io.isthmus.controller.config;

import java.util.List;
import java.util.Optional;

/** The Istio configuration kinds the controller ingests (group {@code networking.istio.io}). */
public enum ConfigKind {
    VIRTUAL_SERVICE("VirtualService", "virtualservices", VirtualServiceSpec.class),
    DESTINATION_RULE("DestinationRule", "destinationrules", DestinationRuleSpec.class),
    GATEWAY("Gateway", "gateways", GatewaySpec.class),
    SERVICE_ENTRY("ServiceEntry", "serviceentries", ServiceEntrySpec.class);

    public static final String GROUP = "networking.istio.io";
    /** Every served version; the same object may be read through any of them. */
    public static final List<String> VERSIONS = List.of("v1", "v1beta1", "v1alpha3");

    private final String kind;
    private final String plural;
    private final Class<?> specType;

    ConfigKind(String kind, String plural, Class<?> specType) {
        this.kind = kind;
        this.plural = plural;
        this.specType = specType;
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
