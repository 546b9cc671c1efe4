package io.isthmus.topologies;

import java.util.Arrays;
import java.util.Locale;

/**
 * How a local topology's clusters are wired on this machine (topology file field
 * {@code network}).
 *
 * <ul>
 *   <li>{@link #LOOPBACK}: every process in this machine's network namespace, cluster {@code i}
 *       on {@code 127.<addressBase+i>.0.0/16}; nothing stops a process from reaching a pod on
 *       another network, the mesh only never sends it there.
 *   <li>{@link #NETNS}: each cluster in its own Linux network namespace on
 *       {@code 10.<addressBase+i>.0.0/16}, joined by a router namespace whose firewall lets
 *       clusters of one network reach each other's pods, and other networks only the east-west
 *       gateway (15443) and the controller (15010, 15012, 15017, 15031). Needs root; the launcher
 *       falls back to loopback, and says why, without it.
 * </ul>
 */
public enum NetworkMode {
    LOOPBACK,
    NETNS;

    /** The name in a topology file: {@code loopback} or {@code netns}. */
    public String fileName() {
        return name().toLowerCase(Locale.ROOT);
    }

    static NetworkMode parse(String field, String text) {
        return Arrays.stream(values()).filter(m -> m.fileName().equals(text)).findFirst()
                .orElseThrow(() -> new TopologyException(field + ": '" + text + "' (expected: loopback or netns)"));
    }
}
