package io.isthmus.discovery;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import java.nio.file.Paths;
import org.junit.jupiter.api.Test;

/** Discovery sits before translation in the one-way flow: it never knows about xDS or the data plane. */
class ModuleBoundariesTest {

    // Import the module's own class files only: scanning the whole class path takes many seconds.
    private static final JavaClasses CLASSES = new ClassFileImporter()
            .importPath(Paths.get(MeshView.class.getProtectionDomain().getCodeSource().getLocation().getPath()));

    @Test
    void theModelAndTheMergeArePure() {
        noClasses().that().resideInAPackage("io.isthmus.discovery")
                .should().dependOnClassesThat().resideInAnyPackage(
                        "io.fabric8..", "io.micrometer..", "java.net..", "java.nio.file..", "java.io..",
                        "java.time..", "java.util.concurrent..")
                .because("MeshView.of is a pure function of its arguments: no I/O, no clock, no threads")
                .check(CLASSES);
    }

    @Test
    void allOfTheModuleIsChecked() {
        org.assertj.core.api.Assertions.assertThat(CLASSES.contain(MeshView.class)).isTrue();
        org.assertj.core.api.Assertions.assertThat(CLASSES.contain("io.isthmus.discovery.kube.ClusterWatcher")).isTrue();
        // The rules see dependencies outside the module: the watchers do use fabric8.
        org.assertj.core.api.Assertions.assertThat(noClasses().that().resideInAPackage("io.isthmus.discovery.kube")
                .should().dependOnClassesThat().resideInAnyPackage("io.fabric8..")
                .evaluate(CLASSES).hasViolation()).isTrue();
    }

    @Test
    void discoveryNeverKnowsAboutXdsOrTheDataPlane() {
        noClasses().should().dependOnClassesThat().resideInAnyPackage(
                        "io.envoyproxy..", "io.grpc..", "io.netty..", "org.apache.ratis..",
                        "io.isthmus.controller..", "io.isthmus.proxy..", "io.isthmus.gateway..")
                .check(CLASSES);
    }
}
