package io.isthmus.topologies;

/**
 * A topology file or value that cannot be used, with a message that names the offending field
 * (for example {@code workloads[1].cluster}) and says how to fix it.
 */
public final class TopologyException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public TopologyException(String message) {
        super(message);
    }

    public TopologyException(String message, Throwable cause) {
        super(message, cause);
    }
}
