package io.isthmus.controller.federation;

import static java.util.Objects.requireNonNull;

import io.isthmus.controller.config.ConfigResource;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.FederatedState;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import com.fasterxml.jackson.annotation.JsonAutoDetect;
import tools.jackson.core.JacksonException;
import tools.jackson.core.JsonGenerator;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.MapperFeature;
import tools.jackson.databind.SerializationContext;
import tools.jackson.databind.SerializationFeature;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.module.SimpleModule;
import tools.jackson.databind.ser.std.StdSerializer;

/**
 * The wire format of commands in the Raft log and of snapshots, in two versions, both canonical
 * (record components in declaration order, map keys and set elements sorted), so equal values
 * always encode to equal bytes:
 *
 * <ul>
 *   <li>{@value #FORMAT_BINARY} (written by default): compact binary, see {@link BinaryCodec}; the
 *       first byte is the version, 2.
 *   <li>{@value #FORMAT_JSON}: JSON with an explicit version and a stable type tag per command,
 *       <pre>{"v":1,"type":"register-cluster","command":{...the record's components...}}</pre>
 *       still decoded (logs and snapshots written before format 2) and written when a peer is told
 *       to ({@code RaftTuning.logFormat}, for a rolling upgrade from a version that only reads it).
 * </ul>
 *
 * <p>{@link #decode} and {@link #decodeSnapshot} tell the two apart by the first byte (JSON
 * starts with <code>{</code>). Decoding runs the records' compact constructors, so a decoded
 * command is as valid as one built in code. The state hash is over the format-1 snapshot
 * encoding whatever the log holds, so it does not depend on how the commands travelled.
 */
final class CommandCodec {

    /** The JSON envelope's {@code "v"}: format 1. */
    static final int VERSION = 1;
    static final int FORMAT_JSON = 1;
    static final int FORMAT_BINARY = BinaryCodec.VERSION;
    /** What a peer writes unless told otherwise. */
    static final int DEFAULT_FORMAT = FORMAT_BINARY;
    static final int SNAPSHOT_FORMAT = 1;
    static final int SNAPSHOT_FORMAT_BINARY = BinaryCodec.VERSION;
    /** Added after version 1 shipped: a new type tag, so every entry written before still decodes alike. */
    static final String APPLY_BATCH = "apply-batch";

    private static final JsonMapper MAPPER = JsonMapper.builder()
            .enable(MapperFeature.SORT_PROPERTIES_ALPHABETICALLY)
            // Only record components are data: derived is-getters such as Locality.isUnknown() are not.
            .changeDefaultVisibility(visibility -> visibility.withIsGetterVisibility(JsonAutoDetect.Visibility.NONE))
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .addModule(new SimpleModule("isthmus-canonical-sets").addSerializer(new SortedSetSerializer()))
            .build();

    /** Thrown when bytes are not a command this version understands; the message says why. */
    static final class MalformedCommandException extends Exception {
        private static final long serialVersionUID = 1L;

        MalformedCommandException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private CommandCodec() {
    }

    /** {@code command} in the {@linkplain #DEFAULT_FORMAT default format}. */
    static byte[] encode(FederationCommand command) {
        return encode(command, DEFAULT_FORMAT);
    }

    static byte[] encode(FederationCommand command, int format) {
        requireNonNull(command, "command");
        if (format == FORMAT_BINARY) {
            return BinaryCodec.encode(command);
        }
        checkFormat(format);
        if (command instanceof ApplyBatch batch) {
            List<byte[]> encoded = new ArrayList<>(batch.commands().size());
            batch.commands().forEach(c -> encoded.add(encode(c, FORMAT_JSON)));
            return encodeBatch(encoded);
        }
        // Written straight to bytes, not through a tree: the envelope's fields in this fixed order.
        byte[] prefix = ("{\"v\":" + VERSION + ",\"type\":\"" + typeTag(command) + "\",\"command\":")
                .getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] body = MAPPER.writeValueAsBytes(command);
        byte[] out = new byte[prefix.length + body.length + 1];
        System.arraycopy(prefix, 0, out, 0, prefix.length);
        System.arraycopy(body, 0, out, prefix.length, body.length);
        out[out.length - 1] = '}';
        return out;
    }

