package io.isthmus.meshctl;

import io.fabric8.kubernetes.api.model.HasMetadata;
import java.util.List;

/**
 * The seam where {@code meshctl apply} checks an object before it is sent. Today it checks what
 * every object needs (a valid name, a spec for Istio kinds); the semantic validation of Istio
 * resources (mesh-controller's {@code io.isthmus.controller.config} validator, being written) plugs
 * in here as another implementation, so apply and the controller reject the same objects.
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
}
