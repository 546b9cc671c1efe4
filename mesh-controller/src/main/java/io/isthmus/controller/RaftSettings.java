package io.isthmus.controller;

import static java.util.Objects.requireNonNull;

import io.isthmus.controller.federation.RaftTuning;
import java.time.Duration;

/**
 * How this controller takes part in the federation's Raft group (flags {@code --raft-join},
 * {@code --raft-election-timeout-min/-max}, {@code --[no-]raft-tls}, {@code --raft-tuning}).
 *
 * @param join               start as a new member waiting to be added by an existing one
 *                           ({@code POST /federation/members}, i.e. {@code meshctl cluster join});
 *                           it never starts an election on its own
 * @param electionTimeoutMin lower bound of the randomized election timeout; raise both bounds for
 *                           links slower than a LAN (several round trips each)
 * @param electionTimeoutMax upper bound; a dead leader is replaced after about this long
 * @param tls                peers talk mutual TLS with the controller's mesh identity
 *                           ({@code spiffe://<td>/ns/istio-system/sa/istiod}) and accept only that
 *                           identity, verified against the mesh trust bundle
 * @param tuning             Ratis batching and pipelining ({@code --raft-tuning key=value,...});
 *                           durability is not among them
 */
public record RaftSettings(boolean join, Duration electionTimeoutMin, Duration electionTimeoutMax, boolean tls,
        RaftTuning tuning) {

    public static final RaftSettings DEFAULT = new RaftSettings(false, Duration.ofSeconds(1), Duration.ofSeconds(2), true);

    /** With the default {@link RaftTuning}. */
    public RaftSettings(boolean join, Duration electionTimeoutMin, Duration electionTimeoutMax, boolean tls) {
        this(join, electionTimeoutMin, electionTimeoutMax, tls, RaftTuning.DEFAULT);
    }

    public RaftSettings {
        requireNonNull(tuning, "tuning");
        requireNonNull(electionTimeoutMin, "electionTimeoutMin");
        requireNonNull(electionTimeoutMax, "electionTimeoutMax");
        if (electionTimeoutMin.isNegative() || electionTimeoutMin.isZero()) {
            throw new IllegalArgumentException("--raft-election-timeout-min: " + electionTimeoutMin + " (expected: > 0)");
        }
        if (electionTimeoutMax.compareTo(electionTimeoutMin) <= 0) {
            throw new IllegalArgumentException("--raft-election-timeout-max: " + electionTimeoutMax
                    + " (expected: > --raft-election-timeout-min " + electionTimeoutMin + ")");
        }
    }
}
