package io.isthmus.controller.federation;

import io.isthmus.controller.config.ConfigResource;
import io.isthmus.discovery.ClusterInfo;
import io.isthmus.discovery.ClusterState;
import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.MeshService;
import io.isthmus.discovery.NetworkGateway;
import io.isthmus.discovery.ServiceKey;
import io.isthmus.discovery.ServicePort;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Format 2 of commands and snapshots: a version byte ({@value #VERSION}), a type byte, then the
 * record components in declaration order, with no field names. Canonical like format 1: maps are
 * written by sorted key, sets sorted, so equal values encode to equal bytes.
 *
 * <ul>
 *   <li>Integers are unsigned LEB128 varints (signed ones zigzag-encoded first); booleans one byte.
 *   <li>Lists and maps: a varint count, then the elements (map: key, value).
 *   <li>Strings go through a table local to one encoding (one command, or one whole snapshot):
 *       varint {@code length << 1} then the UTF-8 bytes the first time a string occurs, varint
 *       {@code index << 1 | 1} after that. Endpoints repeat their cluster, network, locality,
 *       service account and labels, so a repeat costs one or two bytes and decodes to the same
 *       {@code String} instance.
 *   <li>A batch is {@code 2, TYPE_APPLY_BATCH, int32 count}, then per command {@code int32 length}
 *       and the command's own format-2 encoding (fixed-width lengths, so the group commit splices
 *       encodings it already has and knows the overhead up front).
 * </ul>
 *
 * <p>Decoding runs the records' constructors, so a decoded command is as valid as one built in
 * code; anything that does not parse (truncated, trailing bytes, bad reference, bad UTF-8 length)
 * fails with the offset and what was expected.
 */
final class BinaryCodec {

    static final byte VERSION = 2;

    static final byte TYPE_REGISTER_CLUSTER = 1;
    static final byte TYPE_PUBLISH_CLUSTER_STATE = 2;
    static final byte TYPE_PUBLISH_TRUST_ROOTS = 3;
    static final byte TYPE_REMOVE_CLUSTER = 4;
    static final byte TYPE_PUBLISH_MESH_CONFIG = 5;
    static final byte TYPE_UPDATE_ENDPOINTS = 6;
    static final byte TYPE_APPLY_BATCH = 7;
    /** Not a command: the type byte of a snapshot file, so a snapshot never decodes as a command or back. */
    static final byte TYPE_SNAPSHOT = 0x53;

    /** Version, type and command count of a batch, then a 4-byte length per command. */
    static final int BATCH_HEADER = 6;
    static final int BATCH_PER_COMMAND = 4;

    private BinaryCodec() {
    }

    static byte[] encode(FederationCommand command) {
        if (command instanceof ApplyBatch batch) {
            List<byte[]> encoded = new ArrayList<>(batch.commands().size());
            batch.commands().forEach(c -> encoded.add(encode(c)));
            return encodeBatch(encoded);
        }
        Out out = new Out(128);
        out.writeByte(VERSION);
        if (command instanceof RegisterCluster c) {
            out.writeByte(TYPE_REGISTER_CLUSTER);
            writeClusterInfo(out, c.cluster());
        } else if (command instanceof PublishClusterState c) {
            out.writeByte(TYPE_PUBLISH_CLUSTER_STATE);
            writeClusterState(out, c.state());
        } else if (command instanceof PublishTrustRoots c) {
            out.writeByte(TYPE_PUBLISH_TRUST_ROOTS);
            out.writeString(c.cluster());
            writeStrings(out, c.rootsPem());
        } else if (command instanceof RemoveCluster c) {
            out.writeByte(TYPE_REMOVE_CLUSTER);
            out.writeString(c.cluster());
        } else if (command instanceof PublishMeshConfig c) {
            out.writeByte(TYPE_PUBLISH_MESH_CONFIG);
            out.writeString(c.cluster());
            writeConfig(out, c.resources());
        } else if (command instanceof UpdateEndpoints c) {
            out.writeByte(TYPE_UPDATE_ENDPOINTS);
            out.writeString(c.cluster());
            out.writeVarint(c.upserted().size());
            for (Endpoint endpoint : c.upserted()) {
                writeEndpoint(out, endpoint);
            }
            out.writeVarint(c.removed().size());
            for (UpdateEndpoints.EndpointRef ref : c.removed()) {
                writeServiceKey(out, ref.service());
                out.writeString(ref.address());
            }
        } else {
            throw new IllegalArgumentException("command: " + command.getClass().getName()
                    + " (expected: one of the FederationCommand records)");
        }
        return out.toByteArray();
    }

    /** A batch of commands each already encoded by {@link #encode}: their bytes are copied, not re-encoded. */
    static byte[] encodeBatch(List<byte[]> encodedCommands) {
        int size = BATCH_HEADER + BATCH_PER_COMMAND * encodedCommands.size();
        for (byte[] command : encodedCommands) {
            if (command.length < 2 || command[0] != VERSION || command[1] == TYPE_APPLY_BATCH) {
                throw new IllegalArgumentException("batch element of " + command.length + " bytes (expected: a "
                        + "format-2 encoding of a plain command, as encode writes it)");
            }
            size += command.length;
        }
        Out out = new Out(size);
        out.writeByte(VERSION);
        out.writeByte(TYPE_APPLY_BATCH);
        out.writeInt(encodedCommands.size());
        for (byte[] command : encodedCommands) {
            out.writeInt(command.length);
            out.writeBytes(command, 0, command.length);
        }
        return out.toByteArray();
    }

    static FederationCommand decode(byte[] bytes) throws CommandCodec.MalformedCommandException {
        In in = new In(bytes, 0, bytes.length);
        FederationCommand command = readCommand(in, true);
        in.expectEnd();
        return command;
    }

    private static FederationCommand readCommand(In in, boolean top) throws CommandCodec.MalformedCommandException {
        int version = in.readByte();
        if (version != VERSION) {
            throw in.malformed("version byte " + version + " (expected: " + VERSION + ")");
        }
        int type = in.readByte();
        try {
            switch (type) {
                case TYPE_REGISTER_CLUSTER:
                    return new RegisterCluster(readClusterInfo(in));
                case TYPE_PUBLISH_CLUSTER_STATE:
                    return new PublishClusterState(readClusterState(in));
                case TYPE_PUBLISH_TRUST_ROOTS:
                    return new PublishTrustRoots(in.readString(), readStrings(in));
                case TYPE_REMOVE_CLUSTER:
                    return new RemoveCluster(in.readString());
                case TYPE_PUBLISH_MESH_CONFIG:
                    return new PublishMeshConfig(in.readString(), readConfig(in));
                case TYPE_UPDATE_ENDPOINTS: {
                    String cluster = in.readString();
                    int upserts = in.readCount();
                    List<Endpoint> upserted = new ArrayList<>(upserts);
                    for (int i = 0; i < upserts; i++) {
                        upserted.add(readEndpoint(in));
                    }
                    int removals = in.readCount();
                    List<UpdateEndpoints.EndpointRef> removed = new ArrayList<>(removals);
                    for (int i = 0; i < removals; i++) {
                        removed.add(new UpdateEndpoints.EndpointRef(readServiceKey(in), in.readString()));
                    }
                    return new UpdateEndpoints(cluster, upserted, removed);
                }
                case TYPE_APPLY_BATCH:
                    if (!top) {
                        throw in.malformed("command 'apply-batch' nested in a batch (expected: plain commands "
                                + "inside a batch)");
                    }
                    return readBatch(in);
                default:
                    throw in.malformed("command type byte " + type + " (expected: 1-7: register-cluster, "
                            + "publish-cluster-state, publish-trust-roots, remove-cluster, publish-mesh-config, "
                            + "update-endpoints, apply-batch)");
            }
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new CommandCodec.MalformedCommandException("command '" + tagOf(type) + "' is invalid: "
                    + e.getMessage(), e);
        }
    }

    private static ApplyBatch readBatch(In in) throws CommandCodec.MalformedCommandException {
        int count = in.readInt();
        if (count < 1 || count > ApplyBatch.MAX_COMMANDS) {
            throw in.malformed("batch of " + count + " commands (expected: 1 to " + ApplyBatch.MAX_COMMANDS + ")");
        }
        List<FederationCommand> commands = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int length = in.readInt();
            In element = in.slice(length);
            try {
                commands.add(readCommand(element, false));
                element.expectEnd();
            } catch (CommandCodec.MalformedCommandException e) {
                throw new CommandCodec.MalformedCommandException("command 'apply-batch', element " + i + ": "
                        + e.getMessage(), e);
            }
        }
        return new ApplyBatch(commands);
    }

    private static String tagOf(int type) {
        return switch (type) {
            case TYPE_REGISTER_CLUSTER -> "register-cluster";
            case TYPE_PUBLISH_CLUSTER_STATE -> "publish-cluster-state";
            case TYPE_PUBLISH_TRUST_ROOTS -> "publish-trust-roots";
            case TYPE_REMOVE_CLUSTER -> "remove-cluster";
            case TYPE_PUBLISH_MESH_CONFIG -> "publish-mesh-config";
            case TYPE_UPDATE_ENDPOINTS -> "update-endpoints";
            case TYPE_APPLY_BATCH -> CommandCodec.APPLY_BATCH;
            default -> "type " + type;
        };
    }

    // ---- snapshot

    static byte[] encodeSnapshot(CommandCodec.SnapshotData data) {
        Out out = new Out(1 << 16);
        out.writeByte(VERSION);
        out.writeByte(TYPE_SNAPSHOT);
        out.writeVarlong(data.appliedIndex());
        writeByName(out, data.clusters(), BinaryCodec::writeClusterInfo);
        writeByName(out, data.clusterStates(), BinaryCodec::writeClusterState);
        writeByName(out, data.rootsByCluster(), BinaryCodec::writeStrings);
        writeByName(out, data.meshConfigByCluster(), BinaryCodec::writeConfig);
        return out.toByteArray();
    }

    static CommandCodec.SnapshotData decodeSnapshot(byte[] bytes) throws CommandCodec.MalformedCommandException {
        In in = new In(bytes, 0, bytes.length);
        int version = in.readByte();
        int type = in.readByte();
        if (version != VERSION || type != TYPE_SNAPSHOT) {
            throw in.malformed("snapshot header " + version + "," + type + " (expected: " + VERSION + ","
                    + TYPE_SNAPSHOT + ")");
        }
        try {
            long appliedIndex = in.readVarlong();
            Map<String, ClusterInfo> clusters = readByName(in, BinaryCodec::readClusterInfo);
            Map<String, ClusterState> states = readByName(in, BinaryCodec::readClusterState);
            Map<String, List<String>> roots = readByName(in, BinaryCodec::readStrings);
            Map<String, List<ConfigResource>> config = readByName(in, BinaryCodec::readConfig);
            in.expectEnd();
            return new CommandCodec.SnapshotData(CommandCodec.SNAPSHOT_FORMAT_BINARY, appliedIndex, clusters, states,
                    roots, config);
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new CommandCodec.MalformedCommandException("snapshot holds an invalid value: " + e.getMessage(), e);
        }
    }

    private interface Writer<T> {
        void write(Out out, T value);
    }

    private interface Reader<T> {
        T read(In in) throws CommandCodec.MalformedCommandException;
    }

    /** A map by cluster name: the count, then name and value in name order. */
    private static <T> void writeByName(Out out, Map<String, T> map, Writer<T> writer) {
        List<String> names = sorted(map.keySet());
        out.writeVarint(names.size());
        for (String name : names) {
            out.writeString(name);
            writer.write(out, map.get(name));
        }
    }

    private static <T> Map<String, T> readByName(In in, Reader<T> reader) throws CommandCodec.MalformedCommandException {
        int n = in.readCount();
        Map<String, T> map = new HashMap<>(n * 2);
        for (int i = 0; i < n; i++) {
            String name = in.readString();
            if (map.put(name, reader.read(in)) != null) {
                throw in.malformed("cluster '" + name + "' twice in one map (expected: unique names)");
            }
        }
        return map;
    }

    private static List<String> sorted(Set<String> keys) {
        String[] array = keys.toArray(new String[0]);
        Arrays.sort(array);
        return Arrays.asList(array);
    }

    // ---- values

    private static void writeClusterInfo(Out out, ClusterInfo info) {
        out.writeString(info.name());
        out.writeString(info.network());
        writeLocality(out, info.locality());
        out.writeString(info.controllerAddress());
    }

    private static ClusterInfo readClusterInfo(In in) throws CommandCodec.MalformedCommandException {
        return new ClusterInfo(in.readString(), in.readString(), readLocality(in), in.readString());
    }

    private static void writeLocality(Out out, Locality locality) {
        out.writeString(locality.region());
        out.writeString(locality.zone());
        out.writeString(locality.subzone());
    }

    private static Locality readLocality(In in) throws CommandCodec.MalformedCommandException {
        return new Locality(in.readString(), in.readString(), in.readString());
    }

    private static void writeServiceKey(Out out, ServiceKey key) {
        out.writeString(key.namespace());
        out.writeString(key.name());
    }

    private static ServiceKey readServiceKey(In in) throws CommandCodec.MalformedCommandException {
        return new ServiceKey(in.readString(), in.readString());
    }

    private static void writeClusterState(Out out, ClusterState state) {
        out.writeString(state.cluster());
        out.writeString(state.network());
        out.writeVarint(state.services().size());
        for (MeshService service : state.services()) {
            writeService(out, service);
        }
        out.writeVarint(state.endpoints().size());
        for (Endpoint endpoint : state.endpoints()) {
            writeEndpoint(out, endpoint);
        }
        out.writeVarint(state.gateways().size());
        for (NetworkGateway gateway : state.gateways()) {
            out.writeString(gateway.network());
            out.writeString(gateway.cluster());
            out.writeString(gateway.address());
            out.writeSignedVarint(gateway.port());
        }
    }

    private static ClusterState readClusterState(In in) throws CommandCodec.MalformedCommandException {
        String cluster = in.readString();
        String network = in.readString();
        int n = in.readCount();
        List<MeshService> services = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            services.add(readService(in));
        }
        n = in.readCount();
        List<Endpoint> endpoints = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            endpoints.add(readEndpoint(in));
        }
        n = in.readCount();
        List<NetworkGateway> gateways = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            gateways.add(new NetworkGateway(in.readString(), in.readString(), in.readString(), in.readSignedVarint()));
        }
        return new ClusterState(cluster, network, services, endpoints, gateways);
    }

    private static void writeService(Out out, MeshService service) {
        writeServiceKey(out, service.key());
        out.writeString(service.hostname());
        out.writeVarint(service.ports().size());
        for (ServicePort port : service.ports()) {
            out.writeString(port.name());
            out.writeSignedVarint(port.port());
            out.writeSignedVarint(port.targetPort());
            out.writeString(port.protocol());
        }
        writeStringMap(out, service.labels());
        writeStrings(out, sorted(service.exportTo()));
        out.writeBoolean(service.headless());
        out.writeBoolean(service.clusterSetExport());
        writeStrings(out, service.addresses());
    }

    private static MeshService readService(In in) throws CommandCodec.MalformedCommandException {
        ServiceKey key = readServiceKey(in);
        String hostname = in.readString();
        int n = in.readCount();
        List<ServicePort> ports = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            ports.add(new ServicePort(in.readString(), in.readSignedVarint(), in.readSignedVarint(), in.readString()));
        }
        Map<String, String> labels = readStringMap(in);
        List<String> exportTo = readStrings(in);
        boolean headless = in.readBoolean();
        boolean clusterSetExport = in.readBoolean();
        return new MeshService(key, hostname, ports, labels, Set.copyOf(exportTo), headless, clusterSetExport,
                readStrings(in));
    }

    private static void writeEndpoint(Out out, Endpoint endpoint) {
        writeServiceKey(out, endpoint.service());
        out.writeString(endpoint.address());
        Map<String, Integer> ports = endpoint.ports();
        out.writeVarint(ports.size());
        for (String name : sortedKeys(ports)) {
            out.writeString(name);
            out.writeSignedVarint(ports.get(name));
        }
        out.writeBoolean(endpoint.ready());
        writeLocality(out, endpoint.locality());
        out.writeString(endpoint.cluster());
        out.writeString(endpoint.network());
        out.writeString(endpoint.serviceAccount());
        out.writeString(endpoint.workload());
        writeStringMap(out, endpoint.labels());
    }

    private static Endpoint readEndpoint(In in) throws CommandCodec.MalformedCommandException {
        ServiceKey service = readServiceKey(in);
        String address = in.readString();
        int n = in.readCount();
        Map<String, Integer> ports = new HashMap<>(n * 2);
        for (int i = 0; i < n; i++) {
            String name = in.readString();
            if (ports.put(name, in.readSignedVarint()) != null) {
                throw in.malformed("port name '" + name + "' twice in one endpoint (expected: unique keys)");
            }
        }
        boolean ready = in.readBoolean();
        Locality locality = readLocality(in);
        return new Endpoint(service, address, ports, ready, locality, in.readString(), in.readString(), in.readString(),
                in.readString(), readStringMap(in));
    }

    private static void writeConfig(Out out, List<ConfigResource> resources) {
        out.writeVarint(resources.size());
        for (ConfigResource r : resources) {
            out.writeString(r.kind());
            out.writeString(r.apiVersion());
            out.writeString(r.namespace());
            out.writeString(r.name());
            out.writeString(r.creationTimestamp());
            out.writeString(r.spec());
        }
    }

    private static List<ConfigResource> readConfig(In in) throws CommandCodec.MalformedCommandException {
        int n = in.readCount();
        List<ConfigResource> resources = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            resources.add(new ConfigResource(in.readString(), in.readString(), in.readString(), in.readString(),
                    in.readString(), in.readString()));
        }
        return resources;
    }

    private static void writeStrings(Out out, List<String> strings) {
        out.writeVarint(strings.size());
        for (String s : strings) {
            out.writeString(s);
        }
    }

    private static List<String> readStrings(In in) throws CommandCodec.MalformedCommandException {
        int n = in.readCount();
        List<String> strings = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            strings.add(in.readString());
        }
        return strings;
    }

    private static void writeStringMap(Out out, Map<String, String> map) {
        out.writeVarint(map.size());
        for (String key : sortedKeys(map)) {
            out.writeString(key);
            out.writeString(map.get(key));
        }
    }

    private static Map<String, String> readStringMap(In in) throws CommandCodec.MalformedCommandException {
        int n = in.readCount();
        if (n == 0) {
            return Map.of();
        }
        Map<String, String> map = new HashMap<>(n * 2);
        for (int i = 0; i < n; i++) {
            String key = in.readString();
            if (map.put(key, in.readString()) != null) {
                throw in.malformed("map key '" + key + "' twice (expected: unique keys)");
            }
        }
        return map;
    }

    private static String[] sortedKeys(Map<String, ?> map) {
        String[] keys = map.keySet().toArray(new String[0]);
        if (keys.length > 1) {
            Arrays.sort(keys);
        }
        return keys;
    }

    /** A growing byte array with the string table of one encoding. */
    private static final class Out {
        private byte[] buf;
        private int pos;
        private final HashMap<String, Integer> strings = new HashMap<>();

        Out(int capacity) {
            buf = new byte[capacity];
        }

        private void ensure(int more) {
            if (pos + more > buf.length) {
                buf = Arrays.copyOf(buf, Math.max(buf.length * 2, pos + more));
            }
        }

        void writeByte(int b) {
            ensure(1);
            buf[pos++] = (byte) b;
        }

        void writeBoolean(boolean b) {
            writeByte(b ? 1 : 0);
        }

        void writeInt(int v) {
            ensure(4);
            buf[pos++] = (byte) (v >>> 24);
            buf[pos++] = (byte) (v >>> 16);
            buf[pos++] = (byte) (v >>> 8);
            buf[pos++] = (byte) v;
        }

        void writeVarint(int v) {
            ensure(5);
            while ((v & ~0x7F) != 0) {
                buf[pos++] = (byte) ((v & 0x7F) | 0x80);
                v >>>= 7;
            }
            buf[pos++] = (byte) v;
        }

        void writeSignedVarint(int v) {
            writeVarint((v << 1) ^ (v >> 31));
        }

        void writeVarlong(long v) {
            long z = (v << 1) ^ (v >> 63);
            ensure(10);
            while ((z & ~0x7FL) != 0) {
                buf[pos++] = (byte) ((z & 0x7F) | 0x80);
                z >>>= 7;
            }
            buf[pos++] = (byte) z;
        }

        void writeBytes(byte[] bytes, int offset, int length) {
            ensure(length);
            System.arraycopy(bytes, offset, buf, pos, length);
            pos += length;
        }

        void writeString(String s) {
            Integer known = strings.get(s);
            if (known != null) {
                writeVarint(known << 1 | 1);
                return;
            }
            strings.put(s, strings.size());
            int length = s.length();
            int mark = pos;
            // Most strings are ASCII: then the UTF-8 length is the char count, and the chars are the bytes.
            writeVarint(length << 1);
            ensure(length);
            for (int i = 0; i < length; i++) {
                char c = s.charAt(i);
                if (c >= 0x80) {
                    pos = mark;
                    byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
                    writeVarint(utf8.length << 1);
                    writeBytes(utf8, 0, utf8.length);
                    return;
                }
                buf[pos++] = (byte) c;
            }
        }

        byte[] toByteArray() {
            return pos == buf.length ? buf : Arrays.copyOf(buf, pos);
        }
    }

    /** Reads one encoding; every read checks bounds, so truncated input fails with its offset. */
    private static final class In {
        private final byte[] buf;
        private final int start;
        private final int limit;
        private int pos;
        private final List<String> strings = new ArrayList<>();

        In(byte[] buf, int start, int limit) {
            this.buf = buf;
            this.start = start;
            this.limit = limit;
            this.pos = start;
        }

        CommandCodec.MalformedCommandException malformed(String what) {
            return new CommandCodec.MalformedCommandException("format-2 payload of " + (limit - start) + " bytes, at "
                    + "byte " + (pos - start) + ": " + what, null);
        }

        private void need(int n) throws CommandCodec.MalformedCommandException {
            if (n < 0 || limit - pos < n) {
                throw malformed("truncated, " + (limit - pos) + " bytes left where " + n + " are needed (expected: "
                        + "a whole format-2 encoding)");
            }
        }

        int readByte() throws CommandCodec.MalformedCommandException {
            need(1);
            return buf[pos++];
        }

        boolean readBoolean() throws CommandCodec.MalformedCommandException {
            int b = readByte();
            if (b != 0 && b != 1) {
                throw malformed("boolean byte " + b + " (expected: 0 or 1)");
            }
            return b == 1;
        }

        int readInt() throws CommandCodec.MalformedCommandException {
            need(4);
            int v = (buf[pos] & 0xFF) << 24 | (buf[pos + 1] & 0xFF) << 16 | (buf[pos + 2] & 0xFF) << 8 | buf[pos + 3] & 0xFF;
            pos += 4;
            return v;
        }

        int readVarint() throws CommandCodec.MalformedCommandException {
            int v = 0;
            for (int shift = 0; shift < 35; shift += 7) {
                int b = readByte();
                v |= (b & 0x7F) << shift;
                if ((b & 0x80) == 0) {
                    return v;
                }
            }
            throw malformed("varint longer than 5 bytes (expected: a 32-bit value)");
        }

        int readSignedVarint() throws CommandCodec.MalformedCommandException {
            int z = readVarint();
            return (z >>> 1) ^ -(z & 1);
        }

        long readVarlong() throws CommandCodec.MalformedCommandException {
            long z = 0;
            for (int shift = 0; shift < 70; shift += 7) {
                int b = readByte();
                z |= (long) (b & 0x7F) << shift;
                if ((b & 0x80) == 0) {
                    return (z >>> 1) ^ -(z & 1);
                }
            }
            throw malformed("varint longer than 10 bytes (expected: a 64-bit value)");
        }

        /** A count of elements that follow, each at least one byte: bounded by the bytes left. */
        int readCount() throws CommandCodec.MalformedCommandException {
            int n = readVarint();
            if (n < 0 || n > limit - pos) {
                throw malformed("count " + (n & 0xFFFFFFFFL) + " with " + (limit - pos) + " bytes left (expected: "
                        + "at most one element per byte)");
            }
            return n;
        }

        String readString() throws CommandCodec.MalformedCommandException {
            int header = readVarint();
            if ((header & 1) == 1) {
                int index = header >>> 1;
                if (index >= strings.size()) {
                    throw malformed("string reference " + index + " (expected: below " + strings.size()
                            + ", a string seen before)");
                }
                return strings.get(index);
            }
            int length = header >>> 1;
            need(length);
            String s = new String(buf, pos, length, StandardCharsets.UTF_8);
            pos += length;
            strings.add(s);
            return s;
        }

        In slice(int length) throws CommandCodec.MalformedCommandException {
            need(length);
            In slice = new In(buf, pos, pos + length);
            pos += length;
            return slice;
        }

        void expectEnd() throws CommandCodec.MalformedCommandException {
            if (pos != limit) {
                throw malformed((limit - pos) + " trailing bytes (expected: the end of the encoding)");
            }
        }
    }
}
