package io.isthmus.controller.federation.bench;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The floor under a durable commit on this host: one 200-byte append to a preallocated file in
 * the temp directory (where {@link CommitBenchmark}'s peers keep their logs) followed by
 * {@code force(false)} (fdatasync), as the Raft log worker does per group commit. Run in the same
 * session as {@code CommitBenchmark.commitOne} to compare its p50 with this one.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class FsyncBenchmark {

    private static final int SIZE = 64 * 1024 * 1024;

    private Path file;
    private FileChannel channel;
    private final ByteBuffer entry = ByteBuffer.allocateDirect(200);
    private long position;

    @Setup(Level.Trial)
    public void open() throws IOException {
        file = Files.createTempFile("fsync-bench", ".log");
        channel = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.READ);
        // Preallocated and synced, as Ratis preallocates its segments: each append then only dirties data blocks.
        ByteBuffer zeros = ByteBuffer.allocateDirect(1024 * 1024);
        for (long at = 0; at < SIZE; at += zeros.capacity()) {
            zeros.clear();
            channel.write(zeros, at);
        }
        channel.force(true);
    }

    @TearDown(Level.Trial)
    public void close() throws IOException {
        channel.close();
        Files.deleteIfExists(file);
    }

    @Benchmark
    public long appendAndFdatasync() throws IOException {
        entry.clear();
        if (position + entry.capacity() > SIZE) {
            position = 0;
        }
        channel.write(entry, position);
        position += entry.capacity();
        channel.force(false);
        return position;
    }
}
