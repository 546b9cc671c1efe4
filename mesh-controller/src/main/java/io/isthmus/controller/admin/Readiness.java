package io.isthmus.controller.admin;

import java.util.List;

/**
 * Whether the controller is ready, and if not, every reason why not (so {@code /ready} tells an
 * operator what to look at).
 */
public record Readiness(boolean ready, List<String> waitingFor) {

    public Readiness {
        waitingFor = List.copyOf(waitingFor);
        if (ready && !waitingFor.isEmpty()) {
            throw new IllegalArgumentException("ready with waitingFor " + waitingFor + " (expected: none)");
        }
    }

    public static Readiness of(List<String> waitingFor) {
        return new Readiness(waitingFor.isEmpty(), waitingFor);
    }
}
