package io.isthmus.controller.translate;

import static java.util.Objects.requireNonNull;

import java.util.Locale;

/**
 * Two services that want one outbound listener (one address and port), and how translation
 * settled it, as Istio's pilot reports its {@code pilot_conflict_outbound_listener_*} conflicts.
 *
 * @param listener   the listener's name, {@code <address>_<port>}
 * @param type       Istio's metric suffix: {@code tcp_over_current_tcp},
 *                   {@code tcp_over_current_http} or {@code http_over_current_tcp} (HTTP is
 *                   HTTP-only; an auto-detected port counts as TCP)
 * @param current    the service that holds the listener, {@code <host>:<port> (<protocol>)}
 * @param incoming   the service that came second, likewise
 * @param resolution what was done: {@code merged: ...} (both are served) or
 *                   {@code rejected: ...} (the incoming one gets no chain here)
 */
public record ListenerConflict(String listener, String type, String current, String incoming, String resolution) {

    public ListenerConflict {
        requireNonNull(listener, "listener");
        requireNonNull(type, "type");
        requireNonNull(current, "current");
        requireNonNull(incoming, "incoming");
        requireNonNull(resolution, "resolution");
    }

    static ListenerConflict of(String listener, OutboundListeners.PortUse current, OutboundListeners.PortUse incoming,
            String resolution) {
        return new ListenerConflict(listener, typeOf(incoming) + "_over_current_" + typeOf(current),
                describe(current), describe(incoming), resolution);
    }

    private static String typeOf(OutboundListeners.PortUse use) {
        return OutboundListeners.kindOf(use.port()).orElse(OutboundListeners.Kind.TCP) == OutboundListeners.Kind.HTTP
                ? "http" : "tcp";
    }

    private static String describe(OutboundListeners.PortUse use) {
        return use.host() + ':' + use.port().port() + " (" + use.port().protocol().toUpperCase(Locale.ROOT) + ')';
    }

    /** One line for a log or a status page. */
    public String describe() {
        return "listener " + listener + ": " + incoming + " after " + current + ", " + resolution + " (" + type + ")";
    }
}
