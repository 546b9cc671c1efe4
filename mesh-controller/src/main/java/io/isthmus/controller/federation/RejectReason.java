package io.isthmus.controller.federation;

/** Why a command was rejected; the {@code reason} tag of the rejected-commands counter. */
enum RejectReason {
    /** The payload could not be decoded into a command (wrong format, version or values). */
    MALFORMED("malformed"),
    /** The command names a cluster that is not registered. */
    UNKNOWN_CLUSTER("unknown_cluster"),
    /** The command contradicts the registry (e.g. a state for another network). */
    CONFLICT("conflict"),
    /** Applying the command failed unexpectedly; it was skipped so replicas stay alike. */
    INTERNAL("internal");

    private final String tag;

    RejectReason(String tag) {
        this.tag = tag;
    }

    String tag() {
        return tag;
    }
}
