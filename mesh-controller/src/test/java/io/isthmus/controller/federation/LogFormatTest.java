package io.isthmus.controller.federation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

import io.isthmus.controller.config.ConfigResource;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.NetworkGateway;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServicePort;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Format 2 (binary) of commands and snapshots: round trips over random values of every command
 * type, canonical bytes, refusal of malformed input, and compatibility with format 1 (JSON) as
 * written by the code before format 2 existed (the checked-in fixture under
 * {@code src/test/resources/federation-v1/}, see its README).
 */
class LogFormatTest {

    private static final String[] CONFIG_KINDS = {"VirtualService", "DestinationRule", "Gateway", "ServiceEntry",
        "PeerAuthentication", "AuthorizationPolicy", "RequestAuthentication"};

    @Test
    void randomCommandsOfEveryTypeRoundTripInBothFormatsToCanonicalBytes() throws Exception {
        Random random = new Random(20261127);
        Set<Class<?>> seen = new HashSet<>();
        for (int i = 0; i < 350; i++) {
            FederationCommand command = randomCommand(random, i % 7);
            seen.add(command.getClass());
            for (int format : new int[] {CommandCodec.FORMAT_JSON, CommandCodec.FORMAT_BINARY}) {
                byte[] bytes = CommandCodec.encode(command, format);
                FederationCommand decoded = CommandCodec.decode(bytes);

                assertThat(decoded).as("format %d of %s", format, command).isEqualTo(command);
                assertThat(CommandCodec.encode(decoded, format)).as("re-encoded, format %d", format).isEqualTo(bytes);
            }
            assertThat(CommandCodec.encode(command)[0]).isEqualTo((byte) CommandCodec.FORMAT_BINARY);
        }
        assertThat(seen).hasSize(7);
    }

    @Test
    void equalValuesBuiltInAnotherOrderEncodeToTheSameBytes() {
        Random random = new Random(7);
        for (int i = 0; i < 100; i++) {
            Endpoint e = randomEndpoint(random, "east", "net1", "10.0.0." + i);
            Map<String, String> labels = new LinkedHashMap<>();
            List<String> keys = new ArrayList<>(e.labels().keySet());
            java.util.Collections.reverse(keys);
            keys.forEach(k -> labels.put(k, e.labels().get(k)));
            Endpoint reordered = new Endpoint(e.service(), e.address(), new HashMap<>(e.ports()), e.ready(),
                    e.locality(), e.cluster(), e.network(), e.serviceAccount(), e.workload(), labels);

            assertThat(CommandCodec.encode(new UpdateEndpoints("east", List.of(reordered), List.of())))
                    .isEqualTo(CommandCodec.encode(new UpdateEndpoints("east", List.of(e), List.of())));
        }
    }

