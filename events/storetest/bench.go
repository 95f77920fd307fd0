package storetest

import (
	"os"
	"strconv"
	"testing"
)

// BenchEvents is the size of the synthetic logs benchmarks build:
// BUILDLEDGER_BENCH_EVENTS (make bench sets 1,000,000), else def.
func BenchEvents(tb testing.TB, def int) int {
	v := os.Getenv("BUILDLEDGER_BENCH_EVENTS")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("BUILDLEDGER_BENCH_EVENTS=%q: want a positive number", v)
	}
	return n
}
