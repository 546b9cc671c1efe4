package io.isthmus.controller.federation;

/**
 * A federation command could not be committed or was rejected. The message says which command,
 * why, and what the caller can do (for a timeout: the outcome is unknown and the caller should
 * resubmit, which is safe because every command assigns state rather than changing it
 * incrementally).
 */
public class FederationException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public FederationException(String message) {
        super(message);
    }

    public FederationException(String message, Throwable cause) {
        super(message, cause);
    }
}
