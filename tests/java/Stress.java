// For tests/test_interpreters.py: parallel streams, GC, 64 threads, and the faults
// the VM turns into exceptions (SIGSEGV for a null, a guard page for the stack).
import java.util.*;
import java.util.stream.*;
public class Stress {
    public static void main(String[] a) throws Exception {
        long s = IntStream.range(0, 4_000_000).parallel().mapToLong(i -> (long) i * i % 1000).sum();
        List<byte[]> keep = new ArrayList<>();
        for (int i = 0; i < 2000; i++) { keep.add(new byte[100_000]); if (keep.size() > 50) keep.remove(0); }
        System.gc();
        Thread[] ts = new Thread[64];
        int[] r = new int[64];
        for (int i = 0; i < 64; i++) { final int k = i; ts[i] = new Thread(() -> r[k] = k * 2); ts[i].start(); }
        for (Thread t : ts) t.join();
        try { Object o = null; o.hashCode(); } catch (NullPointerException e) { System.out.println("npe caught"); }
        try { int[] x = new int[1]; x[2] = 1; } catch (ArrayIndexOutOfBoundsException e) { System.out.println("aioobe"); }
        try { recurse(0); } catch (StackOverflowError e) { System.out.println("soe caught"); }
        System.out.println(s + " " + Arrays.stream(r).sum() + " " + keep.size());
    }
    static int recurse(int n) { return recurse(n + 1) + 1; }
}
