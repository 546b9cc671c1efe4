package io.isthmus.controller.federation;

import io.isthmus.discovery.Endpoint;
import io.isthmus.discovery.Locality;
import io.isthmus.discovery.ServiceKey;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * Encode and decode cost of the two log formats on one thread: a one-endpoint delta (what the
 * publisher sends per endpoint change, decoded on every replica) and a group-commit batch of 64
 * of them. The encoded sizes are printed at setup ("encoded bytes"). In this package, not in
 * {@code bench/}, because the codec is package-private.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class CodecBenchmark {

    @Param({"1", "2"})
    public int format;

    private UpdateEndpoints delta;
    private ApplyBatch batch;
    private byte[] deltaBytes;
    private byte[] batchBytes;

    @Setup
    public void setUp() {
        ServiceKey service = new ServiceKey("bench", "svc");
        List<FederationCommand> deltas = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            deltas.add(new UpdateEndpoints("east", List.of(new Endpoint(service, "10.0." + (i >> 8) + '.' + (i & 255),
                    Map.of("http", 8080), true, new Locality("r", "z", ""), "east", "net1", "svc", "svc-" + i,
                    Map.of("app", "svc", "version", "v1"))), List.of()));
        }
        delta = (UpdateEndpoints) deltas.get(0);
        batch = new ApplyBatch(deltas);
        deltaBytes = CommandCodec.encode(delta, format);
        batchBytes = CommandCodec.encode(batch, format);
        System.out.printf("encoded bytes, format %d: delta %d, batch of 64 %d%n", format, deltaBytes.length,
                batchBytes.length);
    }

    @Benchmark
    public byte[] encodeDelta() {
        return CommandCodec.encode(delta, format);
    }

    @Benchmark
    public FederationCommand decodeDelta() throws Exception {
        return CommandCodec.decode(deltaBytes);
    }

    @Benchmark
    public FederationCommand decodeBatchOf64() throws Exception {
        return CommandCodec.decode(batchBytes);
    }
}
