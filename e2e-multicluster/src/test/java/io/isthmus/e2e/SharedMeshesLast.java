package io.isthmus.e2e;

import java.util.Comparator;
import org.junit.jupiter.api.ClassDescriptor;
import org.junit.jupiter.api.ClassOrderer;
import org.junit.jupiter.api.ClassOrdererContext;

/**
 * The class order of this module (src/test/resources/junit-platform.properties): every class with
 * a mesh of its own first, then the {@link SharedDemoMesh} classes together, each group by name.
 * The shared mesh lives from the first of its classes to the end of the run, so any class after it
 * would run a second mesh beside it on the same two cores, and the private-mesh classes' check
 * that no child process is left over would see the shared mesh's.
 */
public final class SharedMeshesLast implements ClassOrderer {

    @Override
    public void orderClasses(ClassOrdererContext context) {
        context.getClassDescriptors().sort(Comparator
                .comparing((ClassDescriptor d) -> d.isAnnotated(SharedDemoMesh.class))
                .thenComparing(d -> d.getTestClass().getName()));
    }
}
