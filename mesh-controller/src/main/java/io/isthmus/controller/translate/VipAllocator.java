package io.isthmus.controller.translate;

import static java.util.Objects.requireNonNull;

import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Istio's {@code DNS_AUTO_ALLOCATE}: a virtual IP from {@code 240.240.0.0/16} (class E, never
 * routed) for each host that has none of its own, so the app can resolve it and the sidecar can
 * capture the connection. Pure and deterministic: each host's slot is a hash of its name
 * (FNV-1a, 32 bits), so a host keeps its VIP whatever other hosts come and go; two hosts that hash
 * to one slot are settled in name order, the later taking the next free slot. Addresses ending in
 * {@code .0} or {@code .255} are never handed out, as in Istio.
 */
final class VipAllocator {

    /** 240.240.0.0/16 minus the .0 and .255 of each /24: 256 × 254 slots. */
    private static final int SLOTS = 256 * 254;

    private VipAllocator() {}

    /** A VIP for each of {@code hosts} (wildcards get none: a VIP cannot stand for many names). */
    static Map<String, String> allocate(Collection<String> hosts) {
        requireNonNull(hosts, "hosts");
        Map<String, String> out = new HashMap<>();
        Set<Integer> taken = new HashSet<>();
        for (String host : new TreeSet<>(hosts)) {
            if (host.startsWith("*")) {
                continue;
            }
            int slot = Integer.remainderUnsigned(fnv1a(host), SLOTS);
            while (!taken.add(slot)) {
                slot = (slot + 1) % SLOTS;
                if (taken.size() >= SLOTS) {
                    throw new IllegalStateException("more than " + SLOTS + " hosts need an auto-allocated VIP"
                            + " (expected: at most " + SLOTS + "; give ServiceEntries addresses)");
                }
            }
            out.put(host, "240.240." + (slot / 254) + "." + (slot % 254 + 1));
        }
        return Map.copyOf(out);
    }

    private static int fnv1a(String text) {
        int hash = 0x811c9dc5;
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            hash ^= b & 0xff;
            hash *= 0x01000193;
        }
        return hash;
    }
}