    /** The log and snapshot written by the code before format 2: each entry gives the state hash it gave then. */
    @Test
    void aFormat1LogAndSnapshotFromThePreviousCodeDecodeToTheSameStateHashes() throws Exception {
        List<byte[]> entries = new ArrayList<>();
        try (DataInputStream in = new DataInputStream(resource("v1-log.bin"))) {
            while (in.available() > 0) {
                byte[] entry = new byte[in.readInt()];
                in.readFully(entry);
                entries.add(entry);
            }
        }
        List<String> hashes = new String(resource("v1-hashes.txt").readAllBytes(), StandardCharsets.US_ASCII)
                .lines().map(line -> line.split(" ")[1]).toList();
        assertThat(entries).hasSize(hashes.size()).hasSizeGreaterThan(10);

        FederationModel fromV1 = FederationModel.EMPTY;
        FederationModel fromV2 = FederationModel.EMPTY;
        int rejected = 0;
        for (int i = 0; i < entries.size(); i++) {
            byte[] v1 = entries.get(i);
            assertThat(v1[0]).isEqualTo((byte) '{');
            FederationModel.Result result = FederationStateMachine.transition(fromV1, v1, i + 1);
            rejected += result.rejected() ? 1 : 0;
            fromV1 = result.model();
            FederationCommand command = CommandCodec.decode(v1);
            // Format 1 as this code writes it is byte for byte what the previous code wrote.
            assertThat(CommandCodec.encode(command, CommandCodec.FORMAT_JSON)).isEqualTo(v1);
            fromV2 = FederationStateMachine.transition(fromV2, CommandCodec.encode(command, CommandCodec.FORMAT_BINARY),
                    i + 1).model();

            assertThat(FederationStateMachine.hash(fromV1)).as("hash after entry %d", i + 1).isEqualTo(hashes.get(i));
            assertThat(FederationStateMachine.hash(fromV2)).as("hash after entry %d in format 2", i + 1)
                    .isEqualTo(hashes.get(i));
        }
        assertThat(rejected).as("the fixture's last entry does not fit, on every replica alike").isEqualTo(1);
        assertThat(fromV1.state().clusterStates().get("east").endpoints()).isNotEmpty();

        byte[] snapshot = resource("v1-snapshot.json").readAllBytes();
        FederationModel loaded = CommandCodec.decodeSnapshot(snapshot);
        assertThat(loaded).isEqualTo(fromV1);
        assertThat(CommandCodec.encodeSnapshot(loaded, CommandCodec.FORMAT_JSON)).isEqualTo(snapshot);
        byte[] binary = CommandCodec.encodeSnapshot(loaded);
        assertThat(binary[0]).isEqualTo((byte) 2);
        assertThat(binary.length).isLessThan(snapshot.length / 2);
        assertThat(FederationStateMachine.hash(CommandCodec.decodeSnapshot(binary))).isEqualTo(hashes.get(hashes.size() - 1));
    }

    @Test
    void aBinarySnapshotOfManyEndpointsIsSmallAndRoundTrips() {
        FederationModel model = FederationModel.EMPTY;
        long index = 0;
        for (String cluster : List.of("east", "west")) {
            model = model.apply(Fixtures.register(cluster, "net1"), ++index).model();
            model = model.apply(Fixtures.publish(cluster, "net1", 2000), ++index).model();
        }
        byte[] json = CommandCodec.encodeSnapshot(model, CommandCodec.FORMAT_JSON);
        byte[] binary = CommandCodec.encodeSnapshot(model, CommandCodec.FORMAT_BINARY);

        assertThat(CommandCodec.decodeSnapshot(binary)).isEqualTo(model);
        assertThat(binary.length).as("binary %d bytes vs JSON %d", binary.length, json.length)
                .isLessThan(json.length / 5);
    }

    @Test
    void truncatedOrCorruptedBinaryCommandsAreRefusedNeverMisread() throws Exception {
        Random random = new Random(11);
        List<FederationCommand> commands = new ArrayList<>();
        // Every type but the trust roots, whose X.509 parsing would make each of the thousands of decodes slow.
        for (int type : new int[] {0, 1, 3, 4, 5, 1, 5}) {
            commands.add(randomCommand(random, type));
        }
        byte[] batch = CommandCodec.encode(new ApplyBatch(commands));
        for (int length = 0; length < batch.length; length++) {
            byte[] truncated = Arrays.copyOf(batch, length);
            assertThatThrownBy(() -> CommandCodec.decode(truncated))
                    .as("truncated to %d of %d bytes", length, batch.length)
                    .isInstanceOf(CommandCodec.MalformedCommandException.class);
        }
        byte[] trailing = Arrays.copyOf(batch, batch.length + 1);
        assertThatThrownBy(() -> CommandCodec.decode(trailing))
                .isInstanceOf(CommandCodec.MalformedCommandException.class)
                .hasMessageContaining("1 trailing bytes");
        for (int i = 0; i < 2000; i++) {
            byte[] corrupted = batch.clone();
            corrupted[random.nextInt(corrupted.length)] = (byte) random.nextInt(256);
            try {
                assertThat(CommandCodec.decode(corrupted)).isInstanceOf(ApplyBatch.class);
            } catch (CommandCodec.MalformedCommandException expected) {
                assertThat(expected.getMessage()).isNotBlank();
            } catch (RuntimeException e) {
                fail("a corrupted batch must decode or be refused as malformed, not throw " + e, e);
            }
        }
    }

