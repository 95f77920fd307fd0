// Package ssh is the transport to build machines: it dials a machine over
// SSH (golang.org/x/crypto/ssh) with a pinned host key or a known_hosts file,
// runs remote commands such as "nix-store --serve --write", and detects a
// vanished machine with keepalives. Local runs the same kind of command as a
// child process, so a builder speaks one protocol over either.
package ssh

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// StderrLimit is how many trailing bytes of a command's stderr are kept.
const StderrLimit = 64 << 10

// ErrDisconnected is wrapped by errors reporting that the connection to the
// machine was lost (killed, keepalive unanswered, network gone) before the
// command reported an exit status.
var ErrDisconnected = errors.New("connection to build machine lost")

// Conn is a started command whose stdin and stdout form a byte stream, such
// as "nix-store --serve --write" on a build machine (*Session) or as a local
// child process (*Process).
type Conn interface {
	// Read reads the command's stdout.
	// Write writes to the command's stdin.
	// Close stops the command (killing it if it still runs) and releases
	// its resources.
	io.ReadWriteCloser
	// CloseWrite closes the command's stdin, signalling end of input.
	CloseWrite() error
	// Wait waits for the command to finish. A non-zero exit is an
	// *ExitError; a lost connection wraps ErrDisconnected; a cancelled
	// context wraps the context's error. Read stdout to EOF first.
	Wait() error
	// Stderr returns the last StderrLimit bytes the command wrote to stderr.
	Stderr() string
}

var (
	_ Conn = (*Session)(nil)
	_ Conn = (*Process)(nil)
)

// ExitError reports a command that exited with a non-zero status or was
// killed by a signal.
type ExitError struct {
	// Code is the exit status; for a signal it is 128 plus the signal
	// number, as shells report it.
	Code int
	// Signal is the signal's name without "SIG" ("KILL", "TERM"), or empty
	// when the command exited normally.
	Signal string
	// Stderr is the tail of the command's stderr.
	Stderr string
}

// Error reports the status and the last line of stderr.
func (e *ExitError) Error() string {
	msg := fmt.Sprintf("exit status %d", e.Code)
	if e.Signal != "" {
		msg = "killed by signal " + e.Signal
	}
	if line := lastLine(e.Stderr); line != "" {
		msg += ": " + line
	}
	return msg
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\r\n\t ")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	const max = 300
	if len(s) > max {
		s = "…" + s[len(s)-max:]
	}
	return s
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer {
	return &tailBuffer{max: max}
}

// Write appends p, dropping the oldest bytes beyond the limit.
func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(p) >= b.max {
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
		return len(p), nil
	}
	if over := len(b.buf) + len(p) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// String returns the kept bytes.
func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
