package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// localWaitDelay bounds how long Wait waits for stderr to drain after the
// child exited, in case a grandchild kept it open.
const localWaitDelay = 5 * time.Second

// Process is a command running as a local child process, in its own process
// group so that killing it also kills what it started.
type Process struct {
	// Stdin is the child's standard input; closing it sends EOF.
	Stdin io.WriteCloser
	// Stdout is the child's standard output. Read it to EOF before calling
	// Wait, which closes it.
	Stdout io.Reader

	cmd    *exec.Cmd
	ctx    context.Context
	cancel context.CancelFunc
	stderr *tailBuffer

	once    sync.Once
	waitErr error
}

// Local starts argv as a child process. Cancelling ctx kills the child's
// whole process group.
func Local(ctx context.Context, argv ...string) (*Process, error) {
	if len(argv) == 0 {
		return nil, errors.New("start local command: empty argv")
	}
	// Close kills through killCtx; exec only calls Cancel before it has
	// reaped the child, so the process group id cannot have been reused.
	killCtx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(killCtx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = localWaitDelay
	p := &Process{cmd: cmd, ctx: ctx, cancel: cancel, stderr: newTailBuffer(StderrLimit)}
	cmd.Stderr = p.stderr
	var err error
	if p.Stdin, err = cmd.StdinPipe(); err != nil {
		cancel()
		return nil, fmt.Errorf("start %s: stdin: %w", argv[0], err)
	}
	if p.Stdout, err = cmd.StdoutPipe(); err != nil {
		cancel()
		return nil, fmt.Errorf("start %s: stdout: %w", argv[0], err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	return p, nil
}

// Read reads the child's stdout.
func (p *Process) Read(b []byte) (int, error) { return p.Stdout.Read(b) }

// Write writes to the child's stdin.
func (p *Process) Write(b []byte) (int, error) { return p.Stdin.Write(b) }

// CloseWrite closes the child's stdin.
func (p *Process) CloseWrite() error { return p.Stdin.Close() }

// Stderr returns the last StderrLimit bytes of the child's stderr.
func (p *Process) Stderr() string { return p.stderr.String() }

// Wait waits for the child to exit; see Conn.Wait for the errors. It may be
// called more than once and returns the same result.
func (p *Process) Wait() error {
	p.once.Do(func() {
		p.waitErr = p.exitError(p.cmd.Wait())
		p.cancel()
	})
	return p.waitErr
}

// Close kills the child's process group if the child still runs and reaps
// it.
func (p *Process) Close() error {
	p.cancel()
	_ = p.Wait()
	return nil
}

func (p *Process) exitError(err error) error {
	if err == nil {
		return nil
	}
	name := p.cmd.Args[0]
	if cerr := p.ctx.Err(); cerr != nil {
		return fmt.Errorf("run %s: %w", name, context.Cause(p.ctx))
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return fmt.Errorf("run %s: %w", name, err)
	}
	e := &ExitError{Code: exit.ExitCode(), Stderr: p.stderr.String()}
	if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Code = 128 + int(ws.Signal())
		e.Signal = signalName(ws.Signal())
	}
	return e
}

// signalName returns the RFC 4254 name of sig ("KILL"), as SSH reports it.
func signalName(sig syscall.Signal) string {
	names := map[syscall.Signal]string{
		syscall.SIGABRT: "ABRT", syscall.SIGALRM: "ALRM", syscall.SIGFPE: "FPE",
		syscall.SIGHUP: "HUP", syscall.SIGILL: "ILL", syscall.SIGINT: "INT",
		syscall.SIGKILL: "KILL", syscall.SIGPIPE: "PIPE", syscall.SIGQUIT: "QUIT",
		syscall.SIGSEGV: "SEGV", syscall.SIGTERM: "TERM", syscall.SIGUSR1: "USR1",
		syscall.SIGUSR2: "USR2",
	}
	if n, ok := names[sig]; ok {
		return n
	}
	return fmt.Sprintf("%d", int(sig))
}
