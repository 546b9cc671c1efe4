package io.isthmus.controller.federation;

import static io.isthmus.controller.federation.Fixtures.register;
import static io.isthmus.controller.federation.Fixtures.state;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.ServiceKey;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Endpoint deltas: computed from two states, applied to the same result as the whole state. */
class UpdateEndpointsTest {

    private FederationModel model = FederationModel.EMPTY;
    private long index;

    private FederationModel.Result apply(FederationCommand command) {
        FederationModel.Result result = model.apply(command, ++index);
        model = result.model();
        return result;
    }

    /** The watcher's canonical order: service, then address as a string. */
    private static ClusterState canonical(ClusterState s) {
        List<Endpoint> sorted = new ArrayList<>(s.endpoints());
        sorted.sort(Comparator.comparing((Endpoint e) -> e.service().toString()).thenComparing(Endpoint::address));
        return new ClusterState(s.cluster(), s.network(), s.services(), sorted, s.gateways());
    }

    private static Endpoint relabel(Endpoint e, String version) {
        return new Endpoint(e.service(), e.address(), e.ports(), e.ready(), e.locality(), e.cluster(), e.network(),
                e.serviceAccount(), e.workload(), Map.of("app", "helloworld", "version", version));
    }

    @Test
    void aDeltaAppliesToTheSameStateAsPublishingTheWholeCluster() throws Exception {
        ClusterState before = canonical(state("east", "net1", 12));
        List<Endpoint> changed = new ArrayList<>(before.endpoints());
        changed.removeIf(e -> e.address().equals("127.0.1.3") || e.address().equals("127.0.1.7"));
        changed.replaceAll(e -> e.address().equals("127.0.1.5") ? relabel(e, "v2") : e);
        changed.addAll(state("east", "net1", 14).endpoints().subList(12, 14));
        ClusterState after = canonical(new ClusterState("east", "net1", before.services(), changed, before.gateways()));

        UpdateEndpoints delta = UpdateEndpoints.between(before, after);

        assertThat(delta.upserted()).extracting(Endpoint::address)
                .containsExactlyInAnyOrder("127.0.1.5", "127.0.1.13", "127.0.1.14");
        assertThat(delta.removed()).extracting(UpdateEndpoints.EndpointRef::address)
                .containsExactlyInAnyOrder("127.0.1.3", "127.0.1.7");
        // Smaller on the wire than the whole state: that is the point.
        assertThat(CommandCodec.encode(delta).length).isLessThan(CommandCodec.encode(new PublishClusterState(after))
                .length / 2);
        assertThat(CommandCodec.decode(CommandCodec.encode(delta))).isEqualTo(delta);

        apply(register("east", "net1"));
        apply(new PublishClusterState(before));
        assertThat(apply(delta).rejected()).isFalse();
        assertThat(model.state().clusterStates().get("east")).isEqualTo(after);
        // Idempotent: resubmitting after an unknown outcome changes nothing.
        String hash = FederationStateMachine.hash(model);
        apply(delta);
        assertThat(model.state().clusterStates().get("east")).isEqualTo(after);
        assertThat(FederationStateMachine.hash(model.atIndex(index - 1))).isEqualTo(hash);
    }

    @Test
    void onlyEndpointChangesBecomeDeltas() {
        ClusterState base = canonical(state("east", "net1", 2));
        ClusterState otherGateways = new ClusterState("east", "net1", base.services(), base.endpoints(), List.of());
        assertThat(UpdateEndpoints.between(base, otherGateways)).isNull();
        assertThat(UpdateEndpoints.between(base, canonical(state("east", "net2", 2)))).isNull();
        assertThat(UpdateEndpoints.between(base, base).upserted()).isEmpty();
    }

    @Test
    void deltasThatDoNotFitAreRejectedWholeAndChangeNothing() {
        apply(register("east", "net1"));
        ClusterState base = canonical(state("east", "net1", 2));
        Endpoint endpoint = base.endpoints().get(0);

        FederationModel.Result noState = apply(new UpdateEndpoints("east", List.of(endpoint), List.of()));
        assertThat(noState.rejected()).isTrue();
        assertThat(noState.rejectMessage()).contains("has published no state yet");

        apply(new PublishClusterState(base));
        ClusterState published = model.state().clusterStates().get("east");
        Endpoint unknownService = new Endpoint(new ServiceKey("sample", "nope"), "127.0.9.9", Map.of("http", 1),
                true, endpoint.locality(), "east", "net1", "sa", "w", Map.of());
        // The valid removal in the same command is not applied either: all or nothing.
        FederationModel.Result partial = apply(new UpdateEndpoints("east", List.of(unknownService),
                List.of(UpdateEndpoints.EndpointRef.of(endpoint))));
        assertThat(partial.rejected()).isTrue();
        assertThat(partial.rejectReason()).isEqualTo(RejectReason.CONFLICT);
        assertThat(partial.rejectMessage()).contains("names service sample/nope");
        assertThat(model.state().clusterStates().get("east")).isEqualTo(published);

        assertThatThrownBy(() -> new UpdateEndpoints("west", List.of(endpoint), List.of()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("has cluster 'east' (expected: 'west', the publishing cluster)");
        assertThatThrownBy(() -> new UpdateEndpoints("east", List.of(endpoint),
                List.of(UpdateEndpoints.EndpointRef.of(endpoint))))
                .hasMessageContaining("both upserted and removed");
        // The same rule holds for a hand-written payload decoded on the leader.
        String forged = "{\"v\":1,\"type\":\"update-endpoints\",\"command\":{\"cluster\":\"west\",\"removed\":[],"
                + "\"upserted\":" + new String(CommandCodec.encode(new UpdateEndpoints("east", List.of(endpoint),
                        List.of()), CommandCodec.FORMAT_JSON), StandardCharsets.UTF_8).replaceAll(".*\"upserted\":", "").replaceAll("}}$", "")
                + "}}";
        assertThatThrownBy(() -> CommandCodec.decode(forged.getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(CommandCodec.MalformedCommandException.class)
                .hasMessageContaining("expected: 'west'");
    }
}