    private static final byte[] BATCH_PREFIX = ("{\"v\":" + VERSION + ",\"type\":\"apply-batch\",\"command\":{\"commands\":[")
            .getBytes(java.nio.charset.StandardCharsets.UTF_8);
    private static final byte[] BATCH_SUFFIX = "]}}".getBytes(java.nio.charset.StandardCharsets.UTF_8);

    /**
     * An {@link ApplyBatch} of commands already encoded by {@link #encode}: the same bytes as
     * encoding the batch, without encoding its commands again. Each element is a whole command
     * envelope, so a batch carries its commands exactly as they would travel alone.
     */
    static byte[] encodeBatch(List<byte[]> encodedCommands) {
        if (encodedCommands.isEmpty() || encodedCommands.get(0).length == 0 || encodedCommands.get(0)[0] != '{') {
            return BinaryCodec.encodeBatch(encodedCommands);
        }
        int size = BATCH_PREFIX.length + BATCH_SUFFIX.length + Math.max(0, encodedCommands.size() - 1);
        for (byte[] command : encodedCommands) {
            size += command.length;
        }
        byte[] out = new byte[size];
        System.arraycopy(BATCH_PREFIX, 0, out, 0, BATCH_PREFIX.length);
        int at = BATCH_PREFIX.length;
        for (int i = 0; i < encodedCommands.size(); i++) {
            if (i > 0) {
                out[at++] = ',';
            }
            byte[] command = encodedCommands.get(i);
            System.arraycopy(command, 0, out, at, command.length);
            at += command.length;
        }
        System.arraycopy(BATCH_SUFFIX, 0, out, at, BATCH_SUFFIX.length);
        return out;
    }

    /** The bytes a batch adds around its encoded commands, for callers that cap a batch's size. */
    static int batchOverhead(int commands, int format) {
        if (format == FORMAT_BINARY) {
            return BinaryCodec.BATCH_HEADER + BinaryCodec.BATCH_PER_COMMAND * commands;
        }
        checkFormat(format);
        return BATCH_PREFIX.length + BATCH_SUFFIX.length + Math.max(0, commands - 1);
    }

    static int checkFormat(int format) {
        if (format != FORMAT_JSON && format != FORMAT_BINARY) {
            throw new IllegalArgumentException("log format: " + format + " (expected: " + FORMAT_JSON + " (JSON) or "
                    + FORMAT_BINARY + " (binary))");
        }
        return format;
    }

    /** Decodes either format, told apart by the first byte. */
    static FederationCommand decode(byte[] bytes) throws MalformedCommandException {
        requireNonNull(bytes, "bytes");
        if (bytes.length > 0 && bytes[0] == BinaryCodec.VERSION) {
            return BinaryCodec.decode(bytes);
        }
        FederationCommand fast = decodeStreaming(bytes);
        return fast != null ? fast : decodeTree(bytes);
    }

    /**
     * The common case, in one pass: an envelope as {@link #encode} writes it (v, type, command in
     * that order) bound straight from the parser, with no intermediate tree (each delta is decoded
     * on every replica, so this is paid three times per command). Returns null for anything else,
     * valid or not; the tree path then decodes it or says exactly what is wrong.
     */
    private static FederationCommand decodeStreaming(byte[] bytes) {
        try (JsonParser parser = MAPPER.createParser(bytes)) {
            FederationCommand command = readEnvelope(parser, true);
            return command != null && parser.nextToken() == null ? command : null;
        } catch (JacksonException | IllegalArgumentException e) {
            return null;
        }
    }

