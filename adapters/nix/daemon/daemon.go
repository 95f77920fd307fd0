// Package daemon runs a nix-daemon of the server's own, through which the
// unprivileged user evaluation runs as reaches the Nix store.
//
// A user other than root cannot write the store; Nix then talks to a
// nix-daemon, which writes for it. Debian's nix-bin starts none unless
// systemd does, and the system's daemon, when there is one, serves every
// local user. This one listens on a socket in a directory only root and
// the evaluation user's group may enter, and lives as long as the server.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"buildledger/adapters/nix/eval"
)

// Daemon is a running nix-daemon.
type Daemon struct {
	dir    string
	cancel context.CancelFunc
	done   chan struct{}
	// pid is the running daemon's process id, 0 between runs.
	pid atomic.Int64
}

// Options configure Start.
type Options struct {
	// Gid is the group that may connect; the socket's directory is
	// root's and this group's only.
	Gid uint32
	// Bin is the nix-daemon program; empty means the one on PATH.
	Bin string
	// Log receives the daemon's restarts.
	Log *slog.Logger
}

// readyTimeout bounds the wait for a new daemon's socket.
const readyTimeout = 30 * time.Second

// Start starts a nix-daemon and returns once it accepts connections. The
// daemon is started again whenever it exits, until Close.
func Start(ctx context.Context, opts Options) (*Daemon, error) {
	if opts.Bin == "" {
		opts.Bin = "nix-daemon"
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	// A fresh directory under TMPDIR: short enough for a socket's path,
	// which a deep home might not be, and nobody else's.
	dir, err := os.MkdirTemp("", "buildledger-nix-daemon-")
	if err != nil {
		return nil, fmt.Errorf("nix-daemon directory: %w", err)
	}
	if err := os.Chown(dir, 0, int(opts.Gid)); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("nix-daemon directory: %w", err)
	}
	if err := os.Chmod(dir, 0o750); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("nix-daemon directory: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d := &Daemon{dir: dir, cancel: cancel, done: make(chan struct{})}
	go d.supervise(runCtx, opts)
	if err := d.waitReady(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Store is the store URI (NIX_REMOTE) of the daemon.
func (d *Daemon) Store() string { return "unix://" + d.socket() }

func (d *Daemon) socket() string { return filepath.Join(d.dir, "socket") }

// Close stops the daemon and removes its socket.
func (d *Daemon) Close() {
	d.cancel()
	<-d.done
	os.RemoveAll(d.dir)
}

// supervise runs the daemon until ctx ends, starting it again, after a
// pause that grows with quick failures, whenever it exits.
func (d *Daemon) supervise(ctx context.Context, opts Options) {
	defer close(d.done)
	pause := time.Second
	for {
		started := time.Now()
		err := d.run(ctx, opts.Bin)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			pause = time.Second
		}
		opts.Log.Warn("nix-daemon exited; starting it again", "err", err, "in", pause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Minute)
	}
}

// run runs one nix-daemon until it exits or ctx ends. It gets the
// scrubbed environment of a jobset's children: builds it runs see none of
// the server's secrets.
func (d *Daemon) run(ctx context.Context, bin string) error {
	os.Remove(d.socket())
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(eval.ChildEnv(), "NIX_DAEMON_SOCKET_PATH="+d.socket())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The daemon forks a process per connection; they go with it.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	var out tail
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	d.pid.Store(int64(cmd.Process.Pid))
	err := cmd.Wait()
	d.pid.Store(0)
	if err != nil {
		return fmt.Errorf("%w: %s", err, out.lastLine())
	}
	return errors.New("exited")
}

// waitReady waits until the socket accepts a connection.
func (d *Daemon) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		c, err := net.Dial("unix", d.socket())
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nix-daemon did not listen on %s within %s: %w", d.socket(), readyTimeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.done:
			return errors.New("nix-daemon supervisor stopped")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tail keeps the end of what a process writes, for an error message,
// however long the process runs (the daemon writes a line per
// connection).
type tail struct{ b []byte }

const tailSize = 4 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > tailSize {
		t.b = append(t.b[:0], t.b[len(t.b)-tailSize:]...)
	}
	return len(p), nil
}

// lastLine is the last non-empty line written.
func (t *tail) lastLine() string {
	s := strings.TrimRight(string(t.b), "\n ")
	return s[strings.LastIndexByte(s, '\n')+1:]
}
