package io.isthmus.controller.federation;

import static io.isthmus.controller.federation.Fixtures.ROOT_A;
import static io.isthmus.controller.federation.Fixtures.register;
import static io.isthmus.controller.federation.Fixtures.state;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.ServiceKey;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The batch command: codec, validation, atomic apply, and equality with applying its commands one by one. */
class ApplyBatchTest {

    private static final ClusterState BASE = state("east", "net1", 40);

    private static FederationModel published() {
        FederationModel model = FederationModel.EMPTY;
        model = model.apply(register("east", "net1"), 1).model();
        model = model.apply(register("west", "net2"), 2).model();
        model = model.apply(new PublishClusterState(BASE), 3).model();
        return model.apply(new PublishClusterState(state("west", "net2", 5)), 4).model();
    }

    private static Endpoint endpoint(int i, String version) {
        Endpoint template = BASE.endpoints().get(0);
        return new Endpoint(template.service(), "127.0.2." + i, template.ports(), i % 3 != 0, template.locality(),
                "east", "net1", template.serviceAccount(), "w-" + i, Map.of("app", "helloworld", "version", version));
    }

    /** Random endpoint churn on a small address space, so deltas overwrite and remove each other's endpoints. */
    private static List<FederationCommand> randomDeltas(Random random, int count) {
        List<FederationCommand> commands = new ArrayList<>();
        for (int c = 0; c < count; c++) {
            List<Endpoint> upserted = new ArrayList<>();
            List<UpdateEndpoints.EndpointRef> removed = new ArrayList<>();
            List<Integer> addresses = new ArrayList<>();
            for (int i = 0; i < 30; i++) {
                addresses.add(i);
            }
            Collections.shuffle(addresses, random);
            for (int k = 0; k < 1 + random.nextInt(4); k++) {
                int address = addresses.get(k);
                if (random.nextInt(3) == 0) {
                    removed.add(new UpdateEndpoints.EndpointRef(Fixtures.HELLOWORLD, "127.0.2." + address));
                } else {
                    upserted.add(endpoint(address, "v" + random.nextInt(5)));
                }
            }
            commands.add(new UpdateEndpoints("east", upserted, removed));
            if (random.nextInt(10) == 0) {
                // Other commands between deltas end a run of one cluster's deltas.
                commands.add(new PublishTrustRoots("west", random.nextBoolean() ? List.of(ROOT_A) : List.of()));
            }
        }
        return commands;
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 7, 42})
    void aBatchAppliesToTheSameStateAndHashAsItsCommandsOneByOne(int seed) {
        List<FederationCommand> commands = randomDeltas(new Random(seed), 60);
        FederationModel sequential = published();
        for (FederationCommand command : commands) {
            FederationModel.Result result = sequential.apply(command, 5);
            assertThat(result.rejected()).as("%s", result.rejectMessage()).isFalse();
            sequential = result.model();
        }

        FederationModel.Result batched = published().apply(new ApplyBatch(commands), 5);

        assertThat(batched.rejected()).isFalse();
        assertThat(batched.model().state()).isEqualTo(sequential.state());
        assertThat(FederationStateMachine.hash(batched.model())).isEqualTo(FederationStateMachine.hash(sequential));
        // Deterministic: the same batch from a decoded log entry gives the same bytes and state again.
        FederationModel.Result replayed = FederationStateMachine.transition(published(),
                CommandCodec.encode(new ApplyBatch(commands)), 5);
        assertThat(FederationStateMachine.hash(replayed.model())).isEqualTo(FederationStateMachine.hash(sequential));
    }

    @Test
    void aCommandThatDoesNotFitRejectsTheWholeBatchAndNothingOfItIsApplied() {
        FederationModel before = published();
        Endpoint valid = endpoint(1, "v9");
        Endpoint unknownService = new Endpoint(new ServiceKey("sample", "nope"), "127.0.9.9", Map.of("http", 1),
                true, valid.locality(), "east", "net1", "sa", "w", Map.of());
        ApplyBatch batch = new ApplyBatch(List.of(
                new UpdateEndpoints("east", List.of(valid), List.of()),
                new PublishTrustRoots("west", List.of(ROOT_A)),
                new UpdateEndpoints("east", List.of(unknownService), List.of()),
                new RemoveCluster("west")));

        FederationModel.Result result = before.apply(batch, 9);

        assertThat(result.rejected()).isTrue();
        assertThat(result.rejectReason()).isEqualTo(RejectReason.CONFLICT);
        assertThat(result.rejectMessage())
                .contains("batch of 4 commands rejected whole, nothing of it applied; command 3 (UpdateEndpoints of "
                        + "cluster 'east')")
                .contains("names service sample/nope");
        assertThat(result.model()).isEqualTo(before.atIndex(9));

        FederationModel.Result unknown = before.apply(new ApplyBatch(List.of(
                new UpdateEndpoints("east", List.of(valid), List.of()), register("east", "net1"),
                new PublishTrustRoots("nowhere", List.of(ROOT_A)))), 9);
        assertThat(unknown.rejectReason()).isEqualTo(RejectReason.UNKNOWN_CLUSTER);
        assertThat(unknown.rejectMessage()).contains("command 3 (PublishTrustRoots of cluster 'nowhere')");
        assertThat(unknown.model()).isEqualTo(before.atIndex(9));
    }

    @Test
    void batchesAreNonEmptyFlatAndBounded() {
        assertThatThrownBy(() -> new ApplyBatch(List.of()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at least one command");
        ApplyBatch inner = new ApplyBatch(List.of(register("east", "net1")));
        assertThatThrownBy(() -> new ApplyBatch(List.of(register("west", "net2"), inner)))
                .hasMessageContaining("commands[1] is itself an ApplyBatch");
        List<FederationCommand> tooMany = Collections.nCopies(ApplyBatch.MAX_COMMANDS + 1, register("east", "net1"));
        assertThatThrownBy(() -> new ApplyBatch(tooMany)).hasMessageContaining("at most " + ApplyBatch.MAX_COMMANDS);
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(ints = {CommandCodec.FORMAT_JSON, CommandCodec.FORMAT_BINARY})
    void theCodecRoundTripsABatchAndSplicesEncodedCommandsToTheSameBytes(int format) throws Exception {
        List<FederationCommand> commands = randomDeltas(new Random(3), 10);
        commands.add(0, register("eu", "net3"));
        ApplyBatch batch = new ApplyBatch(commands);

        byte[] bytes = CommandCodec.encode(batch, format);

        assertThat(CommandCodec.decode(bytes)).isEqualTo(batch);
        if (format == CommandCodec.FORMAT_JSON) {
            assertThat(new String(bytes, StandardCharsets.UTF_8))
                    .startsWith("{\"v\":1,\"type\":\"apply-batch\",\"command\":{\"commands\":[{\"v\":1,\"type\":"
                            + "\"register-cluster\"");
        } else {
            assertThat(bytes[0]).isEqualTo((byte) 2);
            assertThat(bytes[1]).isEqualTo(BinaryCodec.TYPE_APPLY_BATCH);
        }
        List<byte[]> encoded = commands.stream().map(c -> CommandCodec.encode(c, format)).toList();
        assertThat(CommandCodec.encodeBatch(encoded)).isEqualTo(bytes);
        assertThat(bytes.length).isEqualTo(encoded.stream().mapToInt(b -> b.length).sum()
                + CommandCodec.batchOverhead(encoded.size(), format));
    }

    @Test
    void malformedBatchesAreRefusedWithTheElementThatIsWrong() {
        String single = new String(CommandCodec.encode(register("east", "net1"), CommandCodec.FORMAT_JSON),
                StandardCharsets.UTF_8);
        String nested = "{\"v\":1,\"type\":\"apply-batch\",\"command\":{\"commands\":[" + single
                + ",{\"v\":1,\"type\":\"apply-batch\",\"command\":{\"commands\":[" + single + "]}}]}}";
        assertThatThrownBy(() -> CommandCodec.decode(nested.getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(CommandCodec.MalformedCommandException.class)
                .hasMessageContaining("element 1: command 'apply-batch' nested in a batch");
        String badElement = "{\"v\":1,\"type\":\"apply-batch\",\"command\":{\"commands\":[" + single
                + ",{\"v\":1,\"type\":\"drop-tables\",\"command\":{}}]}}";
        assertThatThrownBy(() -> CommandCodec.decode(badElement.getBytes(StandardCharsets.UTF_8)))
                .hasMessageContaining("element 1: command type: 'drop-tables'");
        String empty = "{\"v\":1,\"type\":\"apply-batch\",\"command\":{\"commands\":[]}}";
        assertThatThrownBy(() -> CommandCodec.decode(empty.getBytes(StandardCharsets.UTF_8)))
                .hasMessageContaining("at least one command");
        String noArray = "{\"v\":1,\"type\":\"apply-batch\",\"command\":{}}";
        assertThatThrownBy(() -> CommandCodec.decode(noArray.getBytes(StandardCharsets.UTF_8)))
                .hasMessageContaining("has no 'commands' array");
        // A batch that fails to decode is one malformed entry: the state machine skips it whole.
        FederationModel before = published();
        FederationModel.Result skipped = FederationStateMachine.transition(before,
                badElement.getBytes(StandardCharsets.UTF_8), 9);
        assertThat(skipped.rejectReason()).isEqualTo(RejectReason.MALFORMED);
        assertThat(skipped.model()).isEqualTo(before.atIndex(9));
    }
}
