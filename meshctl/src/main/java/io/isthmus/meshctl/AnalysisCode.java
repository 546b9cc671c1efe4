package io.isthmus.meshctl;

import static java.util.Objects.requireNonNull;

/**
 * The findings {@code meshctl analyze} and {@code meshctl precheck} report, each with a stable code in
 * Istio's {@code IST} numbering and a fixed level. IST0106 keeps Istio's meaning; the multi-cluster
 * checks Istio's analyzers do not have use IST09xx. Documented in docs/reference/analyze-codes.md.
 */
enum AnalysisCode {
    SCHEMA_VALIDATION_ERROR("IST0106", Level.ERROR, "SchemaValidationError"),
    CLUSTER_UNREACHABLE("IST0901", Level.ERROR, "ClusterUnreachable"),
    LOCALITY_FAILOVER_WITHOUT_OUTLIER_DETECTION("IST0902", Level.WARNING, "LocalityFailoverWithoutOutlierDetection"),
    SERVICE_PORTS_DIFFER("IST0903", Level.WARNING, "ServicePortsDifferAcrossClusters"),
    CONFLICTING_MESH_CONFIG("IST0904", Level.ERROR, "ConflictingConfigAcrossPrimaries"),
    NETWORK_GATEWAY_UNREACHABLE("IST0905", Level.ERROR, "NetworkWithoutReachableGateway"),
    CA_NOT_CHAINED_TO_MESH_ROOT("IST0906", Level.ERROR, "CaNotChainedToMeshRoot"),
    REMOTE_SECRET_UNREACHABLE("IST0907", Level.ERROR, "RemoteSecretUnreachable"),
    REMOTE_SECRET_INVALID("IST0908", Level.ERROR, "RemoteSecretInvalid"),
    CONFIG_VALIDATION_WARNING("IST0909", Level.WARNING, "ConfigValidationWarning"),
    SERVICE_PROTOCOL_CONFLICT("IST0910", Level.ERROR, "ServiceProtocolConflictAcrossClusters"),
    PRECHECK_API_SERVER("IST0920", Level.INFO, "ApiServerVersion"),
    PRECHECK_PERMISSION_DENIED("IST0921", Level.ERROR, "InsufficientPermissions"),
    PRECHECK_PERMISSIONS_UNCHECKED("IST0922", Level.WARNING, "PermissionsNotVerifiable"),
    PRECHECK_CRD_CONFLICT("IST0923", Level.ERROR, "CustomResourceConflict"),
    PRECHECK_PORT_IN_USE("IST0924", Level.ERROR, "PortInUse"),
    PRECHECK_NO_MESH_ROOT("IST0925", Level.ERROR, "NoMeshRootToJoin"),
    PRECHECK_ALREADY_INSTALLED("IST0926", Level.INFO, "MeshAlreadyInstalled");

    /** How bad a finding is; {@code Error} findings make the command exit 1. */
    enum Level {
        ERROR("Error"), WARNING("Warning"), INFO("Info");

        private final String label;

        Level(String label) {
            this.label = label;
        }

        String label() {
            return label;
        }
    }

    private final String code;
    private final Level level;
    private final String title;

    AnalysisCode(String code, Level level, String title) {
        this.code = requireNonNull(code, "code");
        this.level = requireNonNull(level, "level");
        this.title = requireNonNull(title, "title");
    }

    String code() {
        return code;
    }

    Level level() {
        return level;
    }

    String title() {
        return title;
    }
}
