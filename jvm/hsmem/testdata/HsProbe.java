import java.io.FileInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

// HsProbe is the JVM the hsmem tests read. Every thread learns its own
// native TID from /proc/thread-self and prints it with its name (hex of
// the UTF-8, names hold any character):
//   T <hex name> <tid>          a parked platform thread (and main)
//   C <seq> <tid>               a churn thread: born "c<seq>", it then renames
//                               itself "churn-<tid>-<k>" / "チャーン-<tid>-<k>"
//   V <java id> <carrier tid>   a mounted virtual thread (JDK 21+)
//   G <collections>             with --garbage, every 50 ms: collections so far
// then "READY"; it exits when stdin closes. Compiled for Java 8: virtual
// threads are started through reflection.
//
// Usage: java HsProbe [--threads N] [--churn N] [--spin-vt] [--pinned-vt FIFO] [--garbage]
public class HsProbe {
    static final String[] NAMES = {
        "hs-worker-%d",
        "日本語スレッド-%d",
        "Zürich-Ärger-%d",
        "emoji-\uD83D\uDE00-%d",
        "a-very-long-thread-name-well-past-the-fifteen-bytes-of-comm-%d",
        "quote\"tab\t%d",
    };
    static final AtomicLong sink = new AtomicLong();

    // The link itself ("PID/task/TID"): JDK 8 and 11 cache canonical paths
    // (sun.io.useCanonCaches), which would give every thread the first's.
    static String tid() {
        try {
            return Files.readSymbolicLink(Paths.get("/proc/thread-self")).getFileName().toString();
        } catch (Exception e) {
            return "?";
        }
    }

    static String hex(String s) {
        StringBuilder b = new StringBuilder();
        for (byte x : s.getBytes(StandardCharsets.UTF_8)) {
            b.append(String.format("%02x", x & 0xff));
        }
        return b.toString();
    }

    static synchronized void say(String s) {
        System.out.println(s);
        System.out.flush();
    }

    static long threadId(Thread t) {
        try {
            return (Long) Thread.class.getMethod("threadId").invoke(t);
        } catch (Exception e) {
            return t.getId();
        }
    }

    static Thread startVirtual(String name, Runnable r) throws Exception {
        Object builder = Thread.class.getMethod("ofVirtual").invoke(null);
        Class<?> bc = Class.forName("java.lang.Thread$Builder");
        builder = bc.getMethod("name", String.class).invoke(builder, name);
        return (Thread) bc.getMethod("start", Runnable.class).invoke(builder, r);
    }

    static void churn(AtomicLong seq) {
        while (true) {
            long n = seq.incrementAndGet();
            Thread t = new Thread(() -> {
                String me = tid();
                say("C " + n + " " + me);
                for (int k = 0; k < 3; k++) {
                    Thread.currentThread().setName((k % 2 == 0 ? "churn-" : "チャーン-") + me + "-" + k);
                    LockSupport.parkNanos(200_000);
                }
            }, "c" + n);
            t.start();
            try {
                t.join();
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    // garbage allocates ~50 MB/s and keeps one array in 16 alive for a
    // while: the heap fills with sparse pages, which a compacting
    // collector (ZGC) moves, objects and thread names with them.
    static void garbage() {
        byte[][] kept = new byte[4096][];
        long last = 0;
        for (long i = 0; ; i++) {
            byte[] b = new byte[1024];
            if (i % 16 == 0) kept[(int) (i / 16 % kept.length)] = b;
            if (i % 50 == 0) LockSupport.parkNanos(1_000_000);
            long now = System.nanoTime();
            if (now - last > 50_000_000L) {
                last = now;
                long n = 0;
                for (java.lang.management.GarbageCollectorMXBean gc : java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()) {
                    n += Math.max(0, gc.getCollectionCount());
                }
                say("G " + n);
            }
        }
    }

    public static void main(String[] args) throws Exception {
        int threads = 0, churners = 0;
        boolean spin = false, garbage = false;
        String fifo = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--threads": threads = Integer.parseInt(args[++i]); break;
                case "--churn": churners = Integer.parseInt(args[++i]); break;
                case "--spin-vt": spin = true; break;
                case "--pinned-vt": fifo = args[++i]; break;
                case "--garbage": garbage = true; break;
                default: throw new IllegalArgumentException(args[i]);
            }
        }
        CountDownLatch started = new CountDownLatch(threads);
        for (int i = 0; i < threads; i++) {
            String name = String.format(NAMES[i % NAMES.length], i);
            Thread t = new Thread(() -> {
                say("T " + hex(Thread.currentThread().getName()) + " " + tid());
                started.countDown();
                while (true) LockSupport.park();
            }, name);
            t.setDaemon(true);
            t.start();
        }
        started.await();
        say("T " + hex(Thread.currentThread().getName()) + " " + tid());

        if (spin) {
            // Virtual threads are not time-sliced: a spinning one stays
            // mounted on its carrier.
            CountDownLatch up = new CountDownLatch(1);
            startVirtual("vt-spinner", () -> {
                say("V " + threadId(Thread.currentThread()) + " " + tid());
                up.countDown();
                long x = 0;
                while (true) {
                    x += System.nanoTime() % 7;
                    if (x == -1) sink.set(x);
                }
            });
            up.await();
        }
        if (fifo != null) {
            // A blocking file read pins the virtual thread to its carrier.
            String path = fifo;
            CountDownLatch up = new CountDownLatch(1);
            startVirtual("", () -> {
                say("V " + threadId(Thread.currentThread()) + " " + tid());
                up.countDown();
                try (FileInputStream in = new FileInputStream(path)) {
                    while (in.read() >= 0) {
                    }
                } catch (Exception e) {
                }
            });
            up.await();
        }
        AtomicLong seq = new AtomicLong();
        for (int i = 0; i < churners; i++) {
            Thread t = new Thread(() -> churn(seq), "churner-" + i);
            t.setDaemon(true);
            t.start();
        }
        if (garbage) {
            Thread t = new Thread(HsProbe::garbage, "garbage");
            t.setDaemon(true);
            t.start();
        }
        say("READY");
        while (System.in.read() >= 0) {
        }
        System.exit(0);
    }
}
