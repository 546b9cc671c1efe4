package io.isthmus.controller.federation;

import static io.isthmus.controller.federation.Fixtures.register;
import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.controller.config.ConfigResource;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The mesh configuration in the replicated model: codec, transitions, snapshots (no Raft needed). */
class PublishMeshConfigTest {

    private static final ConfigResource VS = new ConfigResource("VirtualService", "networking.istio.io/v1", "sample",
            "reviews", "2026-11-27T00:00:00Z", "{\"hosts\":[\"reviews\"]}");
    private static final ConfigResource DR = new ConfigResource("DestinationRule", "networking.istio.io/v1", "sample",
            "reviews", "2026-11-27T00:00:01Z", "{\"host\":\"reviews\"}");

    @Test
    void roundTripsThroughTheLogFormatSorted() throws Exception {
        PublishMeshConfig command = new PublishMeshConfig("east", List.of(VS, DR));

        assertThat(command.resources()).containsExactly(DR, VS);
        assertThat(CommandCodec.decode(CommandCodec.encode(command))).isEqualTo(command);
        assertThat(CommandCodec.typeTag(command)).isEqualTo("publish-mesh-config");
    }

    @Test
    void isKeptPerClusterSurvivesOtherCommandsAndSnapshotsAndGoesWithItsCluster() {
        FederationModel model = FederationModel.EMPTY;
        model = model.apply(new PublishMeshConfig("east", List.of(VS)), 1).model();
        assertThat(model.meshConfigByCluster()).as("unknown cluster rejected").isEmpty();

        model = model.apply(register("east", "net1"), 2).model();
        model = model.apply(register("eu", "net2"), 3).model();
        model = model.apply(new PublishMeshConfig("east", List.of(VS)), 4).model();
        model = model.apply(new PublishMeshConfig("eu", List.of(DR)), 5).model();
        model = model.apply(new PublishTrustRoots("east", List.of(Fixtures.ROOT_A)), 6).model();
        assertThat(model.meshConfigByCluster()).containsOnlyKeys("east", "eu");
        assertThat(model.state().appliedIndex()).isEqualTo(6);

        FederationModel loaded = CommandCodec.decodeSnapshot(CommandCodec.encodeSnapshot(model));
        assertThat(loaded).isEqualTo(model);

        model = model.apply(new RemoveCluster("eu"), 7).model();
        assertThat(model.meshConfigByCluster()).containsOnlyKeys("east");
        model = model.apply(new PublishMeshConfig("east", List.of()), 8).model();
        assertThat(model.meshConfigByCluster()).isEmpty();
    }
}
