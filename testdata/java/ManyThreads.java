import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A JVM with many live platform threads, to measure what a thread dump costs
 * as the thread count grows (scripts/bench-dumpcost.sh).
 *
 * Starts --threads N named threads that stay alive: most park forever
 * (LockSupport.park), every fourth sleeps in a loop (TIMED_WAITING), and
 * --busy of them alternate --spin-us of CPU work with 1 ms sleeps, so a
 * safepoint has running threads to reach. Each thread first descends
 * --depth frames, so its stack in a dump is more than one line. Prints
 * "ready" on stdout once every thread has started and reached its loop,
 * then lives for --seconds (0 = until killed).
 *
 * Usage: java ManyThreads [--threads N] [--busy N] [--depth N]
 *                         [--spin-us N] [--seconds N]
 */
public class ManyThreads {
    static final AtomicLong sink = new AtomicLong();
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
        try { Thread.sleep(ms); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }
    }

    /** Descends depth frames, then runs body: deeper stacks in the dump. */
    static void descend(int depth, Runnable body) {
        if (depth <= 0) {
            body.run();
            return;
        }
        descend(depth - 1, body);
    }

    public static void main(String[] args) throws Exception {
        int threads = 200, busy = 2, depth = 8, seconds = 0;
        long spinMicros = 1000;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--threads": threads = Integer.parseInt(args[++i]); break;
                case "--busy": busy = Integer.parseInt(args[++i]); break;
                case "--depth": depth = Integer.parseInt(args[++i]); break;
                case "--spin-us": spinMicros = Long.parseLong(args[++i]); break;
                case "--seconds": seconds = Integer.parseInt(args[++i]); break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (busy > threads) busy = threads;
        final CountDownLatch started = new CountDownLatch(threads);
        final int d = depth;
        final long spinUs = spinMicros;
        List<Thread> all = new ArrayList<>(threads);
        for (int i = 0; i < threads; i++) {
            final Runnable body;
            final String name;
            if (i < busy) {
                name = "busy-worker-" + i;
                body = () -> {
                    started.countDown();
                    while (!stop) {
                        spin(spinUs);
                        sleepMs(1);
                    }
                };
            } else if (i % 4 == 0) {
                name = "sleeping-poller-" + i;
                body = () -> {
                    started.countDown();
                    while (!stop) sleepMs(1000);
                };
            } else {
                name = "parked-pool-thread-" + i;
                body = () -> {
                    started.countDown();
                    while (!stop) LockSupport.park();
                };
            }
            Thread t = new Thread(() -> descend(d, body), name);
            t.setDaemon(true);
            all.add(t);
            t.start();
        }
        started.await();
        System.out.println("ready " + threads + " threads, " + busy + " busy");
        System.out.flush();
        if (seconds > 0) {
            Thread.sleep(seconds * 1000L);
        } else {
            Thread.sleep(Long.MAX_VALUE);
        }
        stop = true;
        for (Thread t : all) LockSupport.unpark(t);
    }
}
