// Many goroutines over many threads: some spin (the runtime preempts them
// with SIGURG), some sleep, some wait on channels; main prints a sum and
// exits with status 2 while the others are still busy, as `runsc --version`
// does after its output.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

func main() {
	runtime.GOMAXPROCS(4)
	var wg sync.WaitGroup
	sums := make([]uint64, 8)
	for i := range sums {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := uint64(0); j < 20000000; j++ {
				sums[i] += j % 7
			}
		}(i)
	}
	block := make(chan int)
	for i := 0; i < 4; i++ {
		go func() { time.Sleep(time.Hour) }()
		go func() { <-block }()
		go func() {
			for {
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	var total uint64
	for _, s := range sums {
		total += s
	}
	fmt.Println("total", total, "threads busy")
	os.Exit(2)
}
