package io.isthmus.controller.admin;

import static java.util.Objects.requireNonNull;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import io.isthmus.trust.ServiceAccountTokenVerifier;
import io.isthmus.trust.TokenRejectedException;
import io.isthmus.trust.VerifiedServiceAccount;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.URLDecoder;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Optional;
import java.util.Set;

/**
 * Who may read the controller's admin port: one scheme for the debug pages ({@code /debug/*}),
 * the federation API ({@code /federation/*}) and the dashboard ({@code /dashboard*}).
 *
 * <ul>
 *   <li>Bound to a loopback address: open (only processes on this machine can connect).
 *   <li>Bound beyond loopback (a routable address or the wildcard): every protected request must
 *       carry {@code Authorization: Bearer <credential>} (or, for a browser opening the dashboard,
 *       {@code ?token=<credential>}), where the credential is either the controller's admin token
 *       ({@code --admin-token}, shared by the controllers so they can ask each other), or a
 *       Kubernetes service-account token of a namespace in {@link #ADMIN_NAMESPACES} with the
 *       audience {@value #AUDIENCE}, verified with the same issuer keys as the CA's CSR endpoint
 *       (e.g. {@code kubectl create token istiod -n istio-system --audience isthmus-admin}).
 *       Missing or wrong: 401, with what was expected; counted in
 *       {@code isthmus_admin_auth_failures_total{reason}}.
 * </ul>
 * {@code /ready} and {@code /metrics} stay open: kubelet probes and Prometheus scrapes carry no
 * credentials, and neither reveals the mesh's topology. Immutable and thread-safe.
 */
public final class AdminAuth {

    /** The audience a service-account token must name to be accepted here. */
    public static final String AUDIENCE = "isthmus-admin";
    /** Namespaces whose service accounts may read the admin port: the mesh's own. */
    public static final Set<String> ADMIN_NAMESPACES = Set.of("istio-system");

    private static final String REALM = "Bearer realm=\"isthmus-admin\"";

    private final String bind;
    private final boolean open;
    private final Optional<String> token;
    private final Optional<ServiceAccountTokenVerifier> verifier;
    private final MeterRegistry registry;

    private AdminAuth(String bind, boolean open, Optional<String> token, Optional<ServiceAccountTokenVerifier> verifier,
            MeterRegistry registry) {
        this.bind = bind;
        this.open = open;
        this.token = token;
        this.verifier = verifier;
        this.registry = registry;
    }

    /**
     * @param bind     the address the admin port listens on
     * @param token    the shared admin token, if configured
     * @param verifier verifies service-account tokens with this cluster's issuer keys, if available
     * @throws IllegalArgumentException when the token is blank
     */
    public static AdminAuth of(String bind, Optional<String> token, Optional<ServiceAccountTokenVerifier> verifier,
            MeterRegistry registry) {
        requireNonNull(bind, "bind");
        requireNonNull(token, "token");
        requireNonNull(verifier, "verifier");
        requireNonNull(registry, "registry");
        if (token.isPresent() && token.get().isBlank()) {
            throw new IllegalArgumentException("--admin-token: blank (expected: a secret string, or leave it unset)");
        }
        return new AdminAuth(bind, isLoopback(bind), token, verifier, registry);
    }

    /** Whether {@code bind} is a loopback address (the wildcard {@code 0.0.0.0} is not). */
    public static boolean isLoopback(String bind) {
        try {
            return InetAddress.getByName(bind).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    /** Whether requests need credentials at all (the admin port is bound beyond loopback). */
    public boolean required() {
        return !open;
    }

    /** {@code handler}, behind this check. */
    public HttpHandler protect(HttpHandler handler) {
        requireNonNull(handler, "handler");
        if (open) {
            return handler;
        }
        return exchange -> {
            String refusal = refusal(exchange);
            if (refusal == null) {
                handler.handle(exchange);
                return;
            }
            try (exchange) {
                byte[] body = (refusal + "\n").getBytes(StandardCharsets.UTF_8);
                exchange.getResponseHeaders().set("WWW-Authenticate", REALM);
                exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
                exchange.sendResponseHeaders(401, body.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            } catch (IOException e) {
                // The client went away; nothing to tell it.
            }
        };
    }

    /** Why this request may not pass, or {@code null} when it may. */
    String refusal(HttpExchange exchange) {
        String given = bearer(exchange.getRequestHeaders().getFirst("Authorization"));
        if (given == null) {
            given = queryToken(exchange.getRequestURI().getRawQuery());
        }
        if (given == null) {
            return fail("missing", "missing credentials: the admin port is bound to " + bind + ", beyond loopback"
                    + " (expected: header 'Authorization: Bearer <token>' or ?token=<token>, with the controller's"
                    + " --admin-token or a service-account token of namespace " + String.join(",", ADMIN_NAMESPACES)
                    + " for audience " + AUDIENCE + ")");
        }
        if (token.isPresent() && MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8),
                token.get().getBytes(StandardCharsets.UTF_8))) {
            return null;
        }
        // A JWT has two dots; anything else was meant as the admin token.
        if (verifier.isPresent() && given.chars().filter(ch -> ch == '.').count() == 2) {
            try {
                VerifiedServiceAccount account = verifier.get().verify(given, AUDIENCE);
                if (ADMIN_NAMESPACES.contains(account.namespace())) {
                    return null;
                }
                return fail("forbidden_account", "service account " + account.namespace() + "/"
                        + account.serviceAccount() + " may not read the admin port (expected: one of namespace "
                        + String.join(",", ADMIN_NAMESPACES) + ")");
            } catch (TokenRejectedException e) {
                return fail("bad_token", "service-account token rejected: " + e.getMessage());
            }
        }
        return fail("wrong_token", token.isPresent()
                ? "wrong token (expected: the controller's --admin-token, or a service-account token for audience "
                        + AUDIENCE + ")"
                : "no --admin-token is configured on this controller (expected: a service-account token of namespace "
                        + String.join(",", ADMIN_NAMESPACES) + " for audience " + AUDIENCE
                        + ", or start it with --admin-token <secret>)");
    }

    private String fail(String reason, String message) {
        Counter.builder("isthmus_admin_auth_failures")
                .description("Requests to the controller's admin port refused for lack of valid credentials, by reason")
                .tag("reason", reason).register(registry).increment();
        return message;
    }

    private static String bearer(String header) {
        if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return null;
        }
        String value = header.substring(7).strip();
        return value.isEmpty() ? null : value;
    }

    private static String queryToken(String rawQuery) {
        if (rawQuery == null) {
            return null;
        }
        for (String pair : rawQuery.split("&")) {
            if (pair.startsWith("token=")) {
                String value = URLDecoder.decode(pair.substring(6), StandardCharsets.UTF_8);
                return value.isEmpty() ? null : value;
            }
        }
        return null;
    }
}
