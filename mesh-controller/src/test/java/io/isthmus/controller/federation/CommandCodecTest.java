package io.isthmus.controller.federation;

import static io.isthmus.controller.federation.Fixtures.ROOT_A;
import static io.isthmus.controller.federation.Fixtures.ROOT_B;
import static io.isthmus.controller.federation.Fixtures.publish;
import static io.isthmus.controller.federation.Fixtures.register;
import static io.isthmus.controller.federation.Fixtures.state;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.MeshService;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

class CommandCodecTest {

    static Stream<FederationCommand> commands() {
        return Stream.of(
                register("east", "net1"),
                publish("east", "net1", 3),
                new PublishTrustRoots("east", List.of(ROOT_A, ROOT_B)),
                new RemoveCluster("east"));
    }

    @ParameterizedTest
    @MethodSource("commands")
    void everyCommandRoundTripsToAnEqualValue(FederationCommand command) throws Exception {
        byte[] bytes = CommandCodec.encode(command, CommandCodec.FORMAT_JSON);

        assertThat(CommandCodec.decode(bytes)).isEqualTo(command);
        assertThat(new String(bytes, StandardCharsets.UTF_8))
                .startsWith("{\"v\":1,\"type\":\"" + CommandCodec.typeTag(command) + "\"");
        byte[] binary = CommandCodec.encode(command);
        assertThat(binary[0]).as("format 2 by default").isEqualTo((byte) 2);
        assertThat(CommandCodec.decode(binary)).isEqualTo(command);
    }

    @Test
    void equalStatesEncodeToEqualBytesWhateverTheSetOrder() {
        ClusterState a = state("east", "net1", 2);
        MeshService service = a.services().get(0);
        MeshService reordered = new MeshService(service.key(), service.hostname(), service.ports(), service.labels(),
                new LinkedHashSet<>(List.of("istio-system", "*", "sample")), service.headless());
        ClusterState b = new ClusterState(a.cluster(), a.network(), List.of(reordered), a.endpoints(), a.gateways());

        assertThat(CommandCodec.encode(new PublishClusterState(b)))
                .isEqualTo(CommandCodec.encode(new PublishClusterState(a)));
        assertThat(CommandCodec.encode(new PublishClusterState(b), CommandCodec.FORMAT_JSON))
                .isEqualTo(CommandCodec.encode(new PublishClusterState(a), CommandCodec.FORMAT_JSON));
        assertThat(new String(CommandCodec.encode(new PublishClusterState(a), CommandCodec.FORMAT_JSON),
                StandardCharsets.UTF_8))
                .contains("\"exportTo\":[\"*\",\"istio-system\",\"sample\"]");
    }

    static Stream<Arguments> malformed() {
        String valid = new String(CommandCodec.encode(new RemoveCluster("east"), CommandCodec.FORMAT_JSON),
                StandardCharsets.UTF_8);
        return Stream.of(
                Arguments.of("not json at all", "is not JSON"),
                Arguments.of("[1,2]", "not a JSON object"),
                Arguments.of(valid.replace("\"v\":1", "\"v\":2"), "command version: 2"),
                Arguments.of(valid.replace("remove-cluster", "drop-table"), "command type: 'drop-table'"),
                Arguments.of("{\"v\":1,\"type\":\"remove-cluster\"}", "a 'command' object"),
                Arguments.of("{\"v\":1,\"type\":\"remove-cluster\",\"command\":{\"cluster\":\"\"}}",
                        "expected: a non-empty cluster name"),
                Arguments.of("{\"v\":1,\"type\":\"publish-trust-roots\",\"command\":{\"cluster\":\"east\","
                        + "\"rootsPem\":[\"-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\"]}}",
                        "expected: an X.509 certificate"));
    }

    @ParameterizedTest
    @MethodSource("malformed")
    void malformedPayloadsAreRejectedWithAReason(String payload, String reason) {
        assertThatThrownBy(() -> CommandCodec.decode(payload.getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(CommandCodec.MalformedCommandException.class)
                .hasMessageContaining(reason);
    }

    @Test
    void endpointsPublishedInAnotherClustersNameAreInvalid() {
        ClusterState east = state("east", "net1", 1);
        Endpoint e = east.endpoints().get(0);
        Endpoint foreign = new Endpoint(e.service(), e.address(), e.ports(), e.ready(), e.locality(), "west",
                e.network(), e.serviceAccount(), e.workload(), e.labels());
        ClusterState forged = new ClusterState("east", "net1", east.services(), List.of(foreign), east.gateways());

        assertThatThrownBy(() -> new PublishClusterState(forged))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("has cluster 'west' (expected: 'east', the publishing cluster)");
    }

    @Test
    void applyingAMalformedEntrySkipsItAndKeepsTheContent() {
        FederationModel model = FederationModel.EMPTY.apply(register("east", "net1"), 1).model();

        FederationModel.Result result = FederationStateMachine.transition(
                model, "garbage".getBytes(StandardCharsets.UTF_8), 2);

        assertThat(result.rejectReason()).isEqualTo(RejectReason.MALFORMED);
        assertThat(result.model().state().clusters()).isEqualTo(model.state().clusters());
        assertThat(result.model().state().appliedIndex()).isEqualTo(2);
    }

    @Test
    void snapshotsRoundTripTheWholeModel() {
        FederationModel model = FederationModel.EMPTY;
        long index = 0;
        for (FederationCommand command : List.of(register("east", "net1"), register("eu", "net2"),
                publish("east", "net1", 2), new PublishTrustRoots("east", List.of(ROOT_A)),
                new PublishTrustRoots("eu", List.of(ROOT_A, ROOT_B)))) {
            model = model.apply(command, ++index).model();
        }

        for (int format : new int[] {CommandCodec.FORMAT_JSON, CommandCodec.FORMAT_BINARY}) {
            FederationModel loaded = CommandCodec.decodeSnapshot(CommandCodec.encodeSnapshot(model, format));

            assertThat(loaded).isEqualTo(model);
            assertThat(CommandCodec.encodeSnapshot(loaded, format)).isEqualTo(CommandCodec.encodeSnapshot(model, format));
            assertThat(FederationStateMachine.hash(loaded)).isEqualTo(FederationStateMachine.hash(model));
        }
    }
}
