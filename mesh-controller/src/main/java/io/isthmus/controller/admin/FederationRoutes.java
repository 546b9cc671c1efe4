package io.isthmus.controller.admin;

import static java.util.Objects.requireNonNull;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import io.isthmus.controller.federation.FederationException;
import io.isthmus.controller.federation.FederationNode;
import io.isthmus.controller.federation.FederationStatus;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The federation's admin API under {@code /federation} (the contract {@code meshctl cluster
 * join} relies on; see {@code docs/design/contracts.md}):
 * <ul>
 *   <li>{@code GET /federation/status} — this peer's {@link FederationStatus} (members and their
 *       Raft addresses, leader, term, commit/applied index, stale flag, state hash, per-cluster
 *       age of the last update) plus {@code configConflicts}, the mesh configuration objects
 *       that lost to an older one of the same kind/namespace/name
 *   <li>{@code POST /federation/members} with {@code {"id":"<cluster>","address":"<host>:<raftPort>"}}
 *       — adds a peer (Ratis setConfiguration); 200 {@code {"members":[...]}} once committed
 *   <li>{@code DELETE /federation/members/<id>} — removes a peer; 200 {@code {"members":[...]}}
 * </ul>
 * Errors: 400 malformed request (the body says what was expected), 404 unknown path, 405 wrong
 * method, 409 the id is a member at another address, 503 the group could not commit the change
 * (no quorum, joining peer unreachable). Membership calls block one admin thread until Ratis
 * commits the new configuration.
 */
public final class FederationRoutes implements HttpHandler {

    private static final Logger log = LoggerFactory.getLogger(FederationRoutes.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Pattern ID = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");

    private final FederationNode federation;
    private final Supplier<List<String>> configConflicts;

    public FederationRoutes(FederationNode federation, Supplier<List<String>> configConflicts) {
        this.federation = requireNonNull(federation, "federation");
        this.configConflicts = requireNonNull(configConflicts, "configConflicts");
    }

    @Override
    public void handle(HttpExchange exchange) throws IOException {
        String path = exchange.getRequestURI().getPath();
        String method = exchange.getRequestMethod();
        if (path.equals("/federation/status")) {
            if (!method.equals("GET")) {
                error(exchange, 405, method + " " + path + " (expected: GET)");
                return;
            }
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("status", federation.status());
            doc.put("configConflicts", configConflicts.get());
            json(exchange, 200, doc);
        } else if (path.equals("/federation/members")) {
            if (!method.equals("POST")) {
                error(exchange, 405, method + " " + path + " (expected: POST with {\"id\":..,\"address\":..})");
                return;
            }
            add(exchange);
        } else if (path.startsWith("/federation/members/")) {
            if (!method.equals("DELETE")) {
                error(exchange, 405, method + " " + path + " (expected: DELETE)");
                return;
            }
            String id = path.substring("/federation/members/".length());
            if (!ID.matcher(id).matches()) {
                error(exchange, 400, "member id: '" + id + "' (expected: a cluster name, lowercase DNS label)");
                return;
            }
            change(exchange, () -> federation.removeMember(id));
        } else {
            error(exchange, 404, "no federation route " + path
                    + " (expected: /federation/status, /federation/members, /federation/members/<id>)");
        }
    }

    private void add(HttpExchange exchange) throws IOException {
        JsonNode body;
        try (InputStream in = exchange.getRequestBody()) {
            body = JSON.readTree(in.readNBytes(64 * 1024));
        } catch (JacksonException e) {
            error(exchange, 400, "body is not JSON (expected: {\"id\":\"<cluster>\",\"address\":\"<host>:<raftPort>\"}): "
                    + e.getOriginalMessage());
            return;
        }
        JsonNode idNode = body == null ? null : body.get("id");
        JsonNode addressNode = body == null ? null : body.get("address");
        if (idNode == null || !idNode.isString() || addressNode == null || !addressNode.isString()) {
            error(exchange, 400, "body: " + body + " (expected: {\"id\":\"<cluster>\",\"address\":\"<host>:<raftPort>\"})");
            return;
        }
        String id = idNode.stringValue();
        if (!ID.matcher(id).matches()) {
            error(exchange, 400, "id: '" + id + "' (expected: a cluster name, lowercase DNS label)");
            return;
        }
        InetSocketAddress address;
        try {
            address = parseAddress(addressNode.stringValue());
        } catch (IllegalArgumentException e) {
            error(exchange, 400, e.getMessage());
            return;
        }
        String wanted = address.getHostString() + ':' + address.getPort();
        String existing = federation.status().memberAddresses().get(id);
        if (existing != null && !existing.equals(wanted)) {
            error(exchange, 409, "member '" + id + "' is already in the group at " + existing + " (expected: "
                    + wanted + "); DELETE /federation/members/" + id + " first to move it");
            return;
        }
        change(exchange, () -> federation.addMember(id, address));
    }

    static InetSocketAddress parseAddress(String value) {
        int colon = value.lastIndexOf(':');
        if (colon <= 0 || colon == value.length() - 1) {
            throw new IllegalArgumentException("address: '" + value + "' (expected: <host>:<raftPort>)");
        }
        int port;
        try {
            port = Integer.parseInt(value.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("address: '" + value + "' has a bad port (expected: 1-65535)");
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("address: '" + value + "' has port " + port + " (expected: 1-65535)");
        }
        return InetSocketAddress.createUnresolved(value.substring(0, colon), port);
    }

    private void change(HttpExchange exchange, Supplier<List<String>> change) throws IOException {
        List<String> members;
        try {
            members = change.get();
        } catch (FederationException e) {
            log.warn("federation membership change failed: {}", e.getMessage());
            error(exchange, e.getMessage().contains("last member") ? 400 : 503, e.getMessage());
            return;
        }
        json(exchange, 200, Map.of("members", members));
    }

    private static void error(HttpExchange exchange, int status, String message) throws IOException {
        json(exchange, status, Map.of("error", message));
    }

    private static void json(HttpExchange exchange, int status, Object value) throws IOException {
        byte[] bytes = (JSON.writerWithDefaultPrettyPrinter().writeValueAsString(value) + "\n")
                .getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }
}
