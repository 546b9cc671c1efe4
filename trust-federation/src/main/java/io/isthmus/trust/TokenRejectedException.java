package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

/**
 * A service-account token that does not prove an identity. {@link #reason()} is a short, stable
 * label for metrics ({@code oversized}, {@code malformed}, {@code unsupported_alg},
 * {@code unknown_key}, {@code bad_signature}, {@code wrong_issuer}, {@code expired},
 * {@code not_yet_valid}, {@code wrong_audience}, {@code bad_claims}); the message says exactly why.
 */
public final class TokenRejectedException extends Exception {

    private static final long serialVersionUID = 1L;

    private final String reason;

    public TokenRejectedException(String reason, String message) {
        this(reason, message, null);
    }

    public TokenRejectedException(String reason, String message, Throwable cause) {
        super(requireNonNull(message, "message"), cause);
        this.reason = requireNonNull(reason, "reason");
    }

    public String reason() {
        return reason;
    }
}
