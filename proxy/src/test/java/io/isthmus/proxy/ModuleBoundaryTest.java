package io.isthmus.proxy;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/** The proxy is configured only by xDS: it never reads Kubernetes or the Raft state. */
class ModuleBoundaryTest {

  private static final JavaClasses PROXY = new ClassFileImporter()
      .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
      .importPackages("io.isthmus.proxy");

  @Test
  void proxyNeverImportsKubernetesRatisOrTheControlPlane() {
    noClasses().should().dependOnClassesThat().resideInAnyPackage(
            "io.fabric8..", "org.apache.ratis..", "io.isthmus.controller..",
            "io.isthmus.discovery..")
        .check(PROXY);
  }

  @Test
  void xdsClientDoesNotDependOnTheDataPlane() {
    noClasses().that().resideInAPackage("io.isthmus.proxy.xds..")
        .should().dependOnClassesThat().resideInAPackage("io.isthmus.proxy.internal..")
        .check(PROXY);
  }

  @Test
  void routeAndClusterPoliciesArePureParsingWithoutTheDataPlaneOrTheClient() {
    noClasses().that().resideInAPackage("io.isthmus.proxy.policy..")
        .should().dependOnClassesThat().resideInAnyPackage("io.isthmus.proxy.internal..",
            "io.isthmus.proxy.xds..", "io.grpc..")
        .check(PROXY);
  }
}
