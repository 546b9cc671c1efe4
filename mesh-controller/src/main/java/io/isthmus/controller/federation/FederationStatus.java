package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What one peer knows about the federation group right now, for readiness checks, the admin
 * page ({@code GET /federation/status}) and {@code meshctl cluster status}.
 *
 * @param leaderId     the leader this peer currently follows (or itself), or {@code null} when it
 *                     knows none
 * @param commitIndex  the highest log index this peer knows to be committed
 * @param appliedIndex the highest log index applied to this peer's state
 * @param members      the peer ids of the group's current configuration, sorted
 * @param stale        true when this peer knows no leader it could follow (see
 *                     {@link FederationNode#hasLeader()}), so its {@code state()} may be behind
 *                     the group's; it keeps serving it
 * @param memberAddresses each member's Raft address ({@code host:port}), by id
 * @param stateHash    SHA-256 of this replica's state in canonical form: equal on two replicas
 *                     that applied the same log prefix (compare at equal {@code appliedIndex})
 * @param clusterAgeMillis per registered cluster, milliseconds since this replica last applied a
 *                     change to it (local clock)
 */
public record FederationStatus(
        String peerId,
        String leaderId,
        long term,
        long commitIndex,
        long appliedIndex,
        List<String> members,
        boolean stale,
        Map<String, String> memberAddresses,
        String stateHash,
        Map<String, Long> clusterAgeMillis) {

    public FederationStatus {
        requireNonNull(peerId, "peerId");
        members = List.copyOf(members);
        // Sorted, so the JSON documents are stable for people and diff tools.
        memberAddresses = new TreeMap<>(memberAddresses);
        requireNonNull(stateHash, "stateHash");
        clusterAgeMillis = new TreeMap<>(clusterAgeMillis);
    }

    public boolean isLeader() {
        return peerId.equals(leaderId);
    }
}
