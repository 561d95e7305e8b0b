import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;

// TidProbe starts threads with awkward names; each thread learns its own
// native TID from /proc/thread-self. It prints one line per thread,
// "<hex of the UTF-8 name>=<tid>" (hex, because names hold newlines and the
// console encoding is unknown), then "READY", and exits when stdin closes.
// Compiled for Java 17, so it starts virtual threads through reflection.
public class TidProbe {
    static final String[] NAMES = {
        "probe-worker-1",
        "quote\"inside",
        "tab\there",
        "line1\nline2",
        "日本語スレッド",
        "a-very-long-thread-name-exceeding-fifteen-chars",
        "comma, and = sign",
    };

    static String tid() {
        try {
            return new File("/proc/thread-self").getCanonicalFile().getName();
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

    static void sleepForever() {
        try {
            Thread.sleep(Long.MAX_VALUE);
        } catch (InterruptedException e) {
        }
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> tids = new ConcurrentHashMap<>();
        CountDownLatch started = new CountDownLatch(NAMES.length);
        for (String n : NAMES) {
            Thread t = new Thread(() -> {
                tids.put(Thread.currentThread().getName(), tid());
                started.countDown();
                sleepForever();
            }, n);
            t.setDaemon(true);
            t.start();
        }
        started.await();
        tids.put(Thread.currentThread().getName(), tid());

        // A spinning virtual thread stays mounted, so its carrier prints
        // "Carrying virtual thread #N" (JDK 21+).
        boolean vt = false;
        try {
            Object builder = Thread.class.getMethod("ofVirtual").invoke(null);
            Class<?> bc = Class.forName("java.lang.Thread$Builder");
            builder = bc.getMethod("name", String.class).invoke(builder, "probe-vt-spinner");
            Runnable spin = () -> {
                long x = 0;
                while (true) {
                    x += System.nanoTime() % 7;
                    if (x == -1) System.out.println(x);
                }
            };
            bc.getMethod("start", Runnable.class).invoke(builder, spin);
            vt = true;
        } catch (Exception e) {
            // JDK < 21: no virtual threads.
        }

        for (Map.Entry<String, String> e : tids.entrySet()) {
            System.out.println(hex(e.getKey()) + "=" + e.getValue());
        }
        System.out.println("VT=" + vt);
        System.out.println("READY");
        System.out.flush();

        // Exit with the test: stdin closes when the test process goes away.
        while (System.in.read() >= 0) {
        }
        System.exit(0);
    }
}
