package logstore_test

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/logstore"
)

// BenchmarkOpenLogs measures the heap a build log being written holds
// (its compressor, mostly), with 16 written at once as on a builder with
// 16 slots: each gets 4 kB of log and a flush, as a fast build prints.
func BenchmarkOpenLogs(b *testing.B) {
	const open = 16
	line := bytes.Repeat([]byte("building phase output line\n"), 150)
	var held uint64
	for i := range b.N {
		store, err := logstore.New(b.TempDir(), logstore.Options{})
		require.NoError(b, err)
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		ws := make([]*logstore.Writer, open)
		for k := range ws {
			ws[k], err = store.Create(fmt.Sprintf("/nix/store/%032d-b%d.drv", k, i), 1)
			require.NoError(b, err)
			_, err = ws[k].Write(line)
			require.NoError(b, err)
			ws[k].Flush()
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		held += ms.HeapAlloc - base
		for _, w := range ws {
			_, err := w.Close()
			require.NoError(b, err)
		}
	}
	b.ReportMetric(float64(held)/float64(b.N*open)/(1<<20), "MB/log")
}
