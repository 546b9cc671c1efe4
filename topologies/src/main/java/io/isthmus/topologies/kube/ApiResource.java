package io.isthmus.topologies.kube;

import static java.util.Objects.requireNonNull;

import java.util.List;

/**
 * A resource type the embedded API server stores and lists in its discovery documents.
 * {@code group} is empty for the core group.
 */
public record ApiResource(String group, String version, String kind, String plural, boolean namespaced,
        List<String> shortNames) {

    public ApiResource {
        requireNonNull(group, "group");
        requireNonNull(version, "version");
        requireNonNull(kind, "kind");
        requireNonNull(plural, "plural");
        shortNames = List.copyOf(requireNonNull(shortNames, "shortNames"));
    }

    /** {@code v1} for the core group, else {@code group/version}. */
    public String groupVersion() {
        return group.isEmpty() ? version : group + '/' + version;
    }

    /** Istio's kinds and Isthmus' own ({@code *.isthmus.io}): served from CRDs. */
    public boolean isCustom() {
        return group.endsWith(".istio.io") || group.endsWith(".isthmus.io");
    }
}
