package io.isthmus.trust;

import static java.util.Objects.requireNonNull;

/**
 * Istio {@code cacerts} material that cannot be used. The message starts with the file at fault
 * ({@code ca-cert.pem}, {@code ca-key.pem}, {@code root-cert.pem} or {@code cert-chain.pem}) and
 * says why, so an operator can fix the Secret.
 */
public final class InvalidCacertsException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final String file;

    public InvalidCacertsException(String file, String reason) {
        this(file, reason, null);
    }

    public InvalidCacertsException(String file, String reason, Throwable cause) {
        super(requireNonNull(file, "file") + ": " + requireNonNull(reason, "reason"), cause);
        this.file = file;
    }

    /** The cacerts file at fault. */
    public String file() {
        return file;
    }
}
