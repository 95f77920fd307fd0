package serve

import (
	"io"
	"sync"
)

// LogSwitch is an io.Writer to give the transport as its stderr: the serve
// protocol's server writes build logs (and its own error messages) to stderr.
// Set points it at the current build's log; output arriving while no
// destination is set goes to the fallback writer, if any.
//
// Stderr and stdout are separate streams, so the last log bytes of a build
// may arrive slightly after its BuildResult. A log is known to be complete
// only when the transport's stderr reaches EOF, e.g. after closing the
// session; Hydra used one session per build step for this reason.
type LogSwitch struct {
	mu       sync.Mutex
	dst      io.Writer
	fallback io.Writer
	written  int64
}

// NewLogSwitch returns a LogSwitch writing to fallback while no destination is
// set (nil discards).
func NewLogSwitch(fallback io.Writer) *LogSwitch { return &LogSwitch{fallback: fallback} }

// Set directs further output to w (nil: back to the fallback) and returns the
// number of bytes written to the previous destination.
func (l *LogSwitch) Set(w io.Writer) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.written
	l.dst, l.written = w, 0
	return n
}

// Write implements io.Writer. It never fails: a failing destination is
// dropped so the transport is not blocked; the bytes are then discarded.
func (l *LogSwitch) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dst != nil {
		n, err := l.dst.Write(p)
		l.written += int64(n)
		if err != nil {
			l.dst = nil
		}
		return len(p), nil
	}
	if l.fallback != nil {
		if _, err := l.fallback.Write(p); err != nil {
			l.fallback = nil
		}
	}
	return len(p), nil
}
