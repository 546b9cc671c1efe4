package io.isthmus.controller.config;

import java.util.Map;

/**
 * Istio's {@code selector} of the security kinds: the pods whose labels include every
 * {@code matchLabels} entry. Empty (or absent) selects every workload of the policy's namespace,
 * or of the mesh in the root namespace.
 */
public record WorkloadSelector(Map<String, String> matchLabels) {

    public WorkloadSelector {
        matchLabels = Specs.map(matchLabels);
    }

    /** True when {@code labels} carry every {@code matchLabels} entry (always, for an empty selector). */
    public boolean matches(Map<String, String> labels) {
        for (var e : matchLabels.entrySet()) {
            if (!e.getValue().equals(labels.get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }

    static boolean isEmpty(WorkloadSelector selector) {
        return selector == null || selector.matchLabels().isEmpty();
    }
}
