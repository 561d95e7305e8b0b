import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Virtual-thread workload for jschedlat's tests (JDK 21+): busy platform
 * threads keep the CPUs saturated while virtual threads burn CPU in short
 * chunks and unmount often (sleep or yield), so carriers switch between
 * virtual threads all the time.
 *
 * Ground truth: every virtual thread writes a line right after it is
 * (re)mounted (mark 0), after each chunk of work (1), and the last one
 * before it sleeps or yields, which may unmount it (2):
 *   <wall ns> <virtual thread id> <carrier native TID> <mark>
 * (the carrier's TID is what /proc/thread-self shows to the virtual
 * thread). If the last line on a carrier before an instant t has mark 0 or
 * 1, its virtual thread was still mounted there at t.
 *
 * Usage: java VWorkload [--seconds N] [--busy N] [--vts N] [--truth FILE]
 */
public class VWorkload {
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

    static void spin(long micros) {
        long end = System.nanoTime() + micros * 1000;
        long x = 0;
        while (System.nanoTime() < end) {
            for (int i = 0; i < 200; i++) x += i * 31 ^ x;
        }
        sink.addAndGet(x);
    }

    public static void main(String[] args) throws Exception {
        int seconds = 10, busy = 8, vts = 6;
        String truthPath = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--seconds" -> seconds = Integer.parseInt(args[++i]);
                case "--busy" -> busy = Integer.parseInt(args[++i]);
                case "--vts" -> vts = Integer.parseInt(args[++i]);
                case "--truth" -> truthPath = args[++i];
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        List<Thread> all = new ArrayList<>();
        for (int i = 0; i < busy; i++) {
            Thread t = new Thread(() -> {
                while (!stop) spin(1000);
            }, "busy-" + i);
            t.setDaemon(true);
            t.start();
        }
        List<List<long[]>> logs = new ArrayList<>();
        for (int i = 0; i < vts; i++) {
            List<long[]> log = new ArrayList<>();
            logs.add(log);
            all.add(Thread.ofVirtual().name("vt-" + i).start(() -> {
                long id = Thread.currentThread().threadId();
                ThreadLocalRandom rnd = ThreadLocalRandom.current();
                while (!stop) {
                    log.add(new long[] {nowNs(), id, myTid(), 0});
                    for (int k = 0; k < 4; k++) {
                        spin(2000);
                        log.add(new long[] {nowNs(), id, myTid(), k == 3 ? 2 : 1});
                    }
                    if (rnd.nextBoolean()) {
                        try {
                            Thread.sleep(1);
                        } catch (InterruptedException e) {
                            return;
                        }
                    } else {
                        Thread.yield();
                    }
                }
            }));
        }
        System.out.println("ready");
        System.out.flush();
        Thread.sleep(seconds * 1000L);
        stop = true;
        for (Thread t : all) t.join();
        if (truthPath != null) {
            try (PrintWriter w = new PrintWriter(new OutputStreamWriter(new FileOutputStream(truthPath), StandardCharsets.UTF_8))) {
                for (List<long[]> log : logs)
                    for (long[] e : log) w.println(e[0] + " " + e[1] + " " + e[2] + " " + e[3]);
            }
        }
    }
}
