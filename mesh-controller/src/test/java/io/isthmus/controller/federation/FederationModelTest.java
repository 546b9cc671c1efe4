package io.isthmus.controller.federation;

import static io.isthmus.controller.federation.Fixtures.ROOT_A;
import static io.isthmus.controller.federation.Fixtures.ROOT_B;
import static io.isthmus.controller.federation.Fixtures.publish;
import static io.isthmus.controller.federation.Fixtures.register;
import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.discovery.FederatedState;
import java.util.List;
import org.junit.jupiter.api.Test;

class FederationModelTest {

    private FederationModel model = FederationModel.EMPTY;
    private long index;

    private FederationModel.Result apply(FederationCommand command) {
        FederationModel.Result result = model.apply(command, ++index);
        model = result.model();
        return result;
    }

    @Test
    void registerPublishAndRootsBuildTheFederatedState() {
        assertThat(apply(register("east", "net1")).rejected()).isFalse();
        assertThat(apply(register("eu", "net2")).rejected()).isFalse();
        assertThat(apply(publish("east", "net1", 2)).rejected()).isFalse();
        assertThat(apply(new PublishTrustRoots("east", List.of(ROOT_A))).rejected()).isFalse();
        // eu sends the same root in another layout plus its own: the union holds each once.
        assertThat(apply(new PublishTrustRoots("eu", List.of(ROOT_B + ROOT_A.replace("\n", "\r\n")))).rejected())
                .isFalse();

        FederatedState state = model.state();
        assertThat(state.appliedIndex()).isEqualTo(5);
        assertThat(state.clusters()).containsOnlyKeys("east", "eu");
        assertThat(state.clusterStates()).containsOnlyKeys("east");
        assertThat(state.clusterStates().get("east").endpoints()).hasSize(2);
        assertThat(state.trustRootsPem()).hasSize(2).isSorted()
                .containsExactlyInAnyOrderElementsOf(new PublishTrustRoots("x", List.of(ROOT_A, ROOT_B)).rootsPem());
    }

    @Test
    void publishingForAnUnregisteredClusterIsRejectedAndChangesNothingButTheIndex() {
        apply(register("east", "net1"));
        FederatedState before = model.state();

        FederationModel.Result result = apply(publish("west", "net1", 1));

        assertThat(result.rejected()).isTrue();
        assertThat(result.rejectReason()).isEqualTo(RejectReason.UNKNOWN_CLUSTER);
        assertThat(result.rejectMessage()).contains("'west' is not registered", "RegisterCluster first");
        assertThat(model.state().appliedIndex()).isEqualTo(2);
        assertThat(model.state().clusters()).isEqualTo(before.clusters());
        assertThat(model.state().clusterStates()).isEmpty();
        assertThat(apply(new PublishTrustRoots("west", List.of(ROOT_A))).rejectReason())
                .isEqualTo(RejectReason.UNKNOWN_CLUSTER);
        assertThat(apply(new RemoveCluster("west")).rejectReason()).isEqualTo(RejectReason.UNKNOWN_CLUSTER);
    }

    @Test
    void stateForAnotherNetworkThanRegisteredIsAConflict() {
        apply(register("east", "net1"));

        FederationModel.Result result = apply(publish("east", "net2", 1));

        assertThat(result.rejectReason()).isEqualTo(RejectReason.CONFLICT);
        assertThat(result.rejectMessage()).contains("network 'net2'", "expected: 'net1'");
        assertThat(model.state().clusterStates()).isEmpty();
    }

    @Test
    void movingAClusterWithStateToAnotherNetworkRequiresRemovingItFirst() {
        apply(register("east", "net1"));
        apply(publish("east", "net1", 1));

        assertThat(apply(register("east", "net2")).rejectReason()).isEqualTo(RejectReason.CONFLICT);
        assertThat(model.state().clusters().get("east").network()).isEqualTo("net1");

        assertThat(apply(new RemoveCluster("east")).rejected()).isFalse();
        assertThat(apply(register("east", "net2")).rejected()).isFalse();
        assertThat(model.state().clusters().get("east").network()).isEqualTo("net2");
    }

    @Test
    void removingAClusterDropsItsStateAndOnlyTheRootsNoOtherClusterShares() {
        apply(register("east", "net1"));
        apply(register("eu", "net2"));
        apply(publish("east", "net1", 1));
        apply(new PublishTrustRoots("east", List.of(ROOT_A, ROOT_B)));
        apply(new PublishTrustRoots("eu", List.of(ROOT_A)));

        apply(new RemoveCluster("east"));

        assertThat(model.state().clusters()).containsOnlyKeys("eu");
        assertThat(model.state().clusterStates()).isEmpty();
        assertThat(model.state().trustRootsPem()).isEqualTo(new PublishTrustRoots("eu", List.of(ROOT_A)).rootsPem());
        assertThat(model.rootsByCluster()).containsOnlyKeys("eu");
    }

    @Test
    void anEmptyRootListWithdrawsTheClustersRoots() {
        apply(register("east", "net1"));
        apply(new PublishTrustRoots("east", List.of(ROOT_A)));

        apply(new PublishTrustRoots("east", List.of()));

        assertThat(model.state().trustRootsPem()).isEmpty();
    }
}
