// A small Java program for tests/test_interpreters.py: a thread pool, files,
// a digest from the JDK's providers, the CPU count the VM reads from /proc and /sys.
import java.util.*;
import java.util.concurrent.*;
import java.nio.file.*;
import java.security.MessageDigest;

public class Hello {
    public static void main(String[] args) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        List<Future<Long>> parts = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            final int k = t;
            parts.add(pool.submit(() -> { long s = 0; for (long i = k; i < 20_000_000; i += 4) s += i % 7; return s; }));
        }
        long sum = 0;
        for (Future<Long> f : parts) sum += f.get();
        pool.shutdown();
        System.out.println("sum " + sum);
        List<String> lines = Files.readAllLines(Paths.get("notes.txt"));
        Map<String, Integer> count = new TreeMap<>();
        for (String l : lines) count.merge(l, 1, Integer::sum);
        System.out.println(count);
        byte[] d = MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(Paths.get("notes.txt")));
        System.out.println(HexFormat.of().formatHex(d));
        Files.writeString(Paths.get("out.txt"), "written\n");
        System.out.println(new String(Files.readAllBytes(Paths.get("out.txt"))).trim() + " " + args.length);
        System.out.println("cpus " + Runtime.getRuntime().availableProcessors());
    }
}