    @Test
    void malformedBinaryCommandsNameWhatIsWrong() {
        byte[] remove = CommandCodec.encode(new RemoveCluster("east"));
        byte[] badType = remove.clone();
        badType[1] = 42;
        assertThatThrownBy(() -> CommandCodec.decode(badType)).hasMessageContaining("command type byte 42");
        byte[] badReference = {2, BinaryCodec.TYPE_REMOVE_CLUSTER, 3 << 1 | 1};
        assertThatThrownBy(() -> CommandCodec.decode(badReference)).hasMessageContaining("string reference 3");
        byte[] empty = {2, BinaryCodec.TYPE_REMOVE_CLUSTER, 0};
        assertThatThrownBy(() -> CommandCodec.decode(empty))
                .hasMessageContaining("command 'remove-cluster' is invalid")
                .hasMessageContaining("expected: a non-empty cluster name");
        byte[] nested = CommandCodec.encodeBatch(List.of(remove));
        byte[] doubled = new byte[6 + 4 + nested.length];
        System.arraycopy(new byte[] {2, BinaryCodec.TYPE_APPLY_BATCH, 0, 0, 0, 1}, 0, doubled, 0, 6);
        doubled[9] = (byte) nested.length;
        System.arraycopy(nested, 0, doubled, 10, nested.length);
        assertThatThrownBy(() -> CommandCodec.decode(doubled))
                .hasMessageContaining("command 'apply-batch', element 0:")
                .hasMessageContaining("command 'apply-batch' nested in a batch");
        byte[] snapshot = CommandCodec.encodeSnapshot(FederationModel.EMPTY);
        assertThatThrownBy(() -> CommandCodec.decode(snapshot)).hasMessageContaining("command type byte 83");
        assertThatThrownBy(() -> CommandCodec.decodeSnapshot(remove))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("snapshot header 2,4");
    }

    @Test
    void theLogFormatIsATuningKey() {
        assertThat(RaftTuning.DEFAULT.logFormat()).isEqualTo(CommandCodec.FORMAT_BINARY);
        assertThat(RaftTuning.DEFAULT.withOverrides(Map.of("log-format", "1")).logFormat()).isEqualTo(1);
        assertThatThrownBy(() -> RaftTuning.DEFAULT.withOverrides(Map.of("log-format", "3")))
                .hasMessageContaining("logFormat: 3 (expected: 2 (binary, the default) or 1 (JSON");
    }

    // ---- random values: every component, unicode (including supplementary characters), empty lists and maps

