package io.isthmus.controller.translate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.Message;
import com.sun.net.httpserver.HttpServer;
import io.isthmus.proxy.ProxyOptions;
import io.isthmus.proxy.Sidecar;
import io.isthmus.proxy.StaticBootstrap;
import io.isthmus.proxy.xds.XdsStaticConfig;
import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.Pem;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.WorkloadCertificate;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the controller translates for a Sidecar's explicit egress listener ({@code captureMode:
 * NONE}) holding a ServiceEntry host, served by a real sidecar on loopback: the app dials
 * {@code bind:port} and reaches the ServiceEntry's endpoint; a host that the listener does not
 * import, though the proxy imports it on the same port through another egress listener, is not
 * routed there (404), as pilot builds the listener's route configuration from its own hosts.
 * Loopback addresses 127.228.5.x; the egress port is a free port found at run time.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ExplicitEgressSidecarTest {

    private static final String BIND = "127.228.5.1";
    private static final String UPSTREAM = "127.228.5.2";
    private static final String POD_IP = "127.228.5.3";
    private static final String LOCALHOST = "127.228.5.4";

    @TempDir
    static Path dir;

    private java.nio.channels.SocketChannel reserved;
    private HttpServer api;
    private Sidecar sidecar;
    private int port;

    @BeforeAll
    void start() throws Exception {
        api = HttpServer.create(new InetSocketAddress(UPSTREAM, 0), 16);
        api.createContext("/", exchange -> {
            byte[] body = ("api saw host " + exchange.getRequestHeaders().getFirst("Host") + "\n")
                    .getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        api.start();
        // Held (bound, SO_REUSEADDR, never listening) until the sidecar listens on it: no port-0 bind
        // or outgoing connection can take it meanwhile, and the sidecar's listener still binds it.
        reserved = java.nio.channels.SocketChannel.open();
        reserved.setOption(java.net.StandardSocketOptions.SO_REUSEADDR, true);
        reserved.bind(new InetSocketAddress(InetAddress.getByName(BIND), 0));
        port = ((InetSocketAddress) reserved.getLocalAddress()).getPort();
        String yaml = """
                apiVersion: networking.istio.io/v1
                kind: Sidecar
                metadata: {name: default, namespace: sample}
                spec:
                  egress:
                  - {port: {number: %1$d, protocol: HTTP, name: http}, bind: %2$s, captureMode: NONE,
                     hosts: [./api.example.com]}
                  - {hosts: [./other.example.com]}
                ---
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: api, namespace: sample}
                spec:
                  hosts: [api.example.com]
                  location: MESH_EXTERNAL
                  resolution: STATIC
                  ports: [{number: %1$d, name: http, protocol: HTTP, targetPort: %3$d}]
                  endpoints: [{address: %4$s}]
                ---
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata: {name: other, namespace: sample}
                spec:
                  hosts: [other.example.com]
                  location: MESH_EXTERNAL
                  resolution: STATIC
                  ports: [{number: %1$d, name: http, protocol: HTTP, targetPort: %3$d}]
                  endpoints: [{address: %4$s}]
                """.formatted(port, BIND, api.getAddress().getPort(), UPSTREAM);
        ProxyResources r = PolicyFixture.translate(MeshFixture.westCurlSidecar(), yaml);
        // What the explicit listener needs: its own listener, the routes and the clusters (the
        // captured and inbound listeners would bind the fixture's pod address).
        List<Message> resources = new ArrayList<>();
        resources.addAll(r.clusters());
        resources.addAll(r.endpoints());
        resources.addAll(r.routes());
        r.listeners().stream().filter(l -> l.hasBindToPort() && l.getBindToPort().getValue())
                .forEach(resources::add);
        Path config = Files.writeString(dir.resolve("pod.json"), XdsStaticConfig.render(resources));

        CertificateAuthority root = CertificateAuthority.createRoot("explicit egress test", Duration.ofDays(1));
        CertificateAuthority west = root.createIntermediate("west", Duration.ofDays(1));
        WorkloadCertificate cert = west.issue(SpiffeId.of("cluster.local", "sample", "curl"), List.of(),
                Duration.ofHours(1));
        Path rootFile = Files.writeString(dir.resolve("root.pem"), Pem.encodeCertificate(root.certificate()));
        Path chain = Files.writeString(dir.resolve("chain.pem"), cert.chainPem());
        Path key = Files.writeString(dir.resolve("key.pem"), Pem.encodePrivateKey(cert.privateKey()));
        ProxyOptions options = new ProxyOptions("sidecar", POD_IP, LOCALHOST, "curl-west-1", "sample", "curl",
                "west", "net1", "us-west/us-west-1a/", Map.of("app", "curl"), "127.0.0.1:1", rootFile,
                dir.resolve("no-token"), Duration.ofHours(1), "cluster.local", true, 0, 0, 0);
        sidecar = Sidecar.startStatic(options, new StaticBootstrap(config, chain, key));
        await().atMost(Duration.ofSeconds(30))
                .until(() -> sidecar.explicitOutboundAddresses().contains(BIND + ":" + port));
    }

    @AfterAll
    void stop() {
        if (sidecar != null) {
            sidecar.close();
        }
        if (api != null) {
            api.stop(0);
        }
        if (reserved != null) {
            try {
                reserved.close();
            } catch (IOException ignored) {
                // closing a socket that never listened
            }
        }
    }

    @Test
    void theListenersServiceEntryHostIsReachedOnItsBindAndPort() throws IOException {
        assertThat(get("api.example.com")).startsWith("HTTP/1.1 200").contains("api saw host api.example.com");
    }

    @Test
    void aHostImportedOnTheSamePortByAnotherEgressListenerIsNotRoutedThere() throws IOException {
        assertThat(get("other.example.com")).startsWith("HTTP/1.1 404");
    }

    private String get(String host) throws IOException {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(BIND, port), 5000);
            socket.setSoTimeout(20_000);
            socket.getOutputStream().write(("GET / HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            return new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
