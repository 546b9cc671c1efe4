package io.isthmus.controller.config;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.MappingIterator;
import tools.jackson.dataformat.yaml.YAMLMapper;

/** Multi-document YAML → configuration objects (test helper). */
public final class Yaml {

    private static final YAMLMapper YAML = new YAMLMapper();

    private Yaml() {}

    /** Every document of {@code text} (empty documents skipped) as a Kubernetes object map. */
    public static List<Map<String, Object>> documents(String text) {
        List<Map<String, Object>> out = new ArrayList<>();
        try (MappingIterator<Object> it = YAML.readerFor(Object.class).readValues(text)) {
            while (it.hasNext()) {
                // An empty document (a trailing ---) reads as null.
                if (it.next() instanceof Map<?, ?> doc && !doc.isEmpty()) {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> typed = (Map<String, Object>) doc;
                    out.add(typed);
                }
            }
        }
        return out;
    }

    /** The networking.istio.io objects of {@code text}, in {@code namespace} unless they name one. */
    public static List<ConfigResource> resources(String text, String namespace, String creationTimestamp) {
        List<ConfigResource> out = new ArrayList<>();
        for (Map<String, Object> doc : documents(text)) {
            if (ConfigKind.of(String.valueOf(doc.get("kind"))).isEmpty()) {
                continue;
            }
            ConfigResource r = ConfigResource.fromObject(doc, namespace);
            out.add(new ConfigResource(r.kind(), r.apiVersion(), r.namespace(), r.name(),
                    r.creationTimestamp().isEmpty() ? creationTimestamp : r.creationTimestamp(), r.spec()));
        }
        return out;
    }
}
