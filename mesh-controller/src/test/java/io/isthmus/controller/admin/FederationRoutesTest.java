package io.isthmus.controller.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.sun.net.httpserver.HttpServer;
import io.isthmus.controller.federation.FederationNode;
import io.isthmus.controller.federation.FederationOptions;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The {@code /federation} admin API over real HTTP against a real two-then-three-peer Ratis group. */
class FederationRoutesTest {

    static {
        System.setProperty("org.slf4j.simpleLogger.log.org.apache.ratis", "warn");
    }

    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    @TempDir
    Path dir;

    private final List<FederationNode> nodes = new ArrayList<>();
    private HttpServer http;
    private final HttpClient client = HttpClient.newHttpClient();

    @AfterEach
    void close() {
        if (http != null) {
            http.stop(0);
        }
        nodes.forEach(FederationNode::close);
    }

    @Test
    void membersAreAddedAndRemovedThroughTheAdminApi() throws Exception {
        Map<String, InetSocketAddress> peers = new LinkedHashMap<>();
        peers.put("east", loopback());
        peers.put("west", loopback());
        for (String id : peers.keySet()) {
            nodes.add(FederationNode.start(options(id, peers)));
        }
        FederationNode east = nodes.get(0);
        await().atMost(WAIT).until(() -> nodes.stream().allMatch(FederationNode::hasLeader));
        http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 8);
        http.createContext("/federation", new FederationRoutes(east, () -> List.of("VirtualService x/y from eu lost")));
        http.start();

        JsonNode status = json(send("GET", "/federation/status", null), 200);
        assertThat(status.at("/status/members").toString()).isEqualTo("[\"east\",\"west\"]");
        assertThat(status.at("/status/leaderId").isString()).isTrue();
        assertThat(status.at("/status/stateHash").stringValue()).hasSize(64);
        assertThat(status.at("/status/memberAddresses/west").stringValue())
                .isEqualTo("127.0.0.1:" + peers.get("west").getPort());
        assertThat(status.at("/configConflicts/0").stringValue()).contains("lost");

        InetSocketAddress euAddress = loopback();
        Map<String, InetSocketAddress> euPeers = Map.of("eu", euAddress, "east", peers.get("east"));
        FederationNode eu = FederationNode.start(options("eu", euPeers).joining());
        nodes.add(eu);
        JsonNode added = json(send("POST", "/federation/members",
                "{\"id\":\"eu\",\"address\":\"127.0.0.1:" + euAddress.getPort() + "\"}"), 200);
        assertThat(added.get("members").toString()).isEqualTo("[\"east\",\"eu\",\"west\"]");
        await().atMost(WAIT).untilAsserted(() -> {
            assertThat(eu.status().members()).containsExactly("east", "eu", "west");
            assertThat(eu.hasLeader()).isTrue();
        });

        // Bad requests name what was expected; a conflicting address is 409.
        assertThat(json(send("POST", "/federation/members", "{\"id\":\"eu\"}"), 400).get("error").stringValue())
                .contains("expected: {\"id\":\"<cluster>\",\"address\":\"<host>:<raftPort>\"}");
        assertThat(json(send("POST", "/federation/members", "{\"id\":\"eu\",\"address\":\"127.0.0.1:99999\"}"), 400)
                .get("error").stringValue()).contains("port 99999 (expected: 1-65535)");
        assertThat(json(send("POST", "/federation/members", "{\"id\":\"eu\",\"address\":\"127.0.0.1:1\"}"), 409)
                .get("error").stringValue()).contains("already in the group");
        assertThat(json(send("PUT", "/federation/members", "{}"), 405).get("error").stringValue())
                .contains("expected: POST");
        assertThat(json(send("DELETE", "/federation/members/Bad_Name", null), 400).get("error").stringValue())
                .contains("lowercase DNS label");

        JsonNode removed = json(send("DELETE", "/federation/members/west", null), 200);
        assertThat(removed.get("members").toString()).isEqualTo("[\"east\",\"eu\"]");
        await().atMost(WAIT).untilAsserted(() ->
                assertThat(json(send("GET", "/federation/status", null), 200).at("/status/members").toString())
                        .isEqualTo("[\"east\",\"eu\"]"));
    }

    private FederationOptions options(String id, Map<String, InetSocketAddress> peers) {
        return new FederationOptions(id, peers, dir.resolve(id), Duration.ofMillis(1000), Duration.ofMillis(1500),
                Duration.ofSeconds(8), FederationOptions.DEFAULT_SNAPSHOT_THRESHOLD,
                FederationOptions.DEFAULT_LOG_SEGMENT_SIZE_BYTES);
    }

    private HttpResponse<String> send(String method, String path, String body) throws Exception {
        HttpRequest.BodyPublisher publisher = body == null ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString(body);
        return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + http.getAddress().getPort() + path))
                .method(method, publisher).timeout(WAIT).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static JsonNode json(HttpResponse<String> response, int status) {
        assertThat(response.statusCode()).as(response.body()).isEqualTo(status);
        return JSON.readTree(response.body());
    }

    private static InetSocketAddress loopback() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return new InetSocketAddress("127.0.0.1", socket.getLocalPort());
        }
    }
}
