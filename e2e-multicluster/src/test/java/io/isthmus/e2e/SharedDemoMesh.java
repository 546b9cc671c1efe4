package io.isthmus.e2e;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * Marks an e2e class that runs on the shared {@link DemoMesh} instead of a mesh of its own: a
 * {@code DemoMesh} parameter of its {@code @BeforeAll} method (or of a test method) is the one mesh
 * of this test JVM, started on first use and closed when the run ends. {@link SharedMeshesLast}
 * runs these classes after all others. Run one alone as any class:
 * {@code ./mvnw -o -pl e2e-multicluster -am verify -Dtest=TrafficSplitE2ETest -Dsurefire.failIfNoSpecifiedTests=false}.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@ExtendWith(SharedDemoMesh.Resolver.class)
@interface SharedDemoMesh {

    /** Resolves {@link DemoMesh} parameters to the mesh held in the root context's store. */
    final class Resolver implements ParameterResolver {

        private static final ExtensionContext.Namespace NAMESPACE =
                ExtensionContext.Namespace.create(SharedDemoMesh.class);

        @Override
        public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
            return parameter.getParameter().getType() == DemoMesh.class;
        }

        @Override
        public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
            // The root store closes its AutoCloseable values once every class has run.
            return context.getRoot().getStore(NAMESPACE)
                    .getOrComputeIfAbsent(DemoMesh.class, k -> DemoMesh.start(), DemoMesh.class);
        }
    }
}
