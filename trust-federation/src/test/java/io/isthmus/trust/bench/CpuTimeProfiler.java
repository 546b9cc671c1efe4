package io.isthmus.trust.bench;

import java.lang.management.ManagementFactory;
import java.util.Collection;
import java.util.List;

import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.profile.InternalProfiler;
import org.openjdk.jmh.results.AggregationPolicy;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.ScalarResult;

/**
 * Throughput per CPU-second of the benchmark JVM ({@code -prof io.isthmus.trust.bench.CpuTimeProfiler}).
 *
 * <p>Why: on a shared 2-core machine, a single-threaded benchmark gets only part of a core, so its
 * ops/s measure the neighbours as much as the code. Dividing by the CPU time the fork actually
 * used (all its threads: the benchmark thread, and JIT and GC, which are part of the cost) gives
 * the figure "per core" means. Reported as secondary results {@code ·ops/cpu-s} (throughput mode
 * only) and {@code ·cpu/wall} (how much of a core the fork got).
 */
public final class CpuTimeProfiler implements InternalProfiler {

    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    private long cpuStart;
    private long wallStart;

    @Override
    public String getDescription() {
        return "throughput per CPU-second of the benchmark JVM";
    }

    @Override
    public void beforeIteration(BenchmarkParams benchmarkParams, IterationParams iterationParams) {
        wallStart = System.nanoTime();
        cpuStart = OS.getProcessCpuTime();
    }

    @Override
    public Collection<? extends Result> afterIteration(BenchmarkParams benchmarkParams, IterationParams iterationParams,
            IterationResult result) {
        double cpu = (OS.getProcessCpuTime() - cpuStart) / 1e9;
        double wall = (System.nanoTime() - wallStart) / 1e9;
        if (cpu <= 0 || wall <= 0) {
            return List.of();
        }
        double opsPerSecond = result.getPrimaryResult().getScore();
        return List.of(
                new ScalarResult("ops/cpu-s", opsPerSecond * wall / cpu, "ops/cpu-s", AggregationPolicy.AVG),
                new ScalarResult("cpu/wall", cpu / wall, "cores", AggregationPolicy.AVG));
    }
}
