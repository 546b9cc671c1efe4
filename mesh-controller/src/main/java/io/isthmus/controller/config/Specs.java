package io.isthmus.controller.config;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Null-tolerant immutable copies: Istio's YAML omits empty lists and maps, and may hold null items. */
final class Specs {

    private Specs() {}

    static <T> List<T> list(List<T> list) {
        if (list == null) {
            return List.of();
        }
        // Not List.copyOf: a YAML list may hold a null item, which validation reports by index.
        return Collections.unmodifiableList(new ArrayList<>(list));
    }

    static <K, V> Map<K, V> map(Map<K, V> map) {
        // Insertion order kept: header matches and label sets are emitted in the user's order.
        return map == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(map));
    }
}