    static FederationCommand randomCommand(Random random, int type) {
        String cluster = nonEmpty(random);
        String network = text(random);
        return switch (type) {
            case 0 -> new RegisterCluster(new ClusterInfo(cluster, network, locality(random), text(random)));
            case 1 -> {
                List<MeshService> services = new ArrayList<>();
                for (int i = random.nextInt(3); i > 0; i--) {
                    services.add(new MeshService(serviceKey(random), text(random), ports(random), map(random),
                            new HashSet<>(strings(random)), random.nextBoolean(), random.nextBoolean(),
                            strings(random)));
                }
                List<Endpoint> endpoints = new ArrayList<>();
                for (int i = random.nextInt(4); i > 0; i--) {
                    endpoints.add(randomEndpoint(random, cluster, network, "10.1.0." + i));
                }
                List<NetworkGateway> gateways = new ArrayList<>();
                for (int i = random.nextInt(3); i > 0; i--) {
                    gateways.add(new NetworkGateway(text(random), cluster, text(random), 1 + random.nextInt(65535)));
                }
                yield new PublishClusterState(new ClusterState(cluster, network, services, endpoints, gateways));
            }
            case 2 -> new PublishTrustRoots(cluster, switch (random.nextInt(3)) {
                case 0 -> List.<String>of();
                case 1 -> List.of(Fixtures.ROOT_B);
                default -> List.of(Fixtures.ROOT_A, Fixtures.ROOT_B);
            });
            case 3 -> new RemoveCluster(cluster);
            case 4 -> {
                List<ConfigResource> resources = new ArrayList<>();
                for (int i = random.nextInt(3); i > 0; i--) {
                    resources.add(new ConfigResource(CONFIG_KINDS[random.nextInt(CONFIG_KINDS.length)], text(random),
                            text(random), nonEmpty(random) + i, text(random), "{\"x\":\"" + text(random) + "\"}"));
                }
                yield new PublishMeshConfig(cluster, resources);
            }
            case 5 -> {
                List<Endpoint> upserted = new ArrayList<>();
                for (int i = random.nextInt(4); i > 0; i--) {
                    upserted.add(randomEndpoint(random, cluster, network, "10.2.0." + i));
                }
                List<UpdateEndpoints.EndpointRef> removed = new ArrayList<>();
                for (int i = random.nextInt(3); i > 0; i--) {
                    removed.add(new UpdateEndpoints.EndpointRef(serviceKey(random), "10.3.0." + i));
                }
                yield new UpdateEndpoints(cluster, upserted, removed);
            }
            default -> {
                List<FederationCommand> commands = new ArrayList<>();
                for (int i = 1 + random.nextInt(4); i > 0; i--) {
                    commands.add(randomCommand(random, random.nextInt(6)));
                }
                yield new ApplyBatch(commands);
            }
        };
    }

    static Endpoint randomEndpoint(Random random, String cluster, String network, String address) {
        Map<String, Integer> ports = new HashMap<>();
        for (int i = random.nextInt(3); i > 0; i--) {
            ports.put(text(random) + i, random.nextInt() >> random.nextInt(32));
        }
        return new Endpoint(serviceKey(random), address, ports, random.nextBoolean(), locality(random), cluster, network,
                text(random), text(random), map(random));
    }

    private static List<ServicePort> ports(Random random) {
        List<ServicePort> ports = new ArrayList<>();
        for (int i = random.nextInt(3); i > 0; i--) {
            ports.add(new ServicePort(text(random), 1 + random.nextInt(65535), 1 + random.nextInt(65535), text(random)));
        }
        return ports;
    }

    private static ServiceKey serviceKey(Random random) {
        return new ServiceKey(nonEmpty(random), nonEmpty(random));
    }

    private static Locality locality(Random random) {
        return new Locality(text(random).replace("/", ""), text(random).replace("/", ""), text(random).replace("/", ""));
    }

    private static Map<String, String> map(Random random) {
        Map<String, String> map = new HashMap<>();
        for (int i = random.nextInt(4); i > 0; i--) {
            map.put(text(random) + i, text(random));
        }
        return map;
    }

    private static List<String> strings(Random random) {
        Set<String> strings = new HashSet<>();
        for (int i = random.nextInt(4); i > 0; i--) {
            strings.add(text(random));
        }
        return new ArrayList<>(strings);
    }

    private static String nonEmpty(Random random) {
        return "c" + text(random);
    }

    /** Empty, ASCII, Latin-1, CJK, emoji (a surrogate pair) and repeats (the string table) mixed. */
    private static String text(Random random) {
        String[] pieces = {"", "east", "net1", "a/b", "é", "東京", "\uD83D\uDE80", "\"\\", "\n\t", "x".repeat(200)};
        StringBuilder s = new StringBuilder();
        for (int i = random.nextInt(4); i > 0; i--) {
            s.append(pieces[random.nextInt(pieces.length)]);
            if (random.nextInt(3) == 0) {
                s.appendCodePoint(0x20 + random.nextInt(0x2FFF));
            }
        }
        return s.toString();
    }

    private static InputStream resource(String name) throws IOException {
        InputStream in = LogFormatTest.class.getResourceAsStream("/federation-v1/" + name);
        if (in == null) {
            throw new IOException("test resource federation-v1/" + name + " is missing");
        }
        return in;
    }
}
