/* Runs until killed, calling tick() every 20 ms: for the libsubst attach test. */
#include <stdio.h>
#include <unistd.h>
volatile int ticks;
void tick(void) { ticks++; }
int main(void) { for (;;) { tick(); usleep(20000); } }
