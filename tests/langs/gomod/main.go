// A small module the go tool builds, runs and tests inside the guest: it
// execs its compiler and linker and keeps a build cache.
package main

import (
	"fmt"
	"sync"
)

// Sums adds 0..i*1000 for each i below n, one goroutine each.
func Sums(n int) []int {
	var wg sync.WaitGroup
	sums := make([]int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j <= i*1000; j++ {
				sums[i] += j
			}
		}(i)
	}
	wg.Wait()
	return sums
}

func main() {
	fmt.Println(Sums(8))
}
