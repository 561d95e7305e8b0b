import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Soak workload for jschedlat (scripts/soak.sh): everything that could make
 * the tracer's per-thread state grow over days, at a moderate CPU cost.
 *
 *   churn     --births-per-sec N short-lived threads (default 50/s), named
 *             req-<n> with n never repeating, each living --life-ms (a
 *             little CPU work and a sleep), then ending. At 50/s the host's
 *             TIDs wrap around kernel.pid_max (32768 by default) every ~11
 *             minutes, so TIDs get reused by other threads.
 *   renamers  --renamers N threads that rename themselves every
 *             --rename-ms with an increasing number (renamer-<k>-<n>), as
 *             request-tagging code does (Thread.currentThread().setName).
 *   victim    one thread renamed by another thread every --victim-ms
 *             (victim-<n>): HotSpot does not update its kernel name then.
 *   pool      --pool N threads with stable names (pool-worker-<k>) running
 *             small tasks submitted by a dispatcher.
 *   spinners  --spinners N threads that alternate --spin-ms of CPU work
 *             with --rest-ms of sleep: with more demand than CPUs, threads
 *             wait in the run queue (default 3 spinners at ~80% on 2 CPUs).
 *
 * Prints "ready" on stdout once everything runs, then every --stats-every
 * seconds one line "stats births=<threads started> renames=<self-renames>
 * foreign=<foreign renames> tasks=<pool tasks>". Lives for --seconds
 * (0 = until killed).
 *
 * Usage: java ChurnWorkload.java [--births-per-sec N] [--life-ms N]
 *        [--renamers N] [--rename-ms N] [--victim-ms N] [--pool N]
 *        [--spinners N] [--spin-ms N] [--rest-ms N] [--stats-every N]
 *        [--seconds N]
 */
public class ChurnWorkload {
    static final AtomicLong sink = new AtomicLong();
    static final AtomicLong births = new AtomicLong();
    static final AtomicLong renames = new AtomicLong();
    static final AtomicLong foreign = new AtomicLong();
    static final AtomicLong tasks = new AtomicLong();
    static volatile boolean stop;

    /** Burns roughly the given number of microseconds of CPU. */
    static void spin(long micros) {
        long end = System.nanoTime() + micros * 1000;
        long x = 0;
        while (System.nanoTime() < end) {
            for (int i = 0; i < 200; i++) x += i * 31 ^ x;
        }
        sink.addAndGet(x);
    }

    static void sleepMs(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static Thread daemon(String name, Runnable r) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        t.start();
        return t;
    }

    public static void main(String[] args) throws Exception {
        int birthsPerSec = 50, lifeMs = 20, renamers = 4, renameMs = 100, victimMs = 1000;
        int pool = 8, spinners = 3, spinMs = 20, restMs = 5, statsEvery = 5, seconds = 0;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--births-per-sec": birthsPerSec = Integer.parseInt(args[++i]); break;
                case "--life-ms": lifeMs = Integer.parseInt(args[++i]); break;
                case "--renamers": renamers = Integer.parseInt(args[++i]); break;
                case "--rename-ms": renameMs = Integer.parseInt(args[++i]); break;
                case "--victim-ms": victimMs = Integer.parseInt(args[++i]); break;
                case "--pool": pool = Integer.parseInt(args[++i]); break;
                case "--spinners": spinners = Integer.parseInt(args[++i]); break;
                case "--spin-ms": spinMs = Integer.parseInt(args[++i]); break;
                case "--rest-ms": restMs = Integer.parseInt(args[++i]); break;
                case "--stats-every": statsEvery = Integer.parseInt(args[++i]); break;
                case "--seconds": seconds = Integer.parseInt(args[++i]); break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }

        List<Thread> started = new ArrayList<>();

