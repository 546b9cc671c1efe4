#!/usr/bin/env python3
"""What one request costs each thread of the two bench sidecars at a fixed rate.

Runs `./isthmus bench proxy` on the mTLS path only (a short wrk warm-up, then h2load at a fixed
rate), and while h2load runs reads every thread of the client and server sidecars from /proc
twice, a few seconds apart: context switches (voluntary: the thread slept and was woken;
involuntary: it was preempted), CPU time and run-queue wait (schedstat), so each figure can be
divided by the requests sent in between (the fixed rate times the interval). With --perf it also
counts, per thread over the same interval, system calls, kernel timers armed (hrtimer_start:
every blocking wait with a deadline arms one), io_uring submissions and wake-ups, and records
who woke whom (sched_wakeup: the waker's thread and the woken thread).

    scripts/bench-threads.py [--address-base 197] [--rate 1000] [--rate-duration 16]
                             [--warmup 15] [--perf] [--profile] [--isthmus <command>]
                             [-- <more isthmus bench flags>]

e.g. `-- --concurrency 1` or `-- --jvm-option ...`. Needs root for --perf. Run it under the
machine's benchmark lock, like the bench itself.
"""

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")
PERF_EVENTS = ["sched:sched_switch", "sched:sched_wakeup", "raw_syscalls:sys_enter",
               "timer:hrtimer_start", "io_uring:io_uring_submit_req",
               "io_uring:io_uring_task_work_run", "io_uring:io_uring_queue_async_work"]


def pids_of(pattern):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if re.search(pattern, cmd):
            out.append(int(pid))
    return out


def threads(pid):
    """tid -> (name, voluntary, involuntary, cpu ns, run-queue wait ns)."""
    result = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        base = f"/proc/{pid}/task/{tid}"
        try:
            with open(f"{base}/status") as f:
                status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
            with open(f"{base}/schedstat") as f:
                run_ns, wait_ns, _ = (int(x) for x in f.read().split())
        except OSError:
            continue  # the thread ended meanwhile
        result[int(tid)] = (status["Name"].strip(), int(status["voluntary_ctxt_switches"]),
                            int(status["nonvoluntary_ctxt_switches"]), run_ns, wait_ns)
    return result


def perf_counts(path):
    """perf stat --per-thread -x, output -> {(tid, event): count}."""
    counts = {}
    with open(path) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) < 4 or not parts[1].strip().replace(".", "").isdigit():
                continue
            m = re.match(r"(.*)-(\d+)$", parts[0].strip())
            if m:
                counts[(int(m.group(2)), parts[3].strip())] = float(parts[1])
    return counts


def who_wakes_whom(path, tids):
    """perf script of sched_wakeup -> Counter of (waker thread, woken thread)."""
    pairs = collections.Counter()
    text = subprocess.run(["perf", "script", "-i", path, "-F", "comm,tid,trace"],
                          capture_output=True, text=True).stdout
    for line in text.splitlines():
        m = re.match(r"\s*(.+?)\s+(\d+)\s+comm=(.+?) pid=(\d+)", line)
        if not m:
            continue
        waker = tids.get(int(m.group(2)), m.group(1) + " (other)")
        woken = tids.get(int(m.group(4)), m.group(3) + " (outside the sidecars)")
        pairs[(waker, woken)] += 1
    return pairs


