package s3test_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/binarycache/s3test"
)

// recorder is a testing.TB that records Skip and Fatal instead of acting
// on the real test.
type recorder struct {
	testing.TB
	skipped, fatal string
}

func (r *recorder) Helper() {}

func (r *recorder) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) { r.Skip(fmt.Sprintf(format, args...)) }

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestCannotBuild: where the MinIO server cannot be built (here: no go
// on the PATH), Start fails the test and says why; it never skips.
func TestCannotBuild(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s3test.Start(r)
	}()
	<-done
	require.Empty(t, r.skipped)
	require.Contains(t, r.fatal, "need a real MinIO server and it cannot be built")
}

// TestRestart: a stopped server comes back with its data.
func TestRestart(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "kept")
	srv.Stop()
	srv.Restart()
	require.Empty(t, srv.Objects(t, "kept"))
}
