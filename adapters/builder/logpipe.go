package builder

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// logPipe copies the stderr of a local serve command to the log of the
// step that uses the session, and can move it to the next step's log.
//
// Stderr is not ordered with the protocol's stdout, but nix-store writes
// a build's log before its result: once the result has been read, every
// byte of the log is at least in the pipe. sync waits until the pipe is
// drained into the current log, so the log is complete without waiting
// for the command to exit.
type logPipe struct {
	f *os.File
	// done is closed at the end of the stream: the command (and
	// everything that inherited its stderr) exited.
	done chan struct{}

	mu  sync.Mutex
	dst io.Writer
	// used is set once a step's log was detached: output without a log
	// attached then means the session is in an unknown state. Before
	// that (a session not used yet), it is the command starting up and
	// is dropped.
	used bool
	// stray is set when output arrived while no log was attached.
	stray bool
	// partial is set when the last byte received ended no line.
	partial bool
	// syncs are closed once the pipe has been drained for them.
	syncs []chan struct{}
}

// newLogPipe copies f to dst (nil: dropped until attach) until f ends.
func newLogPipe(f *os.File, dst io.Writer) *logPipe {
	p := &logPipe{f: f, dst: dst, done: make(chan struct{})}
	go p.run()
	return p
}

func (p *logPipe) run() {
	defer close(p.done)
	defer p.f.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := p.f.Read(buf)
		p.deliver(buf[:n])
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			p.drain(buf)
		case err != nil:
			return
		}
	}
}

// deliver passes b on to the attached log.
func (p *logPipe) deliver(b []byte) {
	if len(b) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = b[len(b)-1] != '\n'
	switch {
	case p.dst != nil:
		// A failing log is dropped so that the command is not blocked.
		if _, err := p.dst.Write(b); err != nil {
			p.dst = nil
			p.stray = true
		}
	case p.used:
		p.stray = true
	}
}

// drain reads what the pipe holds without waiting for more, then wakes
// the syncs that asked for it. run calls it when a sync has set a past
// read deadline; syncs that arrive meanwhile set it again.
func (p *logPipe) drain(buf []byte) {
	p.mu.Lock()
	_ = p.f.SetReadDeadline(time.Time{})
	syncs := p.syncs
	p.syncs = nil
	p.mu.Unlock()
	if rc, err := p.f.SyscallConn(); err == nil {
		for {
			var n int
			var rerr error
			err := rc.Read(func(fd uintptr) bool {
				n, rerr = syscall.Read(int(fd), buf)
				return true
			})
			if errors.Is(rerr, syscall.EINTR) {
				continue
			}
			if err != nil || rerr != nil || n <= 0 {
				break
			}
			p.deliver(buf[:n])
		}
	}
	for _, c := range syncs {
		close(c)
	}
}

// sync waits until everything the command wrote to stderr before the
// call has been passed on. It reports false if that took longer than
// timeout or the stream ended.
func (p *logPipe) sync(timeout time.Duration) bool {
	c := make(chan struct{})
	p.mu.Lock()
	p.syncs = append(p.syncs, c)
	err := p.f.SetReadDeadline(time.Unix(1, 0))
	p.mu.Unlock()
	if err != nil {
		return false
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c:
		return true
	case <-p.done:
		return false
	case <-t.C:
		return false
	}
}

// attach directs the output to w. It reports false, attaching nothing,
// if the command wrote anything since the last detach.
func (p *logPipe) attach(w io.Writer) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stray {
		return false
	}
	p.dst = w
	return true
}

// detach ends the output to the current log, after sync. It reports
// false, leaving the log attached, if the output stopped in the middle of
// a line or the log failed.
func (p *logPipe) detach() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.partial || p.stray {
		return false
	}
	p.dst, p.used = nil, true
	return true
}
