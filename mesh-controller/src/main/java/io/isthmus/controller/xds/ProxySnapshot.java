package io.isthmus.controller.xds;

import static java.util.Objects.requireNonNull;

import io.isthmus.controller.translate.ProxyNode;
import io.isthmus.controller.translate.ProxyResources;
import java.util.Map;

/**
 * What the controller currently serves one proxy: the resources computed from one federation
 * state, and the version of each resource type (a content hash, so an unchanged type keeps its
 * version and is not re-sent).
 *
 * @param stateIndex the federation applied index the resources were computed from
 * @param versions   type URL → version
 */
public record ProxySnapshot(ProxyNode node, long stateIndex, ProxyResources resources, Map<String, String> versions) {

    public ProxySnapshot {
        requireNonNull(node, "node");
        requireNonNull(resources, "resources");
        versions = Map.copyOf(versions);
    }
}
