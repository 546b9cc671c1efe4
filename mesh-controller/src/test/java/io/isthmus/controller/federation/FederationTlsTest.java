package io.isthmus.controller.federation;

import static io.isthmus.controller.federation.Fixtures.register;
import static io.isthmus.controller.federation.PeerGroup.WAIT;
import static io.isthmus.controller.federation.PeerGroup.commit;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.isthmus.trust.CertificateAuthority;
import io.isthmus.trust.SpiffeId;
import io.isthmus.trust.TrustBundle;
import io.isthmus.trust.WorkloadCertificate;
import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.client.RaftClientConfigKeys;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.retry.RetryPolicies;
import org.apache.ratis.util.TimeDuration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Raft peers over mutual TLS with controller identities from the mesh CA. */
class FederationTlsTest {

    private static final String TRUST_DOMAIN = "cluster.local";
    private static final SpiffeId CONTROLLER = SpiffeId.of(TRUST_DOMAIN, "istio-system", "istiod");

    @TempDir
    Path dir;

    private PeerGroup group;
    private final CertificateAuthority root = CertificateAuthority.createRoot("federation-test", Duration.ofDays(2));
    private final TrustBundle bundle = TrustBundle.of(TRUST_DOMAIN, List.of(root.root()));

    @AfterEach
    void close() {
        if (group != null) {
            group.close();
        }
    }

    private PeerTls tlsFor(String cluster, SpiffeId identity) {
        CertificateAuthority intermediate = root.createIntermediate(cluster, Duration.ofDays(1));
        WorkloadCertificate certificate = intermediate.issue(identity, List.of(), Duration.ofHours(1));
        return PeerTls.of(() -> certificate, () -> bundle, Set.of(CONTROLLER));
    }

    @Test
    void controllersReplicateOverMutualTlsAndOtherMeshIdentitiesAreRefused() throws Exception {
        SimpleMeterRegistry backend = new SimpleMeterRegistry();
        Metrics.globalRegistry.add(backend);
        try {
            Map<String, PeerTls> tls = Map.of(
                    "east", tlsFor("east", CONTROLLER),
                    "west", tlsFor("west", CONTROLLER),
                    "eu", tlsFor("eu", CONTROLLER));
            group = new PeerGroup(dir).customize(o -> o.withTls(tls.get(o.peerId())));
            group.start("east", "west", "eu");
            FederationNode follower = group.follower();
            long index = commit(follower, register("east", "net1"));
            await().atMost(WAIT).untilAsserted(() -> {
                for (FederationNode node : group.live()) {
                    assertThat(node.state().appliedIndex()).isGreaterThanOrEqualTo(index);
                }
            });

            // A sidecar's certificate chains to the same root but is not a controller's identity.
            PeerTls sidecar = tlsFor("west", SpiffeId.of(TRUST_DOMAIN, "sample", "curl"));
            FederationNode leader = group.leader();
            assertThat(sendWith(leader, FederationNode.tlsParameters(
                    leader.options().withTls(sidecar)), register("rogue", "net9"))).failsWithin(WAIT);
            // Plaintext is refused too.
            assertThat(sendWith(leader, new org.apache.ratis.conf.Parameters(), register("rogue", "net9")))
                    .failsWithin(WAIT);

            assertThat(backend.find(PeerTrust.REJECTED).tag("reason", "not_a_controller").counter().count())
                    .isGreaterThanOrEqualTo(1.0);
            for (FederationNode node : group.live()) {
                assertThat(node.state().clusters()).containsOnlyKeys("east");
            }
            // The group still works after the refusals.
            assertThat(commit(leader, register("west", "net1"))).isGreaterThan(index);
        } finally {
            Metrics.globalRegistry.remove(backend);
            backend.close();
        }
    }

    private static CompletableFuture<RaftClientReply> sendWith(FederationNode leader,
            org.apache.ratis.conf.Parameters parameters, FederationCommand command) {
        RaftProperties properties = new RaftProperties();
        RaftClientConfigKeys.Rpc.setRequestTimeout(properties, TimeDuration.valueOf(1, TimeUnit.SECONDS));
        RaftClient client = RaftClient.newBuilder()
                .setProperties(properties)
                .setParameters(parameters)
                .setRaftGroup(leader.group())
                .setRetryPolicy(RetryPolicies.noRetry())
                .build();
        CompletableFuture<RaftClientReply> reply = client.async().send(Message.valueOf(
                org.apache.ratis.thirdparty.com.google.protobuf.UnsafeByteOperations.unsafeWrap(
                        CommandCodec.encode(command))));
        return reply.whenComplete((r, e) -> {
            try {
                client.close();
            } catch (java.io.IOException ignored) {
                // test cleanup
            }
        });
    }
}
