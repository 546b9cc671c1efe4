package io.isthmus.discovery;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.json.JsonMapper;

/** The federation replicates these records as JSON (Jackson 3): they must survive a round trip unchanged. */
class ModelJsonTest {

    private final JsonMapper mapper = JsonMapper.builder().build();

    @Test
    void clusterStateRoundTripsThroughJackson() {
        ServiceKey key = new ServiceKey("sample", "helloworld");
        ClusterState state = new ClusterState("east", "net1",
                List.of(new MeshService(key, "helloworld.sample.svc.cluster.local",
                        List.of(new ServicePort("http", 5000, 5000, "HTTP")), Map.of("app", "helloworld"),
                        Set.of("*"), false)),
                List.of(new Endpoint(key, "127.101.1.1", Map.of("http", 5000), true,
                        new Locality("us-east", "us-east-1a", ""), "east", "net1", "helloworld", "helloworld-v1-a",
                        Map.of("app", "helloworld")),
                        new Endpoint(key, "127.101.1.2", Map.of(), false, Locality.UNKNOWN, "east", "net1",
                                "default", "", Map.of())),
                List.of(new NetworkGateway("net1", "east", "127.101.0.2", 15443)));

        String json = mapper.writeValueAsString(state);
        ClusterState back = mapper.readValue(json, ClusterState.class);

        assertThat(back).isEqualTo(state);
    }

    @Test
    void federatedStateRoundTripsThroughJackson() {
        FederatedState state = new FederatedState(3,
                Map.of("east", new ClusterInfo("east", "net1", new Locality("us-east", "", ""), "127.101.0.1:15012")),
                Map.of("east", ClusterState.empty("east", "net1")),
                List.of("-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"));

        FederatedState back = mapper.readValue(mapper.writeValueAsString(state), FederatedState.class);

        assertThat(back).isEqualTo(state);
    }
}
