package io.isthmus.controller.config;

import static java.util.Objects.requireNonNull;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.exc.UnrecognizedPropertyException;
import tools.jackson.databind.json.JsonMapper;

/**
 * Parses and validates one configuration object on its own: the canonical form of a spec, its
 * typed record (unknown fields rejected, the field named), then {@link ConfigValidator}'s checks.
 * Pure and thread-safe.
 */
public final class ConfigParser {

    private static final JsonMapper MAPPER = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .build();

    /** A parsed, accepted spec and the warnings it raised (which do not reject it). */
    public record Parsed(Object spec, List<String> warnings) {
        public Parsed {
            requireNonNull(spec, "spec");
            warnings = List.copyOf(warnings);
        }
    }

    private ConfigParser() {}

    /** The spec (as read from YAML or the API server: maps, lists, scalars) as canonical JSON. */
    public static String canonicalSpec(Object spec) {
        return MAPPER.writeValueAsString(sorted(spec == null ? Map.of() : spec));
    }

    private static Object sorted(Object value) {
        if (value instanceof Map<?, ?> map) {
            TreeMap<String, Object> out = new TreeMap<>();
            map.forEach((k, v) -> out.put(String.valueOf(k), sorted(v)));
            return out;
        }
        if (value instanceof List<?> list) {
            List<Object> out = new ArrayList<>(list.size());
            list.forEach(v -> out.add(sorted(v)));
            return out;
        }
        if (value instanceof JsonNode node) {
            return sorted(MAPPER.convertValue(node, Object.class));
        }
        return value;
    }

    /**
     * Parses and validates {@code resource}.
     *
     * @throws ConfigException naming kind, namespace/name, the field and the fix for each problem
     */
    public static Parsed parse(ConfigResource resource) throws ConfigException {
        requireNonNull(resource, "resource");
        ConfigKind kind = ConfigKind.of(resource.kind()).orElseThrow();
        String who = resource.describe();
        Object spec;
        try {
            spec = MAPPER.readValue(resource.spec(), kind.specType());
        } catch (UnrecognizedPropertyException e) {
            throw new ConfigException(List.of(who + ": spec" + path(e) + ": unknown field '"
                    + e.getPropertyName() + "' (expected one of " + e.getKnownPropertyIds()
                    + "; remove it or fix its spelling)"));
        } catch (JacksonException e) {
            throw new ConfigException(List.of(who + ": spec" + path(e) + ": " + e.getOriginalMessage()
                    + " (fix the value's type)"));
        }
        if (spec == null) {
            throw new ConfigException(List.of(who + ": spec: missing (expected: an object)"));
        }
        ConfigValidator validator = new ConfigValidator(who);
        switch (kind) {
            case VIRTUAL_SERVICE -> validator.virtualService((VirtualServiceSpec) spec);
            case DESTINATION_RULE -> validator.destinationRule((DestinationRuleSpec) spec);
            case GATEWAY -> validator.gateway((GatewaySpec) spec);
            case SERVICE_ENTRY -> validator.serviceEntry((ServiceEntrySpec) spec);
            case SIDECAR -> validator.sidecar((SidecarSpec) spec);
            case PEER_AUTHENTICATION -> validator.security().peerAuthentication((PeerAuthenticationSpec) spec);
            case AUTHORIZATION_POLICY -> validator.security().authorizationPolicy((AuthorizationPolicySpec) spec);
            case REQUEST_AUTHENTICATION ->
                    validator.security().requestAuthentication((RequestAuthenticationSpec) spec);
            case RATE_LIMIT_POLICY -> validator.rateLimit().rateLimitPolicy((RateLimitPolicySpec) spec);
        }
        if (!validator.errors().isEmpty()) {
            throw new ConfigException(validator.errors());
        }
        return new Parsed(spec, validator.warnings());
    }

    /** The JSON path of a Jackson error in Istio's notation, e.g. {@code .http[0].route}. */
    private static String path(JacksonException e) {
        StringBuilder out = new StringBuilder();
        List<JacksonException.Reference> refs = e.getPath();
        // The last reference is the unknown field itself, named separately.
        int end = e instanceof UnrecognizedPropertyException ? refs.size() - 1 : refs.size();
        for (int i = 0; i < end; i++) {
            JacksonException.Reference ref = refs.get(i);
            if (ref.getPropertyName() != null) {
                out.append('.').append(ref.getPropertyName());
            } else if (ref.getIndex() >= 0) {
                out.append('[').append(ref.getIndex()).append(']');
            }
        }
        return out.toString();
    }
}
