import java.io.BufferedReader;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Ground truth for the virtual thread a carrier has mounted (JDK 21+).
 * Busy platform threads and virtual threads that burn CPU in chunks keep
 * more threads runnable than there are CPUs, so carriers are preempted with
 * a virtual thread mounted; between chunks the virtual threads sleep or
 * yield, so carriers switch between them.
 *
 * A virtual thread is not unmounted while it computes (no blocking call),
 * so around each chunk it knows its carrier: it reads the carrier's TID
 * (/proc/thread-self), System.nanoTime() (CLOCK_MONOTONIC), computes,
 * reads the time and the TID again. If both TIDs agree it was mounted on
 * that carrier over the whole span. Spans are kept between "go" and
 * --seconds later, then written to --truth, one per line:
 *   span <from ns> <to ns> <virtual thread id> <carrier TID>
 * and every platform thread's TID as:
 *   platform <TID>
 * then "done" is printed. It runs until stdin ends.
 *
 * Usage: java VCarrier [--busy N] [--vts N] [--seconds N] --truth FILE
 */
public class VCarrier {
    static final AtomicLong sink = new AtomicLong();
    static volatile boolean recording;

    static int myTid() {
        try {
            return Integer.parseInt(new File("/proc/thread-self").getCanonicalFile().getName());
        } catch (IOException | NumberFormatException e) {
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
        int busy = 3, vts = 8, seconds = 4;
        String truthPath = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--busy" -> busy = Integer.parseInt(args[++i]);
                case "--vts" -> vts = Integer.parseInt(args[++i]);
                case "--seconds" -> seconds = Integer.parseInt(args[++i]);
                case "--truth" -> truthPath = args[++i];
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        List<Integer> platform = new ArrayList<>();
        synchronized (platform) {
            platform.add(myTid());
        }
        for (int i = 0; i < busy; i++) {
            Thread t = new Thread(() -> {
                synchronized (platform) {
                    platform.add(myTid());
                }
                while (true) spin(1000);
            }, "busy-" + i);
            t.setDaemon(true);
            t.start();
        }
        List<List<long[]>> logs = new ArrayList<>();
        for (int i = 0; i < vts; i++) {
            List<long[]> log = new ArrayList<>();
            logs.add(log);
            Thread.ofVirtual().name("vt-" + i).start(() -> {
                long id = Thread.currentThread().threadId();
                ThreadLocalRandom rnd = ThreadLocalRandom.current();
                while (true) {
                    int c0 = myTid();
                    long t0 = System.nanoTime();
                    spin(1000 + rnd.nextInt(3000));
                    long t1 = System.nanoTime();
                    int c1 = myTid();
                    if (recording && c0 == c1 && c0 > 0) {
                        synchronized (log) {
                            log.add(new long[] {t0, t1, id, c0});
                        }
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
            });
        }
        System.out.println("ready");
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null && !line.equals("go")) {
        }
        if (line == null) return;
        recording = true;
        Thread.sleep(seconds * 1000L);
        recording = false;
        try (PrintWriter w = new PrintWriter(new OutputStreamWriter(new FileOutputStream(truthPath), StandardCharsets.UTF_8))) {
            for (List<long[]> log : logs) {
                synchronized (log) {
                    for (long[] e : log) w.println("span " + e[0] + " " + e[1] + " " + e[2] + " " + e[3]);
                }
            }
            synchronized (platform) {
                for (int tid : platform) w.println("platform " + tid);
            }
        }
        System.out.println("done");
        System.out.flush();
        while (in.readLine() != null) {
        }
        System.exit(0);
    }
}
