package builder

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLogPipe moves a pipe's output between logs the way a reused serve
// session's stderr moves between steps.
func TestLogPipe(t *testing.T) {
	tests := []struct {
		name string
		// before is written while the first log is attached (nil: no
		// log attached, a spare starting up).
		before   string
		attached bool
		// after is written after the first log was detached.
		after       string
		wantLog     string
		wantDetach  bool
		wantAttach2 bool
	}{
		{name: "whole lines", before: "building\ndone\n", attached: true, wantLog: "building\ndone\n", wantDetach: true, wantAttach2: true},
		{name: "nothing", attached: true, wantDetach: true, wantAttach2: true},
		{name: "mid-line", before: "building\nhalf a li", attached: true, wantLog: "building\nhalf a li", wantDetach: false},
		{name: "output while idle", before: "building\n", attached: true, after: "stray\n", wantLog: "building\n", wantDetach: true, wantAttach2: false},
		{name: "startup output of a spare", before: "warning: at startup\n", wantDetach: true, wantAttach2: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			require.NoError(t, err)
			defer w.Close()
			var log bytes.Buffer
			p := newLogPipe(r, nil)
			if tt.attached {
				require.True(t, p.attach(&log))
			}
			_, err = w.WriteString(tt.before)
			require.NoError(t, err)
			require.True(t, p.sync(time.Minute))
			require.Equal(t, tt.wantLog, log.String(), "everything written before sync is in the log")
			require.Equal(t, tt.wantDetach, p.detach())
			if !tt.wantDetach {
				return
			}
			_, err = w.WriteString(tt.after)
			require.NoError(t, err)
			require.True(t, p.sync(time.Minute))
			var next bytes.Buffer
			require.Equal(t, tt.wantAttach2, p.attach(&next))
			require.Empty(t, next.String())
		})
	}
}

// TestLogPipeSyncAfterEnd: a sync on a stream that ended reports false.
func TestLogPipeSyncAfterEnd(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	p := newLogPipe(r, nil)
	require.NoError(t, w.Close())
	<-p.done
	require.False(t, p.sync(time.Minute))
}
