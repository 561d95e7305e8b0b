import java.io.BufferedWriter;
import java.io.File;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.RandomAccessFile;
import java.io.Writer;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Acceptance workload for jschedlat: a toy request server whose slow
 * requests are caused by CPU contention injected on known threads.
 *
 * Handler threads http-nio-8080-exec-1..N loop: a request is a fixed amount of CPU
 * work (--work-us of the thread's own CPU time, so a request waiting in the
 * run queue takes longer in wall time), then a think-time sleep (random,
 * so that handlers sharing a CPU do not fall into lock-step). Handlers 1
 * and 2 ("victims") pin themselves to CPU 1, the others to CPU 0. Threads
 * batch-cruncher-1..M pin themselves to CPU 1 too and, all in phase, spin for
 * --burst-ms then sleep for --pause-ms: during a burst the victims queue
 * behind them; the other handlers do not.
 *
 * Every request is one line of the app log (CSV):
 *   id,thread,start,end,duration_ms,runq_ns,victim
 * start and end are wall clock (Instant.now()) in epoch ns; runq_ns is the
 * ground truth: how much the thread's own run-queue time (second field of
 * /proc/thread-self/schedstat, as the kernel accounts it) grew between the
 * start and the end of the request. Each of start and end is taken between
 * two schedstat reads that agree (else it is taken again), so that no wait
 * ends between a timestamp and its read: the kernel adds a wait to
 * run_delay when it ends, and a thread preempted after taking start and
 * before its first read (or after its last read and before taking end)
 * waited inside [start, end] without the reads seeing it. On a busy
 * machine that was 3-6% of the requests that waited, by whole waits (up
 * to 28 ms in a request). The log is written when the run ends (or on
 * SIGTERM).
 *
 * Usage: java AppWorkload [--seconds N] [--app-log FILE] [--ready FILE]
 *            [--handlers N] [--work-us N] [--think-min-ms N] [--think-max-ms N]
 *            [--crunchers N] [--burst-ms N] [--pause-ms N] [--nice N]
 * Defaults: 10 s, 4 handlers, 2000 µs of CPU per request, think time
 * uniform in [10, 20) ms, 3 crunchers, bursts of 500 ms every 1000 ms.
 * The think time is long against the work so that two handlers sharing a
 * CPU seldom queue behind each other: with 3-5 ms, the handlers away from
 * the crunchers waited a third to half as much as the victims, and the
 * injected contention no longer stood out.
 * --nice N (negative needs root) gives handlers and crunchers alike that
 * nice value: the contention between them is unchanged, while other work
 * on a shared machine (nice 0) disturbs them much less.
 * The ready file is written (atomically, holding the PID) once every thread
 * is pinned and running.
 */
public class AppWorkload {
    static final int VICTIMS = 2;
    static volatile boolean stop;
    static final AtomicLong requestIds = new AtomicLong();
    static final AtomicLong sink = new AtomicLong();
    static final List<Handler> handlers = new ArrayList<>();
    static String appLog = "app.csv";
    static boolean logWritten;

    static long nowNs() {
        Instant i = Instant.now();
        return i.getEpochSecond() * 1_000_000_000L + i.getNano();
    }

    static int myTid() throws IOException {
        return Integer.parseInt(new File("/proc/thread-self").getCanonicalFile().getName());
    }

    static void die(String msg) {
        System.err.println("AppWorkload: " + msg);
        System.err.flush();
        Runtime.getRuntime().halt(2);
    }

    static int nice; // 0: leave the threads' nice value alone

