package io.isthmus.topologies.kube;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * The static discovery documents kubectl reads before anything else ({@code /api},
 * {@code /apis}, {@code /api/v1}, {@code /apis/<group>/<version>}), built from the resource table.
 */
final class DiscoveryDocuments {

    private static final ObjectMapper JSON = JsonMapper.builder().build();
    private static final List<String> VERBS =
            List.of("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch");

    private final List<ApiResource> resources;
    private final String serverAddress;

    DiscoveryDocuments(List<ApiResource> resources, String serverAddress) {
        this.resources = List.copyOf(resources);
        this.serverAddress = serverAddress;
    }

    /** The document for a path without its query string, if it is a discovery path. */
    Optional<String> forPath(String path) {
        String p = path.endsWith("/") && path.length() > 1 ? path.substring(0, path.length() - 1) : path;
        if (p.equals("/api")) {
            return Optional.of(write(Map.of("kind", "APIVersions", "versions", List.of("v1"),
                    "serverAddressByClientCIDRs", List.of(Map.of("clientCIDR", "0.0.0.0/0", "serverAddress", serverAddress)))));
        }
        if (p.equals("/apis")) {
            return Optional.of(write(groupList()));
        }
        if (p.equals("/api/v1")) {
            return Optional.of(write(resourceList("", "v1")));
        }
        String[] parts = p.split("/");
        if (parts.length == 4 && parts[1].equals("apis")) {
            boolean known = resources.stream().anyMatch(r -> r.group().equals(parts[2]) && r.version().equals(parts[3]));
            return known ? Optional.of(write(resourceList(parts[2], parts[3]))) : Optional.empty();
        }
        if (parts.length == 3 && parts[1].equals("apis")) {
            return groups().stream().filter(g -> g.get("name").equals(parts[2])).findFirst()
                    .map(g -> {
                        Map<String, Object> doc = new LinkedHashMap<>(g);
                        doc.put("kind", "APIGroup");
                        doc.put("apiVersion", "v1");
                        return write(doc);
                    });
        }
        return Optional.empty();
    }

    private Map<String, Object> groupList() {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("kind", "APIGroupList");
        doc.put("apiVersion", "v1");
        doc.put("groups", groups());
        return doc;
    }

    private List<Map<String, Object>> groups() {
        Map<String, List<String>> versionsByGroup = new LinkedHashMap<>();
        for (ApiResource r : resources) {
            if (!r.group().isEmpty()) {
                List<String> versions = versionsByGroup.computeIfAbsent(r.group(), g -> new ArrayList<>());
                if (!versions.contains(r.version())) {
                    versions.add(r.version());
                }
            }
        }
        List<Map<String, Object>> groups = new ArrayList<>();
        versionsByGroup.forEach((group, versions) -> {
            List<Map<String, String>> gvs = versions.stream()
                    .map(v -> Map.of("groupVersion", group + '/' + v, "version", v)).toList();
            Map<String, Object> g = new LinkedHashMap<>();
            g.put("name", group);
            g.put("versions", gvs);
            g.put("preferredVersion", gvs.get(0));
            groups.add(g);
        });
        return groups;
    }

    private Map<String, Object> resourceList(String group, String version) {
        List<Map<String, Object>> list = new ArrayList<>();
        for (ApiResource r : resources) {
            if (r.group().equals(group) && r.version().equals(version)) {
                Map<String, Object> entry = new LinkedHashMap<>();
                entry.put("name", r.plural());
                entry.put("singularName", r.kind().toLowerCase(java.util.Locale.ROOT));
                entry.put("namespaced", r.namespaced());
                entry.put("kind", r.kind());
                entry.put("verbs", VERBS);
                if (!r.shortNames().isEmpty()) {
                    entry.put("shortNames", r.shortNames());
                }
                list.add(entry);
                if (r.kind().equals("Pod") || r.kind().equals("Service") || r.kind().equals("Namespace")) {
                    list.add(Map.of("name", r.plural() + "/status", "singularName", "", "namespaced", r.namespaced(),
                            "kind", r.kind(), "verbs", List.of("get", "patch", "update")));
                }
            }
        }
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("kind", "APIResourceList");
        doc.put("apiVersion", "v1");
        doc.put("groupVersion", group.isEmpty() ? version : group + '/' + version);
        doc.put("resources", list);
        return doc;
    }

    private static String write(Object doc) {
        return JSON.writeValueAsString(doc);
    }
}
