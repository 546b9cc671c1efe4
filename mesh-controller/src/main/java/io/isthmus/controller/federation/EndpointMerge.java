package io.isthmus.controller.federation;

import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.ServiceKey;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Applies an {@link UpdateEndpoints} delta to a cluster's endpoint list: the result holds every
 * endpoint once per (service, address), in {@link #ORDER}, later entries of the input winning
 * over earlier ones with the same key, then the delta's removals and upserts.
 *
 * <p>Every replica applies every delta, so its cost is paid three times per commit: a list
 * already in canonical order (strictly increasing, as every result of this class is) is merged
 * in O(k log n) comparisons plus one array copy, instead of being re-sorted. Whether a list is
 * canonical is remembered by identity for the last few lists (all peers of a JVM share them), which only chooses between two
 * paths that give the same result, so it never makes replicas differ.
 */
final class EndpointMerge {

    /**
     * Service (as {@code namespace/name} text), then address: the order the cluster watcher emits
     * and the one the replicated state has always used. Compares without building the text.
     */
    static final Comparator<UpdateEndpoints.EndpointRef> ORDER = (a, b) -> {
        int c = compareServiceText(a.service(), b.service());
        return c != 0 ? c : a.address().compareTo(b.address());
    };

    private static final int REMEMBERED = 32;

    /** The last lists known to be canonical, compared by identity; guarded by itself. */
    private static final Object[] CANONICAL = new Object[REMEMBERED];
    private static int next;

    private EndpointMerge() {
    }

    static List<Endpoint> apply(List<Endpoint> current, UpdateEndpoints delta) {
        if (!isCanonical(current)) {
            return remember(slow(current, delta));
        }
        TreeMap<UpdateEndpoints.EndpointRef, Endpoint> changes = new TreeMap<>(ORDER);
        delta.removed().forEach(ref -> changes.put(ref, null));
        delta.upserted().forEach(e -> changes.put(UpdateEndpoints.EndpointRef.of(e), e));
        // Where each change lands, first, so the result is built in one array of its exact size:
        // the unchanged runs are copied from the list straight into it, and List.of copies once
        // more. Two copies of the cluster's list per apply on each replica; with thousands of
        // endpoints they were most of what a one-endpoint delta allocated (a third, through
        // toArray, is gone).
        int[] found = new int[changes.size()];
        int size = current.size();
        int from = 0;
        int c = 0;
        for (Map.Entry<UpdateEndpoints.EndpointRef, Endpoint> change : changes.entrySet()) {
            int at = search(current, from, change.getKey());
            found[c++] = at;
            size += (change.getValue() != null ? 1 : 0) - (at >= 0 ? 1 : 0);
            from = at >= 0 ? at + 1 : -at - 1;
        }
        Endpoint[] out = new Endpoint[size];
        int written = 0;
        from = 0;
        c = 0;
        for (Endpoint value : changes.values()) {
            int at = found[c++];
            int until = at >= 0 ? at : -at - 1;
            written = copy(current, from, until, out, written);
            if (value != null) {
                out[written++] = value;
            }
            from = at >= 0 ? at + 1 : until;
        }
        copy(current, from, current.size(), out, written);
        return remember(List.of(out));
    }

    /** Copies {@code list[from, until)} to {@code out} at {@code at}; returns the next free index. */
    private static int copy(List<Endpoint> list, int from, int until, Endpoint[] out, int at) {
        for (int i = from; i < until; i++) {
            out[at++] = list.get(i);
        }
        return at;
    }

    /** Rebuilds the list through a sorted map: any input order, duplicates collapsed. */
    private static List<Endpoint> slow(List<Endpoint> current, UpdateEndpoints delta) {
        TreeMap<UpdateEndpoints.EndpointRef, Endpoint> endpoints = new TreeMap<>(ORDER);
        current.forEach(e -> endpoints.put(UpdateEndpoints.EndpointRef.of(e), e));
        delta.removed().forEach(endpoints::remove);
        delta.upserted().forEach(e -> endpoints.put(UpdateEndpoints.EndpointRef.of(e), e));
        return List.copyOf(endpoints.values());
    }

    /** Binary search in {@code list[from, size)}; like {@code Collections.binarySearch}. */
    private static int search(List<Endpoint> list, int from, UpdateEndpoints.EndpointRef key) {
        int low = from;
        int high = list.size() - 1;
        while (low <= high) {
            int mid = (low + high) >>> 1;
            int c = compare(list.get(mid), key);
            if (c < 0) {
                low = mid + 1;
            } else if (c > 0) {
                high = mid - 1;
            } else {
                return mid;
            }
        }
        return -(low + 1);
    }

    private static int compare(Endpoint endpoint, UpdateEndpoints.EndpointRef key) {
        int c = compareServiceText(endpoint.service(), key.service());
        return c != 0 ? c : endpoint.address().compareTo(key.address());
    }

    static boolean isCanonical(List<Endpoint> list) {
        synchronized (CANONICAL) {
            for (Object known : CANONICAL) {
                if (known == list) {
                    return true;
                }
            }
        }
        for (int i = 1; i < list.size(); i++) {
            Endpoint previous = list.get(i - 1);
            Endpoint next = list.get(i);
            int c = compareServiceText(previous.service(), next.service());
            if (c > 0 || c == 0 && previous.address().compareTo(next.address()) >= 0) {
                return false;
            }
        }
        remember(list);
        return true;
    }

    private static List<Endpoint> remember(List<Endpoint> list) {
        synchronized (CANONICAL) {
            CANONICAL[next] = list;
            next = (next + 1) % REMEMBERED;
        }
        return list;
    }

    /**
     * {@code a.toString().compareTo(b.toString())} ({@code namespace/name}) without building
     * either string: the order must stay the one replicas and snapshots already use.
     */
    static int compareServiceText(ServiceKey a, ServiceKey b) {
        if (a == b || a.namespace().equals(b.namespace()) && a.name().equals(b.name())) {
            return 0;
        }
        int lengthA = a.namespace().length() + 1 + a.name().length();
        int lengthB = b.namespace().length() + 1 + b.name().length();
        int common = Math.min(lengthA, lengthB);
        for (int i = 0; i < common; i++) {
            char x = charAt(a, i);
            char y = charAt(b, i);
            if (x != y) {
                return x - y;
            }
        }
        return lengthA - lengthB;
    }

    private static char charAt(ServiceKey key, int i) {
        int namespaceLength = key.namespace().length();
        if (i < namespaceLength) {
            return key.namespace().charAt(i);
        }
        return i == namespaceLength ? '/' : key.name().charAt(i - namespaceLength - 1);
    }
}