    static void run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            die(String.join(" ", cmd) + " failed: " + out.trim());
        }
    }

    /**
     * Pins the calling thread to one CPU with taskset(1), and checks it;
     * with --nice, also sets its nice value with renice(1).
     */
    static void pinSelf(int cpu) {
        String tid = "?";
        try {
            tid = Integer.toString(myTid());
            run("taskset", "-p", "-c", Integer.toString(cpu), tid);
            if (nice != 0) {
                run("renice", "-n", Integer.toString(nice), "-p", tid);
            }
            for (String l : Files.readAllLines(Paths.get("/proc/thread-self/status"))) {
                if (l.startsWith("Cpus_allowed_list:") && !l.substring(18).trim().equals(Integer.toString(cpu))) {
                    die("thread " + tid + " is not pinned to CPU " + cpu + " after taskset: " + l);
                }
            }
        } catch (IOException e) {
            die("cannot pin thread " + tid + " to CPU " + cpu + " (are taskset and renice from util-linux installed?): " + e);
        } catch (InterruptedException e) {
            die("interrupted while pinning");
        }
    }

    /** The thread's own schedstat: [cpu time ns, run-queue time ns]. */
    static final class SchedStat {
        final RandomAccessFile f;
        final byte[] buf = new byte[128];

        SchedStat() throws IOException {
            f = new RandomAccessFile("/proc/thread-self/schedstat", "r");
        }

        /** Run-queue time so far (ns), re-read from the kernel. */
        long runDelay() throws IOException {
            f.seek(0);
            int n = f.read(buf, 0, buf.length);
            int i = 0;
            while (i < n && buf[i] != ' ') i++; // skip cpu time
            i++;
            long v = 0;
            for (; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) v = v * 10 + (buf[i] - '0');
            return v;
        }
    }

    static final ThreadMXBean mx = ManagementFactory.getThreadMXBean();

    /** Burns the given amount of this thread's own CPU time. */
    static void work(long cpuNs) {
        long until = mx.getCurrentThreadCpuTime() + cpuNs;
        long x = 0;
        do {
            for (int i = 0; i < 2000; i++) x += i * 31 ^ x;
        } while (mx.getCurrentThreadCpuTime() < until);
        sink.addAndGet(x);
    }

    static void sleepMs(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A handler thread and the requests it served (no allocation per request). */
    static final class Handler extends Thread {
        final boolean victim;
        final int cpu;
        final long workNs, thinkMinNs, thinkMaxNs;
        final SplittableRandom rnd;
        final CountDownLatch pinned;
        long[] ids = new long[1024], starts = new long[1024], ends = new long[1024], runq = new long[1024];
        int n;

        Handler(int i, boolean victim, int cpu, long workNs, long thinkMinMs, long thinkMaxMs, CountDownLatch pinned) {
            super("http-nio-8080-exec-" + i);
            this.victim = victim;
            this.cpu = cpu;
            this.workNs = workNs;
            this.thinkMinNs = thinkMinMs * 1_000_000L;
            this.thinkMaxNs = Math.max(thinkMaxMs * 1_000_000L, thinkMinNs + 1);
            this.rnd = new SplittableRandom(i);
            this.pinned = pinned;
            setDaemon(true);
        }

        @Override
        public void run() {
            pinSelf(cpu);
            SchedStat ss;
            try {
                ss = new SchedStat();
            } catch (IOException e) {
                die("cannot read /proc/thread-self/schedstat: " + e);
                return;
            }
            pinned.countDown();
            try {
                while (!stop) {
                    long id = requestIds.incrementAndGet();
                    // Each timestamp between two reads that agree (see above).
                    long d0 = ss.runDelay(), start;
                    for (long d; ; d0 = d) {
                        start = nowNs();
                        if ((d = ss.runDelay()) == d0) break;
                    }
                    work(workNs);
                    long d1 = ss.runDelay(), end;
                    for (long d; ; d1 = d) {
                        end = nowNs();
                        if ((d = ss.runDelay()) == d1) break;
                    }
                    add(id, start, end, d1 - d0);
                    // A random think time, so that two handlers sharing a
                    // CPU do not fall into lock-step, one always queued
                    // behind the other.
                    long until = System.nanoTime() + rnd.nextLong(thinkMinNs, thinkMaxNs);
                    for (long left; !stop && (left = until - System.nanoTime()) > 0; ) {
                        LockSupport.parkNanos(left);
                    }
                }
            } catch (IOException e) {
                die("reading schedstat: " + e);
            }
        }

        void add(long id, long start, long end, long delay) {
            if (n == ids.length) {
                ids = java.util.Arrays.copyOf(ids, 2 * n);
                starts = java.util.Arrays.copyOf(starts, 2 * n);
                ends = java.util.Arrays.copyOf(ends, 2 * n);
                runq = java.util.Arrays.copyOf(runq, 2 * n);
            }
            ids[n] = id;
            starts[n] = start;
            ends[n] = end;
            runq[n] = delay;
            n++;
        }
    }

    /** A cruncher: all crunchers spin in the same bursts, then sleep. */
    static Thread cruncher(int i, long epoch, long burstNs, long periodNs, CountDownLatch pinned) {
        Thread t = new Thread(() -> {
            pinSelf(1);
            pinned.countDown();
            long x = 0;
            while (!stop) {
                long ph = Math.floorMod(System.nanoTime() - epoch, periodNs);
                if (ph < burstNs) {
                    long until = System.nanoTime() + burstNs - ph;
                    while (!stop && System.nanoTime() < until) {
                        for (int k = 0; k < 2000; k++) x += k * 31 ^ x;
                    }
                } else {
                    long ms = (periodNs - ph) / 1_000_000L;
                    sleepMs(Math.max(ms, 1));
                }
            }
            sink.addAndGet(x);
        }, "batch-cruncher-" + i);
        t.setDaemon(true);
        return t;
    }

    /** Writes the app log, ordered by request id (once). */
    static synchronized void writeLog() throws IOException {
        if (logWritten) {
            return;
        }
        logWritten = true;
        int total = 0;
        for (Handler h : handlers) total += h.n;
        long[][] rows = new long[total][];
        int k = 0;
        for (int hi = 0; hi < handlers.size(); hi++) {
            Handler h = handlers.get(hi);
            for (int i = 0; i < h.n; i++) rows[k++] = new long[] {h.ids[i], hi, i};
        }
        java.util.Arrays.sort(rows, (a, b) -> Long.compare(a[0], b[0]));
        Path tmp = Paths.get(appLog + ".tmp");
        try (Writer w = new BufferedWriter(new OutputStreamWriter(Files.newOutputStream(tmp), StandardCharsets.UTF_8), 1 << 16)) {
            w.write("id,thread,start,end,duration_ms,runq_ns,victim\n");
            StringBuilder sb = new StringBuilder();
            for (long[] r : rows) {
                Handler h = handlers.get((int) r[1]);
                int i = (int) r[2];
                long d = h.ends[i] - h.starts[i];
                sb.setLength(0);
                sb.append("req-").append(h.ids[i]).append(',').append(h.getName()).append(',')
                        .append(h.starts[i]).append(',').append(h.ends[i]).append(',')
                        .append(d / 1_000_000L).append('.').append(String.format("%03d", (d / 1000L) % 1000L)).append(',')
                        .append(h.runq[i]).append(',').append(h.victim).append('\n');
                w.write(sb.toString());
            }
        }
        Files.move(tmp, Paths.get(appLog), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        System.err.println("AppWorkload: " + total + " requests written to " + appLog);
    }

    static void finish() {
        stop = true;
        for (Handler h : handlers) {
            try {
                h.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            writeLog();
        } catch (IOException e) {
            System.err.println("AppWorkload: writing " + appLog + ": " + e);
        }
    }

    public static void main(String[] args) throws Exception {
        int seconds = 10, nHandlers = 4, crunchers = 3;
        long workUs = 2000, thinkMinMs = 10, thinkMaxMs = 20, burstMs = 500, pauseMs = 500;
        String ready = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--seconds": seconds = Integer.parseInt(args[++i]); break;
                case "--app-log": appLog = args[++i]; break;
                case "--ready": ready = args[++i]; break;
                case "--handlers": nHandlers = Integer.parseInt(args[++i]); break;
                case "--work-us": workUs = Long.parseLong(args[++i]); break;
                case "--think-min-ms": thinkMinMs = Long.parseLong(args[++i]); break;
                case "--think-max-ms": thinkMaxMs = Long.parseLong(args[++i]); break;
                case "--crunchers": crunchers = Integer.parseInt(args[++i]); break;
                case "--burst-ms": burstMs = Long.parseLong(args[++i]); break;
                case "--pause-ms": pauseMs = Long.parseLong(args[++i]); break;
                case "--nice": nice = Integer.parseInt(args[++i]); break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        // Precondition: contention is injected on CPU 1 while CPU 0 serves
        // the other handlers.
        int cpus = Runtime.getRuntime().availableProcessors();
        if (cpus < 2) {
            die("needs at least 2 CPUs (CPU 0 and CPU 1 usable by this process), has " + cpus
                    + ": the contention is injected on CPU 1 only");
        }
        if (nHandlers <= VICTIMS) {
            die("--handlers must be more than " + VICTIMS + " (handlers 1.." + VICTIMS + " are the victims)");
        }
        if (!mx.isCurrentThreadCpuTimeSupported()) {
            die("thread CPU time not supported by this JVM");
        }
        Runtime.getRuntime().addShutdownHook(new Thread(AppWorkload::finish, "app-log-writer"));

        CountDownLatch pinned = new CountDownLatch(nHandlers + crunchers);
        for (int i = 1; i <= nHandlers; i++) {
            boolean victim = i <= VICTIMS;
            handlers.add(new Handler(i, victim, victim ? 1 : 0, workUs * 1000L, thinkMinMs, thinkMaxMs, pinned));
        }
        long epoch = System.nanoTime();
        List<Thread> all = new ArrayList<>(handlers);
        for (int i = 1; i <= crunchers; i++) {
            all.add(cruncher(i, epoch, burstMs * 1_000_000L, (burstMs + pauseMs) * 1_000_000L, pinned));
        }
        final long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        for (Thread t : all) t.start();
        pinned.await();
        if (ready != null) {
            Path tmp = Paths.get(ready + ".tmp");
            Files.write(tmp, (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.UTF_8));
            Files.move(tmp, Paths.get(ready), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
        long rest = (deadline - System.nanoTime()) / 1_000_000L;
        if (rest > 0) sleepMs(rest);
        finish();
        long victimsRunq = 0;
        for (Handler h : handlers) {
            for (int i = 0; h.victim && i < h.n; i++) victimsRunq += h.runq[i];
        }
        if (victimsRunq == 0) {
            // No ground truth: the kernel did not account run-queue time.
            System.err.println("AppWorkload: WARNING: run-queue time (schedstat) never grew for the victims:"
                    + " enable it with sysctl kernel.task_delayacct=1 (or kernel.sched_schedstats=1)");
        }
        System.err.println("AppWorkload: done (" + sink.get() + ")");
        System.exit(0);
    }
}