        // CPU contention: more demand than CPUs, in bursts, so threads wait
        // in the run queue after wakeups and are preempted.
        for (int k = 0; k < spinners; k++) {
            final long spinUs = spinMs * 1000L, rest = restMs;
            started.add(daemon("spinner-" + k, () -> {
                while (!stop) {
                    spin(spinUs);
                    if (rest > 0) sleepMs(rest);
                }
            }));
        }

        // Self-renaming threads: a new kernel name every time.
        for (int k = 0; k < renamers; k++) {
            final int id = k;
            final long every = renameMs;
            started.add(daemon("renamer-" + k + "-0", () -> {
                long n = 0;
                while (!stop) {
                    spin(200);
                    sleepMs(every);
                    Thread.currentThread().setName("renamer-" + id + "-" + (++n));
                    renames.incrementAndGet();
                }
            }));
        }

        // A thread renamed by another thread: its kernel name stays stale.
        Thread victim = null;
        if (victimMs > 0) {
            victim = daemon("victim-0", () -> {
                while (!stop) {
                    spin(200);
                    sleepMs(50);
                }
            });
            started.add(victim);
        }

        // A pool with stable names, fed small tasks.
        AtomicInteger poolSeq = new AtomicInteger();
        ThreadFactory tf = r -> {
            Thread t = new Thread(r, "pool-worker-" + poolSeq.getAndIncrement());
            t.setDaemon(true);
            return t;
        };
        ExecutorService exec = pool > 0 ? Executors.newFixedThreadPool(pool, tf) : null;
        if (exec != null) {
            started.add(daemon("dispatcher", () -> {
                while (!stop) {
                    for (int i = 0; i < 4; i++) {
                        exec.execute(() -> {
                            spin(300);
                            tasks.incrementAndGet();
                        });
                    }
                    sleepMs(10);
                }
            }));
        }

        // Thread churn: unique names, never repeated.
        if (birthsPerSec > 0) {
            final long periodNs = 1_000_000_000L / birthsPerSec;
            final long life = lifeMs;
            started.add(daemon("churner", () -> {
                long n = 0;
                long next = System.nanoTime();
                while (!stop) {
                    Thread t = new Thread(() -> {
                        spin(Math.min(life * 1000 / 4, 2000));
                        sleepMs(life);
                        spin(100);
                    }, "req-" + (n++));
                    t.setDaemon(true);
                    t.start();
                    births.incrementAndGet();
                    next += periodNs;
                    long wait = next - System.nanoTime();
                    if (wait > 0) {
                        try {
                            TimeUnit.NANOSECONDS.sleep(wait);
                        } catch (InterruptedException e) {
                            return;
                        }
                    } else if (wait < -1_000_000_000L) {
                        next = System.nanoTime(); // fell behind: do not burst
                    }
                }
            }));
        }

        System.out.println("ready");
        System.out.flush();

        long end = seconds > 0 ? System.nanoTime() + seconds * 1_000_000_000L : Long.MAX_VALUE;
        long nextStats = System.nanoTime() + statsEvery * 1_000_000_000L;
        long nextVictim = System.nanoTime() + victimMs * 1_000_000L;
        long v = 0;
        while (System.nanoTime() < end) {
            sleepMs(100);
            long now = System.nanoTime();
            if (victim != null && now >= nextVictim) {
                victim.setName("victim-" + (++v));
                foreign.incrementAndGet();
                nextVictim += victimMs * 1_000_000L;
            }
            if (now >= nextStats) {
                System.out.println("stats births=" + births.get() + " renames=" + renames.get()
                        + " foreign=" + foreign.get() + " tasks=" + tasks.get());
                System.out.flush();
                nextStats += statsEvery * 1_000_000_000L;
            }
        }
        stop = true;
        if (exec != null) {
            exec.shutdown();
            exec.awaitTermination(5, TimeUnit.SECONDS);
        }
        for (Thread t : started) t.join(5000);
        System.out.println("stats births=" + births.get() + " renames=" + renames.get()
                + " foreign=" + foreign.get() + " tasks=" + tasks.get());
    }
}
