package io.isthmus.meshctl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.isthmus.trust.CertificateAuthority;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The three phases of {@code meshctl trust rotate-root} over a cluster's cacerts files, in order and out of order. */
class TrustRotationPhasesTest {

    private static final CertificateAuthority OLD_ROOT = CertificateAuthority.createRoot("Isthmus", Duration.ofDays(30));
    private static final CertificateAuthority OLD_EAST = OLD_ROOT.createIntermediate("east", Duration.ofDays(10));

    @TempDir
    Path dir;

    @Test
    void addReissueRemoveInOrderEndsUnderTheNewRootAlone() throws Exception {
        CertificateAuthority newRoot = TrustCommand.NewRoot.createOrLoad(dir);
        assertThat(TrustCommand.NewRoot.createOrLoad(dir).certificate()).as("created once, then reused")
                .isEqualTo(newRoot.certificate());

        Map<String, String> added = TrustCommand.RootRotation.add(OLD_EAST.toCacerts(), newRoot.certificate());
        CertificateAuthority afterAdd = CertificateAuthority.fromCacerts(added);
        assertThat(afterAdd.root()).isEqualTo(OLD_ROOT.certificate());
        assertThat(afterAdd.trustedRoots()).containsExactly(OLD_ROOT.certificate(), newRoot.certificate());
        assertThat(TrustCommand.RootRotation.add(added, newRoot.certificate())).as("idempotent").isEqualTo(added);

        Map<String, String> reissued = TrustCommand.RootRotation.reissue(added, newRoot, "east", Duration.ofDays(5));
        CertificateAuthority afterReissue = CertificateAuthority.fromCacerts(reissued);
        assertThat(afterReissue.root()).isEqualTo(newRoot.certificate());
        assertThat(afterReissue.certificate().getSubjectX500Principal().getName()).contains("OU=east");
        assertThat(afterReissue.trustedRoots()).containsExactlyInAnyOrder(OLD_ROOT.certificate(), newRoot.certificate());

        Map<String, String> removed = TrustCommand.RootRotation.remove(reissued, newRoot.certificate(), "east");
        assertThat(CertificateAuthority.fromCacerts(removed).trustedRoots()).containsExactly(newRoot.certificate());
        assertThat(TrustCommand.RootRotation.describe(removed)).contains("OU=east", TrustCommand.shortFp(
                io.isthmus.controller.ca.CaSource.fingerprint(newRoot.certificate())));
    }

    @Test
    void phasesOutOfOrderAreRefusedBeforeAnythingIsWritten() throws Exception {
        CertificateAuthority newRoot = TrustCommand.NewRoot.createOrLoad(dir);
        assertThatThrownBy(() -> TrustCommand.RootRotation.reissue(OLD_EAST.toCacerts(), newRoot, "east", Duration.ofDays(5)))
                .isInstanceOf(CommandException.class).hasMessageContaining("run --phase add first");
        Map<String, String> added = TrustCommand.RootRotation.add(OLD_EAST.toCacerts(), newRoot.certificate());
        assertThatThrownBy(() -> TrustCommand.RootRotation.remove(added, newRoot.certificate(), "east"))
                .isInstanceOf(CommandException.class).hasMessageContaining("still chains to the old root")
                .hasMessageContaining("run --phase reissue first");
        assertThatThrownBy(() -> TrustCommand.NewRoot.load(dir.resolve("missing")))
                .isInstanceOf(CommandException.class).hasMessageContaining("run 'meshctl trust rotate-root --phase add' first");
    }
}
