package io.isthmus.meshctl;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.isthmus.controller.config.ConfigException;
import io.isthmus.controller.config.ConfigKind;
import io.isthmus.controller.config.ConfigParser;
import io.isthmus.controller.config.ConfigResource;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where {@code meshctl apply} checks an object before it is sent: {@link #STRUCTURAL} checks what
 * every object needs (a valid name, a spec for Istio kinds); {@link #MESH} adds the controller's own
 * validation of Istio resources ({@link ConfigParser}), so apply refuses exactly what the
 * controllers would reject.
 */
@FunctionalInterface
interface ResourceValidator {

    /** The problems with this object, each naming the field and what was expected; empty when it may be applied. */
    List<String> validate(HasMetadata object);

    /** Structural checks only. */
    ResourceValidator STRUCTURAL = object -> {
        String name = object.getMetadata() == null ? null : object.getMetadata().getName();
        if (name == null || name.isBlank()) {
            return List.of("metadata.name: missing (expected: a name)");
        }
        if (!name.matches("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")) {
            return List.of("metadata.name: '" + name + "' (expected: a DNS subdomain: lower-case letters, digits, '-', '.')");
        }
        if (object.getApiVersion() != null && object.getApiVersion().contains(".istio.io/")
                && object instanceof io.fabric8.kubernetes.api.model.GenericKubernetesResource g
                && !(g.getAdditionalProperties().get("spec") instanceof java.util.Map)) {
            return List.of("spec: missing (expected: the " + object.getKind() + "'s spec)");
        }
        return List.of();
    };

    /** Structural checks, then the controller's validation for the Istio kinds it translates. */
    ResourceValidator MESH = object -> {
        List<String> structural = STRUCTURAL.validate(object);
        if (!structural.isEmpty() || ConfigKind.of(object.getKind()).isEmpty()
                || !(object instanceof GenericKubernetesResource g)) {
            return structural;
        }
        Map<String, Object> metadata = new LinkedHashMap<>();
        metadata.put("name", object.getMetadata().getName());
        if (object.getMetadata().getNamespace() != null) {
            metadata.put("namespace", object.getMetadata().getNamespace());
        }
        Map<String, Object> asMap = new LinkedHashMap<>();
        asMap.put("apiVersion", object.getApiVersion());
        asMap.put("kind", object.getKind());
        asMap.put("metadata", metadata);
        asMap.put("spec", g.getAdditionalProperties().get("spec"));
        try {
            ConfigParser.parse(ConfigResource.fromObject(asMap, "default"));
            return List.of();
        } catch (ConfigException e) {
            return e.errors();
        } catch (IllegalArgumentException e) {
            return List.of(e.getMessage());
        }
    };
}
