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
 * The roots this controller trusts for client certificates: the roots of its own {@code cacerts}
 * (one, or two during a root rotation) plus every root the federation publishes. Swapped whole on
 * each change; read per handshake. Thread-safe.
 */
public final class MeshTrustBundle implements Supplier<TrustBundle> {

    private static final Logger log = LoggerFactory.getLogger(MeshTrustBundle.class);

    private final String trustDomain;
    private final Set<String> trustDomainAliases;
    private List<String> ownRoots;
    private List<String> federatedRoots = List.of();
    private volatile TrustBundle bundle;

    public MeshTrustBundle(String trustDomain, String ownRootPem) {
        this(trustDomain, List.of(requireNonNull(ownRootPem, "ownRootPem")));
    }

    public MeshTrustBundle(String trustDomain, List<String> ownRootsPem) {
        this(trustDomain, Set.of(), ownRootsPem);
    }

    /** Accepting peers of {@code trustDomain} and of each of {@code trustDomainAliases}. */
    public MeshTrustBundle(String trustDomain, Set<String> trustDomainAliases, List<String> ownRootsPem) {
        this.trustDomain = requireNonNull(trustDomain, "trustDomain");
        this.trustDomainAliases = Set.copyOf(trustDomainAliases);
        this.ownRoots = List.copyOf(ownRootsPem);
        this.bundle = TrustBundle.ofPem(trustDomain, this.trustDomainAliases, ownRoots);
    }

    /** Replaces the federated roots; a malformed set is logged and the previous bundle kept. */
    public synchronized void update(List<String> federatedRootsPem) {
        requireNonNull(federatedRootsPem, "federatedRootsPem");
        if (!federatedRootsPem.equals(federatedRoots)) {
            rebuild(ownRoots, List.copyOf(federatedRootsPem));
        }
    }

    /** Replaces this cluster's own roots (after {@code cacerts} changed). */
    public synchronized void updateOwnRoots(List<String> ownRootsPem) {
        requireNonNull(ownRootsPem, "ownRootsPem");
        if (!ownRootsPem.equals(ownRoots)) {
            rebuild(List.copyOf(ownRootsPem), federatedRoots);
        }
    }

    private void rebuild(List<String> own, List<String> federated) {
        Set<String> roots = new LinkedHashSet<>(own);
        roots.addAll(federated);
        try {
            TrustBundle next = TrustBundle.ofPem(trustDomain, trustDomainAliases, new ArrayList<>(roots));
            ownRoots = own;
            federatedRoots = federated;
            if (next.roots().size() != bundle.roots().size()) {
                log.info("trust bundle now has {} root(s)", next.roots().size());
            }
            bundle = next;
        } catch (IllegalArgumentException e) {
            log.error("trust roots rejected, keeping the previous bundle: {}", e.getMessage());
        }
    }

    @Override
    public TrustBundle get() {
        return bundle;
    }
}
