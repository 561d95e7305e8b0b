import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

/**
 * Throughput workload for the observer benchmark (scripts/bench-observer.sh):
 * a closed loop of requests of fixed work on named handler threads, with more
 * of them runnable than CPUs, so that what a tracer takes from the machine
 * shows up as fewer requests per second.
 *
 * Handler threads http-nio-8080-exec-1..N loop: a request is a fixed number
 * of iterations of a dependent integer loop (--work thousands; not a time,
 * so a preempted or slowed request does not do less work), then a think time
 * of --think-us µs (parked, so the thread sleeps and is woken). N handlers
 * each wanting work/(work+think) of a CPU ask for more CPU than the machine
 * has: they queue, and the throughput is set by the CPU they get.
 * Optionally a short-lived thread async-task-K is started every
 * --spawn-every-ms and serves requests for --spawn-life-ms (new threads
 * are what makes jschedlat take thread dumps).
 *
 * Every --report-ms a line is printed (and flushed) to stdout:
 *   count <epoch_ns> <requests completed since the start>
 * so that the completions of any window can be interpolated. At startup:
 *   ready <epoch_ns> handlers=<N> work=<K> think_us=<T>
 *
 * Usage: java ReqWorkload [--seconds N] [--handlers N] [--work K]
 *            [--think-us N] [--report-ms N] [--spawn-every-ms N] [--spawn-life-ms N]
 * Defaults: 30 s (0 = until killed), 12 handlers, work 300 (300,000
 * iterations, ~0.3 ms of CPU on a current x86 core), think 1000 µs, report
 * every 50 ms, no short-lived threads (spawn-life 300 ms when enabled).
 */
public class ReqWorkload {
    static final LongAdder done = new LongAdder();
    static final AtomicLong sink = new AtomicLong();
    static volatile boolean stop;

    static long nowNs() {
        Instant i = Instant.now();
        return i.getEpochSecond() * 1_000_000_000L + i.getNano();
    }

    /** One request's CPU work: k thousand steps of xorshift, each depending on the last. */
    static long work(int k, long seed) {
        long x = seed | 1;
        for (int j = 0; j < k; j++) {
            for (int i = 0; i < 1000; i++) {
                x ^= x << 13;
                x ^= x >>> 7;
                x ^= x << 17;
            }
        }
        return x;
    }

    static void serve(int k, long thinkNs, long untilNs) {
        long x = Thread.currentThread().getId();
        while (!stop && (untilNs == 0 || System.nanoTime() < untilNs)) {
            x = work(k, x);
            done.increment();
            if (thinkNs > 0) LockSupport.parkNanos(thinkNs);
        }
        sink.addAndGet(x); // keeps the loop from being optimised away
    }

    public static void main(String[] args) throws Exception {
        int seconds = 30, handlers = 12, k = 300;
        long thinkUs = 1000, reportMs = 50, spawnEvery = 0, spawnLife = 300;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--seconds": seconds = Integer.parseInt(args[++i]); break;
                case "--handlers": handlers = Integer.parseInt(args[++i]); break;
                case "--work": k = Integer.parseInt(args[++i]); break;
                case "--think-us": thinkUs = Long.parseLong(args[++i]); break;
                case "--report-ms": reportMs = Long.parseLong(args[++i]); break;
                case "--spawn-every-ms": spawnEvery = Long.parseLong(args[++i]); break;
                case "--spawn-life-ms": spawnLife = Long.parseLong(args[++i]); break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (handlers < 1 || k < 1 || thinkUs < 0 || reportMs < 1 || spawnEvery < 0 || spawnLife < 1) {
            throw new IllegalArgumentException("--handlers, --work, --report-ms, --spawn-life-ms must be >= 1; the others >= 0");
        }
        final int work = k;
        final long thinkNs = thinkUs * 1000;
        final long deadline = seconds > 0 ? System.nanoTime() + seconds * 1_000_000_000L : 0;

        List<Thread> threads = new ArrayList<>();
        for (int i = 1; i <= handlers; i++) {
            Thread t = new Thread(() -> serve(work, thinkNs, 0), "http-nio-8080-exec-" + i);
            t.setDaemon(true);
            threads.add(t);
        }
        final long every = reportMs;
        Thread reporter = new Thread(() -> {
            long next = System.nanoTime();
            while (!stop) {
                System.out.println("count " + nowNs() + " " + done.sum());
                System.out.flush();
                next += every * 1_000_000L;
                long d = next - System.nanoTime();
                if (d > 0) LockSupport.parkNanos(d);
            }
        }, "request-counter");
        reporter.setDaemon(true);
        for (Thread t : threads) t.start();
        reporter.start();
        System.out.println("ready " + nowNs() + " handlers=" + handlers + " work=" + k + " think_us=" + thinkUs);
        System.out.flush();

        int n = 0;
        while (deadline == 0 || System.nanoTime() < deadline) {
            if (spawnEvery == 0) {
                LockSupport.parkNanos(deadline == 0 ? 1_000_000_000L : Math.max(1, deadline - System.nanoTime()));
                continue;
            }
            n++;
            final long until = System.nanoTime() + spawnLife * 1_000_000L;
            Thread t = new Thread(() -> serve(work, thinkNs, until), "async-task-" + n);
            t.setDaemon(true);
            t.start();
            LockSupport.parkNanos(spawnEvery * 1_000_000L);
        }
        stop = true;
        System.out.println("done " + nowNs() + " " + done.sum() + " " + sink.get());
        System.out.flush();
    }
}
