package io.isthmus.controller.translate;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Translation is a pure function: it must not reach for gRPC, Netty or the Kubernetes client. */
class TranslateBoundaryTest {

    @Test
    void translateImportsNoGrpcNettyOrFabric8() {
        // Only this module's compiled translate package: scanning the whole class path is slow.
        Path translate = Path.of("target", "classes", "io", "isthmus", "controller", "translate");
        JavaClasses classes = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPath(translate);

        noClasses().that().resideInAPackage("io.isthmus.controller.translate..")
                .should().dependOnClassesThat().resideInAnyPackage("io.grpc..", "io.netty..", "io.fabric8..")
                .check(classes);
    }
}
