package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import java.util.List;

/**
 * What one peer knows about the federation group right now, for readiness checks, the admin
 * page and {@code meshctl cluster status}.
 *
 * @param leaderId    the leader this peer currently follows (or itself), or {@code null} when it
 *                    knows none
 * @param commitIndex the highest log index this peer knows to be committed
 * @param appliedIndex the highest log index applied to this peer's state
 * @param members     the peer ids of the group, sorted
 * @param stale       true when this peer knows no leader it could follow (see
 *                    {@link FederationNode#hasLeader()}), so its {@code state()} may be behind
 *                    the group's
 */
public record FederationStatus(
        String peerId,
        String leaderId,
        long term,
        long commitIndex,
        long appliedIndex,
        List<String> members,
        boolean stale) {

    public FederationStatus {
        requireNonNull(peerId, "peerId");
        members = List.copyOf(members);
    }

    public boolean isLeader() {
        return peerId.equals(leaderId);
    }
}
