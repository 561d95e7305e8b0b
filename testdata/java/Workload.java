import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Demo and test workload for jschedlat: named Java threads that mix CPU work
 * and short sleeps, more runnable threads than CPUs (so they queue), threads
 * that live well under a second, and threads that rename themselves.
 *
 * Every thread reports its own native TID (from /proc/thread-self) and its
 * Java name with wall-clock ns timestamps to the ground-truth file:
 *   start <ns> <tid> <name>
 *   rename <ns-before> <ns-after> <tid> <new name>
 *   end <ns> <tid>
 * Names are written last on the line and may contain spaces; they never
 * contain newlines here.
 *
 * Usage: java Workload [--seconds N] [--workers N] [--hogs N] [--truth FILE]
 *                      [--short-every-ms N] [--short-life-ms N]
 */
public class Workload {
    static PrintWriter truth;
    static final AtomicLong sink = new AtomicLong();
    static volatile boolean stop;

    static long nowNs() {
        Instant i = Instant.now();
        return i.getEpochSecond() * 1_000_000_000L + i.getNano();
    }

    static int myTid() {
        try {
            return Integer.parseInt(new File("/proc/thread-self").getCanonicalFile().getName());
        } catch (IOException e) {
            return -1;
        }
    }

    static synchronized void say(String line) {
        if (truth != null) {
            truth.println(line);
            truth.flush();
        }
    }

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
        try { Thread.sleep(ms); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }
    }

    /** A request-like loop: CPU work then a short sleep, until stopped or the deadline. */
    static void work(long untilNs, long spinMicros, long sleepMs) {
        while (!stop && System.nanoTime() < untilNs) {
            spin(spinMicros);
            sleepMs(sleepMs);
        }
    }

    static Thread named(String name, Runnable body) {
        Thread t = new Thread(() -> {
            int tid = myTid();
            say("start " + nowNs() + " " + tid + " " + Thread.currentThread().getName());
            try {
                body.run();
            } finally {
                say("end " + nowNs() + " " + tid);
            }
        }, name);
        t.setDaemon(true);
        return t;
    }

    public static void main(String[] args) throws Exception {
        int seconds = 30, workers = 6, hogs = 2;
        long shortEvery = 700, shortLife = 300;
        String truthFile = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--seconds": seconds = Integer.parseInt(args[++i]); break;
                case "--workers": workers = Integer.parseInt(args[++i]); break;
                case "--hogs": hogs = Integer.parseInt(args[++i]); break;
                case "--truth": truthFile = args[++i]; break;
                case "--short-every-ms": shortEvery = Long.parseLong(args[++i]); break;
                case "--short-life-ms": shortLife = Long.parseLong(args[++i]); break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (truthFile != null) {
            truth = new PrintWriter(new OutputStreamWriter(new FileOutputStream(truthFile), StandardCharsets.UTF_8));
        }
        say("start " + nowNs() + " " + myTid() + " " + Thread.currentThread().getName());
        final long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        List<Thread> threads = new ArrayList<>();

        // Long-lived pool workers: names longer than 15 bytes that share their
        // first 15 bytes, so the kernel's comm cannot tell them apart.
        for (int i = 1; i <= workers; i++) {
            final int n = i;
            threads.add(named("order-matcher-worker-" + n, () -> work(deadline, 1500 + 300 * n, 1)));
        }
        // CPU hogs that rarely sleep: they keep both CPUs busy (preemption).
        for (int i = 1; i <= hogs; i++) {
            threads.add(named("risk-calculator-hog-" + i, () -> work(deadline, 20_000, 0)));
        }
        // Threads that rename themselves half-way through their life.
        for (int i = 1; i <= 2; i++) {
            final int n = i;
            threads.add(named("settlement-batch-before-" + n, () -> {
                long mid = System.nanoTime() + (deadline - System.nanoTime()) / 2;
                work(mid, 1200, 2);
                long before = nowNs();
                Thread.currentThread().setName("settlement-batch-after-rename-" + n);
                long after = nowNs();
                say("rename " + before + " " + after + " " + myTid() + " " + Thread.currentThread().getName());
                work(deadline, 1200, 2);
            }));
        }
        for (Thread t : threads) t.start();

        // Short-lived threads, each well under a second.
        int k = 0;
        final long life = shortLife;
        while (System.nanoTime() < deadline - (life + 200) * 1_000_000L) {
            k++;
            Thread t = named("payment-callback-short-lived-" + k,
                    () -> work(System.nanoTime() + life * 1_000_000L, 800, 1));
            t.start();
            sleepMs(shortEvery);
        }
        long rest = (deadline - System.nanoTime()) / 1_000_000L;
        if (rest > 0) sleepMs(rest);
        stop = true;
        for (Thread t : threads) t.join(2000);
        say("done " + nowNs() + " " + sink.get());
        if (truth != null) truth.close();
    }
}
