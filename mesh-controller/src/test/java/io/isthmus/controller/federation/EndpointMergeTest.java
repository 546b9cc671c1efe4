package io.isthmus.controller.federation;

import static org.assertj.core.api.Assertions.assertThat;

import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.ServiceKey;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The fast delta merge gives exactly what rebuilding the list through a map sorted by the
 * service's {@code namespace/name} text gives (the order replicas and snapshots have always used),
 * for canonical and non-canonical inputs alike.
 */
class EndpointMergeTest {

    private static final Comparator<UpdateEndpoints.EndpointRef> TEXT_ORDER =
            Comparator.comparing((UpdateEndpoints.EndpointRef r) -> r.service().toString())
                    .thenComparing(UpdateEndpoints.EndpointRef::address);
    private static final List<ServiceKey> SERVICES = List.of(new ServiceKey("a", "z"), new ServiceKey("a-x", "b"),
            new ServiceKey("a", "b-c"), new ServiceKey("a", "b"), new ServiceKey("ab", "a"), new ServiceKey("a0", "q"));

    /** The definition: every endpoint once per key, later wins, then removals, then upserts. */
    private static List<Endpoint> reference(List<Endpoint> current, UpdateEndpoints delta) {
        TreeMap<UpdateEndpoints.EndpointRef, Endpoint> byRef = new TreeMap<>(TEXT_ORDER);
        current.forEach(e -> byRef.put(UpdateEndpoints.EndpointRef.of(e), e));
        delta.removed().forEach(byRef::remove);
        delta.upserted().forEach(e -> byRef.put(UpdateEndpoints.EndpointRef.of(e), e));
        return List.copyOf(byRef.values());
    }

    private static Endpoint endpoint(ServiceKey service, String address, String version) {
        return new Endpoint(service, address, Map.of("http", 8080), true, new Locality("r", "z", ""), "east", "net1",
                "sa", "pod-" + address, Map.of("version", version));
    }

    @ParameterizedTest
    @CsvSource({"a,z,a-x,b", "a,b,a,b-c", "a-x,b,ab,a", "a0,q,a,z", "x,y,x,y", "ns,n,ns,nn"})
    void serviceOrderIsTheOrderOfTheirText(String ns1, String n1, String ns2, String n2) {
        ServiceKey a = new ServiceKey(ns1, n1);
        ServiceKey b = new ServiceKey(ns2, n2);
        assertThat(Integer.signum(EndpointMerge.compareServiceText(a, b)))
                .isEqualTo(Integer.signum(a.toString().compareTo(b.toString())));
        assertThat(Integer.signum(EndpointMerge.compareServiceText(b, a)))
                .isEqualTo(Integer.signum(b.toString().compareTo(a.toString())));
    }

    @Test
    void randomDeltasOnCanonicalAndUnsortedListsMatchTheDefinition() {
        Random random = new Random(42);
        for (int round = 0; round < 300; round++) {
            List<Endpoint> current = new ArrayList<>();
            int size = random.nextInt(40);
            for (int i = 0; i < size; i++) {
                current.add(endpoint(SERVICES.get(random.nextInt(SERVICES.size())), "10.0.0." + random.nextInt(30),
                        "v" + random.nextInt(3)));
            }
            // Half the rounds start from a canonical list (the fast path), half from raw input.
            List<Endpoint> start = round % 2 == 0
                    ? reference(current, new UpdateEndpoints("east", List.of(), List.of()))
                    : List.copyOf(current);
            List<Endpoint> mine = start;
            List<Endpoint> expected = start;
            for (int step = 0; step < 5; step++) {
                UpdateEndpoints delta = randomDelta(random);
                mine = EndpointMerge.apply(mine, delta);
                expected = reference(expected, delta);
                assertThat(mine).as("round %d step %d", round, step).isEqualTo(expected);
                assertThat(EndpointMerge.isCanonical(mine)).isTrue();
            }
        }
    }

    private static UpdateEndpoints randomDelta(Random random) {
        Map<UpdateEndpoints.EndpointRef, Endpoint> upserts = new TreeMap<>(TEXT_ORDER);
        Map<UpdateEndpoints.EndpointRef, Boolean> removals = new TreeMap<>(TEXT_ORDER);
        for (int i = random.nextInt(6); i > 0; i--) {
            Endpoint e = endpoint(SERVICES.get(random.nextInt(SERVICES.size())), "10.0.0." + random.nextInt(30),
                    "v" + random.nextInt(3));
            upserts.put(UpdateEndpoints.EndpointRef.of(e), e);
        }
        for (int i = random.nextInt(6); i > 0; i--) {
            UpdateEndpoints.EndpointRef ref = new UpdateEndpoints.EndpointRef(
                    SERVICES.get(random.nextInt(SERVICES.size())), "10.0.0." + random.nextInt(30));
            if (!upserts.containsKey(ref)) {
                removals.put(ref, true);
            }
        }
        return new UpdateEndpoints("east", List.copyOf(upserts.values()), List.copyOf(removals.keySet()));
    }

    @Test
    void aListWithDuplicateKeysOrOutOfOrderIsNotCanonical() {
        ServiceKey s = new ServiceKey("a", "b");
        assertThat(EndpointMerge.isCanonical(List.of(endpoint(s, "10.0.0.1", "v1"), endpoint(s, "10.0.0.1", "v2"))))
                .isFalse();
        assertThat(EndpointMerge.isCanonical(List.of(endpoint(s, "10.0.0.2", "v1"), endpoint(s, "10.0.0.1", "v1"))))
                .isFalse();
        assertThat(EndpointMerge.isCanonical(List.of(endpoint(s, "10.0.0.1", "v1"), endpoint(s, "10.0.0.2", "v1"))))
                .isTrue();
    }
}
