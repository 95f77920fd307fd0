package sshdtest_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/ssh/sshdtest"
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

func (r *recorder) Fatal(args ...any) {
	r.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}

func TestMissingSshd(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				sshdtest.Start(r, sshdtest.Options{Sshd: "/nonexistent/sshd"})
			}()
			<-done
			msg := r.skipped
			if ci == "true" {
				require.Empty(t, r.skipped)
				msg = r.fatal
			} else {
				require.Empty(t, r.fatal)
			}
			require.Contains(t, msg, "SSH TESTS NOT RUN")
			require.Contains(t, msg, "/nonexistent/sshd")
		})
	}
}
