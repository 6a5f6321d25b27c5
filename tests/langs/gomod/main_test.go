package main

import "testing"

func TestSums(t *testing.T) {
	if got := Sums(3); got[2] != 2001000 {
		t.Fatalf("Sums(3) = %v", got)
	}
}
