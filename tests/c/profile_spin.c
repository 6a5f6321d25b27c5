/* Spends its time in hot_loop: the profile test looks for it on top. */
volatile long sink;
__attribute__((noinline)) void hot_loop(long n) { for (long i = 0; i < n; i++) sink += i * i % 7; }
int main(void) { for (int k = 0; k < 100; k++) hot_loop(20000000); return 0; }
