package io.isthmus.topologies;

import static java.util.Objects.requireNonNull;

/** One verification of a running mesh, passed or not, with what was seen. */
public record Check(String name, boolean passed, String detail) {

    public Check {
        requireNonNull(name, "name");
        requireNonNull(detail, "detail");
    }

    /** {@code PASS name — detail}, as {@code meshctl demo --verify} prints it. */
    public String line() {
        return (passed ? "PASS  " : "FAIL  ") + name + (detail.isEmpty() ? "" : " — " + detail);
    }
}
