package io.isthmus.controller.bench;

import io.isthmus.controller.config.MeshConfig;
import io.isthmus.controller.translate.MeshPolicies;
import io.isthmus.controller.translate.ProxyNode;
import io.isthmus.controller.translate.ProxyResources;
import io.isthmus.controller.translate.XdsTranslator;
import io.isthmus.discovery.FederatedState;
import io.isthmus.discovery.MeshView;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * Issue 6's translation figure: one sidecar's complete xDS (CDS, EDS, LDS, RDS, SDS) with
 * {@code services} hosts in scope in a three-cluster mesh ({@link MeshScale}), policies applied.
 * {@code translate} starts from the merged view, as the controller does for each proxy (the view
 * is shared by every proxy of a cluster and network); {@code mergeAndTranslate} includes the
 * merge. The 10-service run is the baseline of the same run. Allocation: add {@code -prof gc}.
 * Run (after {@code ./mvnw install -DskipTests}):
 * {@code ./mvnw -Pbench -pl mesh-controller verify -Dbench=TranslationBenchmark -Dbench.args="-f 1 -wi 3 -i 5 -prof gc"}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class TranslationBenchmark {

    @Param({"10", "1000"})
    int services;

    private FederatedState state;
    private MeshPolicies policies;
    private MeshView view;
    private final ProxyNode node = MeshScale.westSidecar(0);

    @Setup(Level.Trial)
    public void build() {
        state = MeshScale.state(services, 3, 1);
        MeshConfig config = MeshScale.config(services, 80);
        policies = new MeshPolicies(config, state, MeshScale.DOMAIN);
        view = MeshView.of(state, node.viewpoint(), MeshScale.DOMAIN, MeshScale.DOMAIN);
        ProxyResources resources = translate();
        System.out.printf("%n[resources] %d services: %d clusters, %d EDS, %d listeners, %d route configs%n",
                services, resources.clusters().size(), resources.endpoints().size(), resources.listeners().size(),
                resources.routes().size());
    }

    @Benchmark
    public ProxyResources translate() {
        return XdsTranslator.translate(view, node, MeshScale.ROOTS, policies);
    }

    @Benchmark
    public ProxyResources mergeAndTranslate() {
        MeshView merged = MeshView.of(state, node.viewpoint(), MeshScale.DOMAIN, MeshScale.DOMAIN);
        return XdsTranslator.translate(merged, node, MeshScale.ROOTS, policies);
    }
}
