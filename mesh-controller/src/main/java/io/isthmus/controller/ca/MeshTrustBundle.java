package io.isthmus.controller.ca;

import static java.util.Objects.requireNonNull;

import io.isthmus.trust.TrustBundle;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The roots this controller trusts for client certificates: its own cluster's root plus every
 * root the federation publishes. Swapped whole on each federation state; read per handshake.
 * Thread-safe.
 */
public final class MeshTrustBundle implements Supplier<TrustBundle> {

    private static final Logger log = LoggerFactory.getLogger(MeshTrustBundle.class);

    private final String trustDomain;
    private final String ownRootPem;
    private volatile TrustBundle bundle;
    private volatile List<String> lastRoots = List.of();

    public MeshTrustBundle(String trustDomain, String ownRootPem) {
        this.trustDomain = requireNonNull(trustDomain, "trustDomain");
        this.ownRootPem = requireNonNull(ownRootPem, "ownRootPem");
        this.bundle = TrustBundle.ofPem(trustDomain, List.of(ownRootPem));
    }

    /** Replaces the federated roots; a malformed set is logged and the previous bundle kept. */
    public void update(List<String> federatedRootsPem) {
        requireNonNull(federatedRootsPem, "federatedRootsPem");
        if (federatedRootsPem.equals(lastRoots)) {
            return;
        }
        Set<String> roots = new LinkedHashSet<>();
        roots.add(ownRootPem);
        roots.addAll(federatedRootsPem);
        try {
            bundle = TrustBundle.ofPem(trustDomain, new ArrayList<>(roots));
            lastRoots = List.copyOf(federatedRootsPem);
        } catch (IllegalArgumentException e) {
            log.error("federated trust roots rejected, keeping the previous bundle: {}", e.getMessage());
        }
    }

    @Override
    public TrustBundle get() {
        return bundle;
    }
}
