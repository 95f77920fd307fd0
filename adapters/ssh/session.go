package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	gossh "golang.org/x/crypto/ssh"
)

// Session is a command started on a build machine.
type Session struct {
	// Stdin is the command's standard input; closing it sends EOF.
	Stdin io.WriteCloser
	// Stdout is the command's standard output. Read it to EOF before
	// calling Wait: a command whose output is not consumed blocks once the
	// channel's window is full.
	Stdout io.Reader

	client *Client
	sess   *gossh.Session
	cmd    string
	ctx    context.Context
	stop   func() bool
	stderr *tailBuffer

	exited   chan error    // receives the channel's end, once
	killed   chan struct{} // closed by kill
	killOnce sync.Once
	stdinR   *io.PipeReader
	stdoutR  *io.PipeReader

	once    sync.Once
	waitErr error
}

// Run starts cmd on the machine. Cancelling ctx kills the command and
// closes the session.
func (c *Client) Run(ctx context.Context, cmd string) (*Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("run %q on %s: %w", cmd, c.uri, context.Cause(ctx))
	}
	sess, err := c.conn.NewSession()
	if err != nil {
		if reason := c.err(); reason != nil {
			err = reason
		}
		return nil, fmt.Errorf("run %q on %s: open session: %w", cmd, c.uri, err)
	}
	s := &Session{
		client: c, sess: sess, cmd: cmd, ctx: ctx,
		stderr: newTailBuffer(StderrLimit),
		exited: make(chan error, 1),
		killed: make(chan struct{}),
	}
	sess.Stderr = s.stderr
	chIn, err := sess.StdinPipe()
	if err != nil {
		_ = sess.Close()
		return nil, fmt.Errorf("run %q on %s: stdin: %w", cmd, c.uri, err)
	}
	chOut, err := sess.StdoutPipe()
	if err != nil {
		_ = sess.Close()
		return nil, fmt.Errorf("run %q on %s: stdout: %w", cmd, c.uri, err)
	}
	if err := sess.Start(cmd); err != nil {
		_ = sess.Close()
		if reason := c.err(); reason != nil {
			err = reason
		}
		return nil, fmt.Errorf("run %q on %s: start: %w", cmd, c.uri, err)
	}
	// Reads and writes go through pipes so that kill can fail them at
	// once: a channel read or write may otherwise block until the remote
	// command exits, which a root login's command may not do for hours.
	var stdinW, stdoutW *io.PipeWriter
	s.stdinR, stdinW = io.Pipe()
	s.stdoutR, stdoutW = io.Pipe()
	s.Stdin, s.Stdout = stdinW, s.stdoutR
	go func() {
		_, err := io.Copy(chIn, s.stdinR)
		if err == nil {
			err = chIn.Close()
		}
		_ = s.stdinR.CloseWithError(err)
	}()
	go func() {
		_, err := io.Copy(stdoutW, chOut)
		_ = stdoutW.CloseWithError(err)
	}()
	// The channel ends when the remote command does or the connection
	// drops; a killed session does not wait for that (see kill).
	go func() { s.exited <- sess.Wait() }()
	s.stop = context.AfterFunc(ctx, s.kill)
	return s, nil
}

// Read reads the command's stdout.
func (s *Session) Read(p []byte) (int, error) { return s.Stdout.Read(p) }

// Write writes to the command's stdin.
func (s *Session) Write(p []byte) (int, error) { return s.Stdin.Write(p) }

// CloseWrite closes the command's stdin.
func (s *Session) CloseWrite() error { return s.Stdin.Close() }

// Stderr returns the last StderrLimit bytes of the command's stderr.
func (s *Session) Stderr() string { return s.stderr.String() }

// Wait waits for the command to exit; see Conn.Wait for the errors. It may
// be called more than once and returns the same result.
func (s *Session) Wait() error {
	s.once.Do(func() {
		var err error
		select {
		case err = <-s.exited:
		case <-s.killed:
			select {
			case err = <-s.exited:
			default:
				err = errKilled
			}
		}
		s.stop()
		_ = s.sess.Close()
		s.waitErr = s.exitError(err)
	})
	return s.waitErr
}

// errKilled stands for the exit of a session that was killed before the
// machine reported one.
var errKilled = errors.New("session closed before the command exited")

// Close kills the command if it still runs and closes the session.
func (s *Session) Close() error {
	s.kill()
	s.stop()
	return nil
}

// kill fails pending and future reads and writes, asks the machine to
// SIGKILL the command and closes the channel. The
// command's stdin then reads EOF and its output fails with EPIPE, which ends
// "nix-store --serve". OpenSSH refuses signals for root logins and keeps the
// channel until the command exits, so Wait returns without waiting for the
// machine's answer.
func (s *Session) kill() {
	s.killOnce.Do(func() {
		err := fmt.Errorf("run %q on %s: %w", s.cmd, s.client.uri, errKilled)
		if cause := context.Cause(s.ctx); cause != nil {
			err = fmt.Errorf("run %q on %s: %w", s.cmd, s.client.uri, cause)
		}
		_ = s.stdinR.CloseWithError(err)
		_ = s.stdoutR.CloseWithError(err)
		_ = s.sess.Signal(gossh.SIGKILL)
		_ = s.sess.Close()
		close(s.killed)
	})
}

func (s *Session) exitError(err error) error {
	if err == nil {
		return nil
	}
	if cerr := s.ctx.Err(); cerr != nil {
		return fmt.Errorf("run %q on %s: %w", s.cmd, s.client.uri, context.Cause(s.ctx))
	}
	var exit *gossh.ExitError
	if errors.As(err, &exit) {
		return &ExitError{Code: exit.ExitStatus(), Signal: exit.Signal(), Stderr: s.stderr.String()}
	}
	if reason := s.client.err(); reason != nil {
		return fmt.Errorf("run %q: %w", s.cmd, reason)
	}
	if errors.Is(err, errKilled) {
		return fmt.Errorf("run %q on %s: %w", s.cmd, s.client.uri, err)
	}
	return fmt.Errorf("run %q on %s: %w: %v", s.cmd, s.client.uri, ErrDisconnected, err)
}
