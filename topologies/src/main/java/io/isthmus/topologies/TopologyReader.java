package io.isthmus.topologies;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * Reads the YAML tree by hand rather than binding records, so that every error names the exact
 * field path ({@code workloads[2].ports[0].port}) and unknown fields are reported, not ignored.
 */
final class TopologyReader {

    private static final YAMLMapper YAML = new YAMLMapper();

    private TopologyReader() {}

    /** {@code 6s}, {@code 30m}, {@code 24h}, {@code 2d}, as the proxies' {@code --cert-ttl} reads them. */
    static java.time.Duration duration(String text) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("([1-9][0-9]{0,6})([smhd])").matcher(text.strip());
        if (!m.matches()) {
            throw new TopologyException("certTtl: '" + text + "' (expected: a number and a unit s, m, h or d,"
                    + " e.g. 6s, 30m, 24h)");
        }
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2)) {
            case "s" -> java.time.Duration.ofSeconds(n);
            case "m" -> java.time.Duration.ofMinutes(n);
            case "h" -> java.time.Duration.ofHours(n);
            default -> java.time.Duration.ofDays(n);
        };
    }

    static Topology read(String yaml) {
        JsonNode root;
        try {
            root = YAML.readTree(yaml);
        } catch (JacksonException e) {
            throw new TopologyException("not valid YAML: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) {
            throw new TopologyException("the file is empty or not a mapping (expected: 'name:', 'addressBase:', "
                    + "'clusters:' and 'workloads:' at the top level)");
        }
        Node top = new Node("", root);
        top.allowOnly(Set.of("name", "addressBase", "trustDomain", "trustDomainAliases", "certTtl", "network", "clusters",
                "workloads"));
        String name = top.string("name");
        int addressBase = top.integer("addressBase");
        String trustDomain = top.optionalString("trustDomain").orElse("cluster.local");
        List<String> trustDomainAliases = top.stringList("trustDomainAliases");
        Optional<java.time.Duration> certTtl = top.optionalString("certTtl").map(TopologyReader::duration);
        NetworkMode networkMode = top.optionalString("network").map(t -> NetworkMode.parse("network", t))
                .orElse(NetworkMode.LOOPBACK);
        List<ClusterSpec> clusters = new ArrayList<>();
        for (Node c : top.list("clusters", true)) {
            c.allowOnly(Set.of("name", "network", "region", "zone", "subzone", "primary"));
            clusters.add(c.build(() -> new ClusterSpec(c.string("name"), c.string("network"), c.string("region"),
                    c.string("zone"), c.optionalString("subzone").orElse(""), c.optionalString("primary").orElse(""))));
        }
        List<WorkloadSpec> workloads = new ArrayList<>();
        for (Node w : top.list("workloads", false)) {
            workloads.add(workload(w));
        }
        try {
            return new Topology(name, addressBase, trustDomain, clusters, workloads, certTtl, networkMode)
                    .withTrustDomainAliases(trustDomainAliases);
        } catch (IllegalArgumentException e) {
            throw new TopologyException(e.getMessage(), e);
        }
    }

    private static WorkloadSpec workload(Node w) {
        w.allowOnly(Set.of("name", "cluster", "namespace", "service", "serviceAccount", "labels", "ports", "role"));
        String name = w.string("name");
        Optional<String> service = w.optionalString("service");
        String roleText = w.optionalString("role").orElse("server");
        WorkloadSpec.Role role = switch (roleText) {
            case "server" -> WorkloadSpec.Role.SERVER;
            case "client" -> WorkloadSpec.Role.CLIENT;
            default -> throw new TopologyException(w.path("role") + ": '" + roleText + "' (expected: server or client)");
        };
        Map<String, String> labels = new LinkedHashMap<>(w.stringMap("labels"));
        labels.putIfAbsent("app", service.orElse(name));
        labels.putIfAbsent("version", "v1");
        List<PortSpec> ports = new ArrayList<>();
        for (Node p : w.list("ports", false)) {
            p.allowOnly(Set.of("name", "port", "targetPort"));
            int port = p.integer("port");
            ports.add(p.build(() -> new PortSpec(p.string("name"), port, p.optionalInteger("targetPort").orElse(port))));
        }
        return w.build(() -> new WorkloadSpec(name, w.string("cluster"), w.optionalString("namespace").orElse("default"),
                service, w.optionalString("serviceAccount").orElse(service.orElse(name)), labels, ports, role));
    }

    /** A YAML node and its path, for messages. */
    private record Node(String at, JsonNode json) {

        String path(String field) {
            return at.isEmpty() ? field : at + '.' + field;
        }

        void allowOnly(Set<String> fields) {
            for (String f : json.propertyNames()) {
                if (!fields.contains(f)) {
                    throw new TopologyException(path(f) + ": unknown field (expected one of "
                            + fields.stream().sorted().toList() + ")");
                }
            }
        }

        String string(String field) {
            return optionalString(field).orElseThrow(() -> new TopologyException(path(field) + ": missing (add '"
                    + field + ": <value>')"));
        }

        Optional<String> optionalString(String field) {
            JsonNode v = json.get(field);
            if (v == null || v.isNull()) {
                return Optional.empty();
            }
            if (!v.isValueNode() || v.isBoolean()) {
                throw new TopologyException(path(field) + ": " + v + " (expected: a string)");
            }
            return Optional.of(v.asString());
        }

        int integer(String field) {
            JsonNode v = json.get(field);
            if (v == null || v.isNull()) {
                throw new TopologyException(path(field) + ": missing (add '" + field + ": <number>')");
            }
            return toInt(field, v);
        }

        Optional<Integer> optionalInteger(String field) {
            JsonNode v = json.get(field);
            return v == null || v.isNull() ? Optional.empty() : Optional.of(toInt(field, v));
        }

        private int toInt(String field, JsonNode v) {
            if (!v.isIntegralNumber() || !v.canConvertToInt()) {
                throw new TopologyException(path(field) + ": " + v + " (expected: a whole number)");
            }
            return v.intValue();
        }

        Map<String, String> stringMap(String field) {
            JsonNode v = json.get(field);
            if (v == null || v.isNull()) {
                return Map.of();
            }
            if (!v.isObject()) {
                throw new TopologyException(path(field) + ": " + v + " (expected: a mapping of strings)");
            }
            Map<String, String> out = new LinkedHashMap<>();
            for (Map.Entry<String, JsonNode> e : v.properties()) {
                if (!e.getValue().isValueNode() || e.getValue().isNull()) {
                    throw new TopologyException(path(field) + '.' + e.getKey() + ": " + e.getValue()
                            + " (expected: a string)");
                }
                out.put(e.getKey(), e.getValue().asString());
            }
            return out;
        }

        List<String> stringList(String field) {
            JsonNode v = json.get(field);
            if (v == null || v.isNull()) {
                return List.of();
            }
            if (!v.isArray()) {
                throw new TopologyException(path(field) + ": " + v + " (expected: a list of strings)");
            }
            List<String> out = new ArrayList<>();
            for (int i = 0; i < v.size(); i++) {
                JsonNode item = v.get(i);
                if (!item.isString()) {
                    throw new TopologyException(path(field) + '[' + i + "]: " + item + " (expected: a string)");
                }
                out.add(item.asString());
            }
            return out;
        }

        List<Node> list(String field, boolean required) {
            JsonNode v = json.get(field);
            if (v == null || v.isNull()) {
                if (required) {
                    throw new TopologyException(path(field) + ": missing (expected: a list)");
                }
                return List.of();
            }
            if (!v.isArray()) {
                throw new TopologyException(path(field) + ": " + v + " (expected: a list)");
            }
            List<Node> out = new ArrayList<>();
            for (int i = 0; i < v.size(); i++) {
                JsonNode item = v.get(i);
                String itemPath = path(field) + '[' + i + ']';
                if (!item.isObject()) {
                    throw new TopologyException(itemPath + ": " + item + " (expected: a mapping)");
                }
                out.add(new Node(itemPath, item));
            }
            return out;
        }

        /** Runs a record constructor and prefixes its message with this node's path. */
        <T> T build(java.util.function.Supplier<T> constructor) {
            try {
                return constructor.get();
            } catch (IllegalArgumentException e) {
                throw new TopologyException(at + '.' + e.getMessage(), e);
            }
        }
    }
}