def idle_split(log):
    """Latency of requests sent after the path was idle against those sent while it was busy.

    h2load's connections send their requests together every 1/rps s, so requests come in
    bursts (starts under 200 µs apart); a burst that starts within 1 ms of the previous one
    finds the sidecars awake, one that starts later finds them asleep.
    """
    if not os.path.exists(log):
        return
    with open(log) as f:
        rows = sorted(tuple(int(x) for x in line.split()[:3]) for line in f if line.strip())
    after_idle, busy = [], []
    last = None
    current = after_idle
    for start, _, latency in rows:
        if last is None or start - last >= 200:
            current = after_idle if last is None or start - last >= 1000 else busy
        current.append(latency)
        last = start

    def pct(values, p):
        values = sorted(values)
        return values[min(len(values) - 1, int(len(values) * p))] / 1000 if values else float("nan")
    print("\nlatency by what came before each burst of requests (h2load log):")
    for name, values in (("burst after >= 1 ms without requests", after_idle),
                         ("burst within 1 ms of the previous", busy)):
        print(f"  {name:38} {len(values):6} requests  p50 {pct(values, .5):.2f} ms"
              f"  p90 {pct(values, .9):.2f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address-base", type=int, default=197)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--rate-duration", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--perf", action="store_true")
    parser.add_argument("--isthmus", default=os.path.join(ROOT, "isthmus"),
                        help="the command whose 'bench proxy ...' runs the bench (another"
                             " build's, to compare two builds in one quiet window)")
    parser.add_argument("--profile", action="store_true",
                        help="perf record (cpu-clock) of both sidecars over the window, JIT"
                             " symbols from jcmd Compiler.perfmap; prints the top symbols")
    parser.add_argument("bench_args", nargs="*")
    args = parser.parse_args()
    if args.rate_duration < 8:
        sys.exit("--rate-duration: at least 8 s (2 s settle, the window, 2 s spare)")
    base = args.address_base
    work = tempfile.mkdtemp(prefix="perf-latency-threads-")
    log = open(os.path.join(work, "bench.out"), "w")
    bench = subprocess.Popen(
        [args.isthmus, "bench", "proxy", "--paths", "isthmus-mtls",
         "--rate-paths", "isthmus-mtls", "--duration", "2", "--warmup", str(args.warmup),
         "--rate", str(args.rate), "--rate-duration", str(args.rate_duration),
         "--address-base", str(base), "--work-dir", work] + args.bench_args,
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 300
        h2load = []
        while not h2load:
            if bench.poll() is not None or time.time() > deadline:
                sys.exit(f"the bench ended before its fixed-rate run; see {work}/bench.out")
            h2load = pids_of(rf"^h2load .*http://127\.{base}\.2\.1:")
            time.sleep(0.2)
        sidecars = {"client": pids_of(rf"ProxyMain .*--pod-ip 127\.{base}\.1\.1 "),
                    "server": pids_of(rf"ProxyMain .*--pod-ip 127\.{base}\.1\.2 ")}
        if any(len(p) != 1 for p in sidecars.values()):
            sys.exit(f"sidecar processes not found or ambiguous: {sidecars}")
        pids = {side: p[0] for side, p in sidecars.items()}
        time.sleep(2)
        window = args.rate_duration - 4
        before = {side: threads(pid) for side, pid in pids.items()}
        t0 = time.monotonic()
        perf = []
        if args.perf:
            pid_list = ",".join(str(p) for p in pids.values())
            stat = os.path.join(work, "perf-stat.csv")
            rec = os.path.join(work, "perf-wakeup.data")
            perf.append(subprocess.Popen(
                ["perf", "stat", "--per-thread", "-x,", "-o", stat, "-e", ",".join(PERF_EVENTS),
                 "-p", pid_list, "--", "sleep", str(window)], stderr=subprocess.DEVNULL))
            perf.append(subprocess.Popen(
                ["perf", "record", "-q", "-o", rec, "-e", "sched:sched_wakeup", "-p", pid_list,
                 "--", "sleep", str(window)], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
        if args.profile:
            perf.append(subprocess.Popen(
                ["perf", "record", "-q", "-e", "cpu-clock", "-F", "4999", "-o",
                 os.path.join(work, "perf-cpu.data"), "-p",
                 ",".join(str(p) for p in pids.values()), "--", "sleep", str(window)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(window)
        after = {side: threads(pid) for side, pid in pids.items()}
        if args.profile:
            for pid in pids.values():
                done = subprocess.run(["jcmd", str(pid), "Compiler.perfmap"],
                                      capture_output=True, text=True)
                if done.returncode != 0 or not os.path.exists(f"/tmp/perf-{pid}.map"):
                    print(f"jcmd {pid} Compiler.perfmap failed (JIT frames stay unnamed):"
                          f" {done.stdout}{done.stderr}", file=sys.stderr)
        elapsed = time.monotonic() - t0
        for p in perf:
            p.wait()
        bench.wait()
    finally:
        if bench.poll() is None:
            bench.terminate()
            bench.wait()
        log.close()

    requests = args.rate * elapsed
    print(f"{args.rate} req/s, {elapsed:.1f} s window, ~{requests:.0f} requests;"
          f" bench flags: {' '.join(args.bench_args) or '(defaults)'}; raw files in {work}")
    print(f"{'sidecar':7} {'thread':28} {'vol cs/req':>10} {'invol/req':>9} {'CPU µs/req':>10}"
          f" {'runq wait µs/req':>16}")
    names = {}
    for side in ("client", "server"):
        totals = [0, 0, 0, 0]
        for tid, (name, vol, invol, run, wait) in sorted(after[side].items()):
            b = before[side].get(tid, (name, 0, 0, 0, 0))
            d = (vol - b[1], invol - b[2], run - b[3], wait - b[4])
            names[tid] = f"{side}:{name}"
            totals = [x + y for x, y in zip(totals, d)]
            if d[0] + d[1] == 0 and d[2] < 1000 * requests * 0.5:
                continue  # idle: no switch and under 0.5 ns of CPU per request
            print(f"{side:7} {name:28} {d[0] / requests:10.3f} {d[1] / requests:9.3f}"
                  f" {d[2] / 1000 / requests:10.2f} {d[3] / 1000 / requests:16.2f}")
        print(f"{side:7} {'(all threads)':28} {totals[0] / requests:10.3f}"
              f" {totals[1] / requests:9.3f} {totals[2] / 1000 / requests:10.2f}"
              f" {totals[3] / 1000 / requests:16.2f}")
    if args.perf:
        counts = perf_counts(os.path.join(work, "perf-stat.csv"))
        events = [e.split(":")[1] for e in PERF_EVENTS]
        print("\nper request, by thread (perf stat --per-thread over the same window):")
        print(f"{'thread':36} " + " ".join(f"{e[:14]:>14}" for e in events))
        for tid in sorted({t for t, _ in counts}):
            row = [counts.get((tid, e), 0) / requests for e in PERF_EVENTS]
            if sum(row) * requests < 10:
                continue
            print(f"{names.get(tid, str(tid)):36} " + " ".join(f"{v:14.3f}" for v in row))
        print("\nwake-ups per request, waker -> woken (sched_wakeup, same window):")
        for (waker, woken), n in who_wakes_whom(os.path.join(work, "perf-wakeup.data"),
                                                names).most_common(16):
            print(f"  {waker:36} -> {woken:40} {n / requests:8.3f}")
    if args.profile:
        data = os.path.join(work, "perf-cpu.data")
        for sort in ("comm,dso", "dso,sym"):
            report = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio",
                                     "--sort", sort, "--percent-limit", "0.7"],
                                    capture_output=True, text=True).stdout
            print(f"\nperf report --sort {sort} (cpu-clock, both sidecars):")
            print("\n".join(l for l in report.splitlines() if l and not l.startswith("#")))
    idle_split(os.path.join(work, "h2load-isthmus-mtls.log"))
    table = os.path.join(work, "table.txt")
    if os.path.exists(table):
        with open(table) as f:
            rows = f.read().split("Fixed rate", 1)
        if len(rows) == 2:
            print("\nFixed rate" + rows[1].rstrip())


if __name__ == "__main__":
    main()