    /** Reads one envelope from its START_OBJECT (the next token); null if it is not in the canonical shape. */
    private static FederationCommand readEnvelope(JsonParser parser, boolean top) {
        if (parser.nextToken() != JsonToken.START_OBJECT || !"v".equals(parser.nextName())
                || parser.nextToken() != JsonToken.VALUE_NUMBER_INT || parser.getIntValue() != VERSION
                || !"type".equals(parser.nextName()) || parser.nextToken() != JsonToken.VALUE_STRING) {
            return null;
        }
        String type = parser.getString();
        if (!"command".equals(parser.nextName())) {
            return null;
        }
        FederationCommand command;
        if (APPLY_BATCH.equals(type)) {
            if (!top || parser.nextToken() != JsonToken.START_OBJECT || !"commands".equals(parser.nextName())
                    || parser.nextToken() != JsonToken.START_ARRAY) {
                return null;
            }
            List<FederationCommand> commands = new ArrayList<>();
            while (true) {
                FederationCommand element = readEnvelope(parser, false);
                if (element == null) {
                    if (parser.currentToken() == JsonToken.END_ARRAY && parser.nextToken() == JsonToken.END_OBJECT) {
                        break;
                    }
                    return null;
                }
                commands.add(element);
            }
            command = new ApplyBatch(commands);
        } else {
            tools.jackson.databind.ObjectReader reader = STREAMING_READERS.get(type);
            if (reader == null || parser.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            command = reader.readValue(parser);
        }
        return parser.nextToken() == JsonToken.END_OBJECT ? command : null;
    }

    /** Readers that stop at the end of the command's object: the envelope's closing brace follows. */
    private static final Map<String, tools.jackson.databind.ObjectReader> STREAMING_READERS = Map.of(
            "register-cluster", reader(RegisterCluster.class),
            "publish-cluster-state", reader(PublishClusterState.class),
            "publish-trust-roots", reader(PublishTrustRoots.class),
            "remove-cluster", reader(RemoveCluster.class),
            "publish-mesh-config", reader(PublishMeshConfig.class),
            "update-endpoints", reader(UpdateEndpoints.class));

    private static tools.jackson.databind.ObjectReader reader(Class<? extends FederationCommand> type) {
        return MAPPER.readerFor(type).without(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    }

    private static FederationCommand decodeTree(byte[] bytes) throws MalformedCommandException {
        JsonNode envelope;
        try {
            envelope = MAPPER.readTree(bytes);
        } catch (JacksonException e) {
            throw new MalformedCommandException("command payload of " + bytes.length
                    + " bytes is not JSON and does not start with the format-2 byte (expected: format 2, or "
                    + "{\"v\":" + VERSION + ",\"type\":...,\"command\":{...}}): " + e.getOriginalMessage(), e);
        }
        return decodeEnvelope(envelope, true);
    }

    private static FederationCommand decodeEnvelope(JsonNode envelope, boolean top) throws MalformedCommandException {
        if (envelope == null || !envelope.isObject()) {
            throw new MalformedCommandException("command payload is not a JSON object (expected: {\"v\":"
                    + VERSION + ",\"type\":...,\"command\":{...}})", null);
        }
        JsonNode version = envelope.get("v");
        if (version == null || !version.isInt() || version.intValue() != VERSION) {
            throw new MalformedCommandException("command version: " + version + " (expected: " + VERSION
                    + "; is a newer peer writing to this group?)", null);
        }
        JsonNode type = envelope.get("type");
        JsonNode body = envelope.get("command");
        if (type == null || !type.isString() || body == null || !body.isObject()) {
            throw new MalformedCommandException("command envelope: type=" + type
                    + " (expected: a type tag and a 'command' object)", null);
        }
        if (APPLY_BATCH.equals(type.stringValue())) {
            return decodeBatch(body.get("commands"), top);
        }
        Class<? extends FederationCommand> commandClass = commandClass(type.stringValue());
        try {
            return MAPPER.treeToValue(body, commandClass);
        } catch (JacksonException e) {
            throw new MalformedCommandException("command '" + type.stringValue() + "' is invalid: "
                    + rootMessage(e), e);
        }
    }

    static String typeTag(FederationCommand command) {
        if (command instanceof RegisterCluster) {
            return "register-cluster";
        } else if (command instanceof PublishClusterState) {
            return "publish-cluster-state";
        } else if (command instanceof PublishTrustRoots) {
            return "publish-trust-roots";
        } else if (command instanceof RemoveCluster) {
            return "remove-cluster";
        } else if (command instanceof PublishMeshConfig) {
            return "publish-mesh-config";
        } else if (command instanceof UpdateEndpoints) {
            return "update-endpoints";
        } else if (command instanceof ApplyBatch) {
            return APPLY_BATCH;
        }
        throw new IllegalArgumentException("command: " + command.getClass().getName()
                + " (expected: one of the FederationCommand records)");
    }

    private static Class<? extends FederationCommand> commandClass(String tag) throws MalformedCommandException {
        switch (tag) {
            case "register-cluster":
                return RegisterCluster.class;
            case "publish-cluster-state":
                return PublishClusterState.class;
            case "publish-trust-roots":
                return PublishTrustRoots.class;
            case "remove-cluster":
                return RemoveCluster.class;
            case "publish-mesh-config":
                return PublishMeshConfig.class;
            case "update-endpoints":
                return UpdateEndpoints.class;
            default:
                throw new MalformedCommandException("command type: '" + tag + "' (expected: register-cluster, "
                        + "publish-cluster-state, publish-trust-roots, remove-cluster, publish-mesh-config, "
                        + "update-endpoints or apply-batch)", null);
        }
    }

    private static FederationCommand decodeBatch(JsonNode commands, boolean top) throws MalformedCommandException {
        if (!top) {
            throw new MalformedCommandException("command 'apply-batch' nested in a batch (expected: plain commands "
                    + "inside a batch)", null);
        }
        if (commands == null || !commands.isArray()) {
            throw new MalformedCommandException("command 'apply-batch' has no 'commands' array (expected: "
                    + "{\"commands\":[{\"v\":" + VERSION + ",\"type\":...,\"command\":{...}},...]})", null);
        }
        List<FederationCommand> decoded = new ArrayList<>(commands.size());
        for (int i = 0; i < commands.size(); i++) {
            try {
                decoded.add(decodeEnvelope(commands.get(i), false));
            } catch (MalformedCommandException e) {
                throw new MalformedCommandException("command 'apply-batch', element " + i + ": " + e.getMessage(), e);
            }
        }
        try {
            return new ApplyBatch(decoded);
        } catch (IllegalArgumentException e) {
            throw new MalformedCommandException("command 'apply-batch' is invalid: " + e.getMessage(), e);
        }
    }

    /** The snapshot file's content: the model, with the trust bundle recomputed on load. */
    record SnapshotData(
            int format,
            long appliedIndex,
            Map<String, ClusterInfo> clusters,
            Map<String, ClusterState> clusterStates,
            Map<String, List<String>> rootsByCluster,
            Map<String, List<ConfigResource>> meshConfigByCluster) {

        SnapshotData {
            clusters = Map.copyOf(clusters);
            clusterStates = Map.copyOf(clusterStates);
            rootsByCluster = Map.copyOf(rootsByCluster);
            // Absent in snapshots written before mesh configuration was replicated.
            meshConfigByCluster = meshConfigByCluster == null ? Map.of() : Map.copyOf(meshConfigByCluster);
        }
    }

    /** The model in the {@linkplain #DEFAULT_FORMAT default format}. */
    static byte[] encodeSnapshot(FederationModel model) {
        return encodeSnapshot(model, DEFAULT_FORMAT);
    }

    static byte[] encodeSnapshot(FederationModel model, int format) {
        FederatedState s = model.state();
        if (format == FORMAT_BINARY) {
            return BinaryCodec.encodeSnapshot(new SnapshotData(SNAPSHOT_FORMAT_BINARY, s.appliedIndex(), s.clusters(),
                    s.clusterStates(), model.rootsByCluster(), model.meshConfigByCluster()));
        }
        checkFormat(format);
        return MAPPER.writeValueAsBytes(snapshotData(model));
    }

    private static SnapshotData snapshotData(FederationModel model) {
        FederatedState s = model.state();
        return new SnapshotData(SNAPSHOT_FORMAT, s.appliedIndex(), s.clusters(), s.clusterStates(),
                model.rootsByCluster(), model.meshConfigByCluster());
    }

    /**
     * The format-1 (JSON) snapshot encoding of {@code model}, streamed into {@code out}: what the
     * state hash is defined over, so it stays comparable between peers and versions whatever
     * format they write.
     */
    static void writeCanonicalJson(FederationModel model, java.io.OutputStream out) {
        MAPPER.writeValue(out, snapshotData(model));
    }

    /**
     * Decodes a snapshot of either format (told apart by the first byte).
     *
     * @throws IllegalStateException naming what is wrong when the bytes are no snapshot this version reads
     */
    static FederationModel decodeSnapshot(byte[] bytes) {
        SnapshotData data;
        if (bytes.length > 0 && bytes[0] == BinaryCodec.VERSION) {
            try {
                data = BinaryCodec.decodeSnapshot(bytes);
            } catch (MalformedCommandException e) {
                throw new IllegalStateException("snapshot of " + bytes.length + " bytes: " + e.getMessage(), e);
            }
        } else {
            data = MAPPER.readValue(bytes, SnapshotData.class);
            if (data.format() != SNAPSHOT_FORMAT) {
                throw new IllegalStateException("snapshot format: " + data.format() + " (expected: " + SNAPSHOT_FORMAT
                        + " in JSON, or the binary format " + SNAPSHOT_FORMAT_BINARY + "; written by a newer version?)");
            }
        }
        // Rebuild through the same path as the commands so the bundle is the canonical union.
        FederationModel model = new FederationModel(new FederatedState(data.appliedIndex(), data.clusters(),
                data.clusterStates(), List.of()), Map.of());
        for (Map.Entry<String, List<String>> roots : data.rootsByCluster().entrySet()) {
            FederationModel.Result result = model.apply(
                    new PublishTrustRoots(roots.getKey(), roots.getValue()), data.appliedIndex());
            if (result.rejected()) {
                throw new IllegalStateException("snapshot: " + result.rejectMessage());
            }
            model = result.model();
        }
        return new FederationModel(model.state(), model.rootsByCluster(), data.meshConfigByCluster());
    }

    /** The validation message of the record constructor that refused, else Jackson's own. */
    private static String rootMessage(JacksonException e) {
        for (Throwable t = e.getCause(); t != null && t != t.getCause(); t = t.getCause()) {
            if (!(t instanceof JacksonException) && t.getMessage() != null) {
                return t.getMessage();
            }
        }
        return e.getOriginalMessage();
    }

    /** Writes sets in sorted order: {@code Set.copyOf} iterates in an order that varies by JVM. */
    @SuppressWarnings({"rawtypes", "unchecked"})
    private static final class SortedSetSerializer extends StdSerializer<Set> {

        SortedSetSerializer() {
            super(Set.class);
        }

        @Override
        public void serialize(Set value, JsonGenerator gen, SerializationContext ctxt) {
            List<Object> sorted = new ArrayList<>(value);
            if (sorted.stream().allMatch(e -> e instanceof Comparable)
                    && sorted.stream().map(Object::getClass).distinct().count() <= 1) {
                sorted.sort((Comparator) Comparator.naturalOrder());
            } else {
                sorted.sort(Comparator.comparing(String::valueOf));
            }
            gen.writeStartArray();
            for (Object element : sorted) {
                ctxt.writeValue(gen, element);
            }
            gen.writeEndArray();
        }
    }
}
