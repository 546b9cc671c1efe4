package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

/**
 * A certificate signing request the CA refuses to sign. {@link #reason()} is a short, stable,
 * low-cardinality label for metrics ({@code oversized}, {@code malformed}, {@code bad_signature},
 * {@code unsupported_key}, {@code invalid_ttl}); the message is precise and meant for the caller.
 */
public final class CsrRejectedException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final String reason;

    public CsrRejectedException(String reason, String message) {
        this(reason, message, null);
    }

    public CsrRejectedException(String reason, String message, Throwable cause) {
        super(requireNonNull(message, "message"), cause);
        this.reason = requireNonNull(reason, "reason");
    }

    public String reason() {
        return reason;
    }
}
