package builder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"buildledger/adapters/nix/priority"
	"buildledger/adapters/ssh"
	"buildledger/domain/machine"
	"buildledger/events"
)

// logDrainTimeout bounds how long the end of a session waits for the rest
// of the log after the serve command exited.
const logDrainTimeout = 10 * time.Second

// link is one `nix-store --serve --write` session on a build machine: the
// protocol runs over Read and Write, the command's stderr goes to the log
// writer given to open.
type link struct {
	desc       string
	r          io.Reader
	w          io.Writer
	closeWrite func() error
	wait       func() error
	kill       func()
	logDone    <-chan struct{}
	// exited is closed when the command has exited (local links only;
	// nil otherwise).
	exited <-chan struct{}
	// logs carries the stderr of a local command, which can be moved
	// from one step's log to the next; nil for ssh:// links, whose log
	// is complete only when the session ends.
	logs      *logPipe
	closeOnce sync.Once
	closeErr  error
}

// Read reads the command's stdout.
func (l *link) Read(p []byte) (int, error) { return l.r.Read(p) }

// Write writes to the command's stdin.
func (l *link) Write(p []byte) (int, error) { return l.w.Write(p) }

// Close kills the command; serve.Client calls it when a call's context
// ends.
func (l *link) Close() error {
	l.kill()
	return nil
}

// finish ends the session cleanly: end of input, wait for the command to
// exit and for the rest of its log.
func (l *link) finish() error {
	l.closeOnce.Do(func() {
		_ = l.closeWrite()
		l.closeErr = l.wait()
		select {
		case <-l.logDone:
		case <-time.After(logDrainTimeout):
			l.kill()
			if l.closeErr == nil {
				l.closeErr = fmt.Errorf("%s: log stream did not end", l.desc)
			}
		}
	})
	return l.closeErr
}

// abortGrace is how long abort lets the command exit by itself.
const abortGrace = 2 * time.Second

// abort ends the session after a failure: end of input, a short wait for
// the command to exit (so its exit status and last words are known), then
// kill. It returns the command's exit error.
func (l *link) abort() error {
	l.closeOnce.Do(func() {
		_ = l.closeWrite()
		done := make(chan error, 1)
		go func() { done <- l.wait() }()
		select {
		case l.closeErr = <-done:
		case <-time.After(abortGrace):
			l.kill()
			l.closeErr = <-done
		}
		l.kill()
		select {
		case <-l.logDone:
		case <-time.After(logDrainTimeout):
		}
	})
	return l.closeErr
}

// serveArgs returns the arguments of the serve command: options first,
// then --serve --write.
func serveArgs(store string, extra []string) []string {
	var args []string
	if store != "" {
		args = append(args, "--store", store)
	}
	args = append(args, extra...)
	return append(args, "--serve", "--write")
}

// ErrUnsupportedURI is wrapped by the error for a machine whose URI is
// neither "localhost" nor ssh://.
var ErrUnsupportedURI = errors.New("unsupported machine URI")

// open starts a serve session on the machine cfg describes.
func (w *Worker) open(ctx context.Context, name string, cfg events.MachineConfig, logw io.Writer) (*link, error) {
	switch {
	case cfg.URI == machine.Localhost:
		return w.openLocal(cfg.Store, logw)
	case strings.HasPrefix(cfg.URI, "ssh://"):
		return w.openSSH(ctx, name, cfg, logw)
	default:
		return nil, fmt.Errorf("machine %s: %w %q: want ssh://[user@]host[:port] or localhost", name, ErrUnsupportedURI, cfg.URI)
	}
}

// termGrace is how long a local serve command has to exit after SIGTERM
// before its process group is killed.
const termGrace = 5 * time.Second

// openLocal starts the serve command on store (empty: the default store)
// as a child process in its own process group, at Config.LocalNice; its
// stderr is copied to logw (nil: discarded until a step attaches its log,
// see logPipe). The session may serve later steps (see sessionPool): its
// command ends with the worker, or when a call's context ends. Killing it sends SIGTERM first: nix-store
// then kills the builder, which runs in a session of its own that a
// SIGKILL of nix-store would leave behind.
func (w *Worker) openLocal(store string, logw io.Writer) (*link, error) {
	bin := w.cfg.LocalNixStore
	cmd := exec.CommandContext(w.ctx, bin, serveArgs(store, w.cfg.NixStoreArgs)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	done := make(chan struct{})
	var killOnce sync.Once
	kill := func() {
		killOnce.Do(func() {
			pid := cmd.Process.Pid
			_ = syscall.Kill(-pid, syscall.SIGTERM)
			go func() {
				select {
				case <-done:
				case <-time.After(termGrace):
					_ = syscall.Kill(-pid, syscall.SIGKILL)
				}
			}()
		})
	}
	cmd.Cancel = func() error {
		kill()
		return nil
	}
	cmd.WaitDelay = logDrainTimeout + termGrace
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: stderr pipe: %w", bin, err)
	}
	cmd.Stderr = stderrW
	stdin, err := cmd.StdinPipe()
	if err != nil {
		stderrR.Close()
		stderrW.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		stderrR.Close()
		stderrW.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	err = priority.Start(cmd, w.cfg.LocalNice)
	stderrW.Close()
	if err != nil {
		stderrR.Close()
		return nil, fmt.Errorf("start %s on localhost: %w", bin, err)
	}
	logs := newLogPipe(stderrR, logw)
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	return &link{
		desc: "localhost", r: stdout, w: stdin,
		closeWrite: stdin.Close,
		wait: func() error {
			<-done
			var exit *exec.ExitError
			if errors.As(waitErr, &exit) {
				return &ssh.ExitError{Code: exit.ExitCode(), Stderr: ""}
			}
			return waitErr
		},
		kill:    kill,
		logDone: logs.done,
		exited:  done,
		logs:    logs,
	}, nil
}

// openSSH starts the serve command on an ssh:// machine. Its stderr is
// redirected into a named pipe in the machine's temporary directory,
// which a second session on the same connection copies to logw: whichever
// session runs first creates the pipe, opening it blocks until both ends
// are open, and the serve command removes it before starting nix-store.
func (w *Worker) openSSH(ctx context.Context, name string, cfg events.MachineConfig, logw io.Writer) (*link, error) {
	client, err := w.ssh.client(ctx, name, cfg)
	if err != nil {
		return nil, err
	}
	var nonce [12]byte
	_, _ = rand.Read(nonce[:])
	fifo := `"${TMPDIR:-/tmp}/buildledger-` + hex.EncodeToString(nonce[:]) + `.log"`
	quoted := []string{shellQuote(w.cfg.RemoteNixStore)}
	for _, a := range serveArgs(cfg.Store, w.cfg.NixStoreArgs) {
		quoted = append(quoted, shellQuote(a))
	}
	logCmd := "mkfifo -m 600 " + fifo + " 2>/dev/null; exec cat " + fifo
	serveCmd := "mkfifo -m 600 " + fifo + " 2>/dev/null; exec 2>" + fifo + "; rm -f " + fifo + "; exec " + strings.Join(quoted, " ")

	logSess, err := client.Run(ctx, logCmd)
	if err != nil {
		w.ssh.drop(name, client)
		return nil, fmt.Errorf("machine %s: %w", name, err)
	}
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		_, _ = io.Copy(logw, logSess)
		_ = logSess.Wait()
	}()
	sess, err := client.Run(ctx, serveCmd)
	if err != nil {
		logSess.Close()
		<-logDone
		w.ssh.drop(name, client)
		return nil, fmt.Errorf("machine %s: %w", name, err)
	}
	return &link{
		desc: name, r: sess, w: sess,
		closeWrite: sess.CloseWrite,
		wait: func() error {
			err := sess.Wait()
			if err != nil {
				// A session that failed may leave the log reader
				// waiting for a writer that never came.
				time.AfterFunc(time.Second, func() { logSess.Close() })
			}
			return err
		},
		kill: func() {
			sess.Close()
			logSess.Close()
		},
		logDone: logDone,
	}, nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:@%+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// sshPool keeps one SSH connection per machine and redials lost ones.
type sshPool struct {
	knownHosts string
	mu         sync.Mutex
	clients    map[string]*ssh.Client
}

// client returns a live connection to the machine, dialling if needed.
func (p *sshPool) client(ctx context.Context, name string, cfg events.MachineConfig) (*ssh.Client, error) {
	key := name + "\x00" + cfg.URI + "\x00" + cfg.SSHKey + "\x00" + cfg.PublicHostKey
	p.mu.Lock()
	c := p.clients[key]
	p.mu.Unlock()
	if c != nil {
		select {
		case <-c.Done():
		default:
			return c, nil
		}
	}
	t := ssh.Target{URI: cfg.URI, KeyFile: cfg.SSHKey, HostKey: cfg.PublicHostKey}
	if t.HostKey == "" {
		t.KnownHostsFile = p.knownHosts
	}
	if t.KeyFile == "" {
		return nil, fmt.Errorf("machine %s: no SSH key file configured", name)
	}
	c, err := ssh.Dial(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("machine %s: %w", name, err)
	}
	p.mu.Lock()
	if old := p.clients[key]; old != nil && old != c {
		select {
		case <-old.Done():
			old.Close()
		default:
			// Another step dialled at the same time and is already
			// using its connection: share it rather than close it
			// under that step.
			p.mu.Unlock()
			c.Close()
			return old, nil
		}
	}
	p.clients[key] = c
	p.mu.Unlock()
	return c, nil
}

// drop closes c and forgets it, so the next step dials afresh.
func (p *sshPool) drop(name string, c *ssh.Client) {
	p.mu.Lock()
	for k, v := range p.clients {
		if v == c {
			delete(p.clients, k)
		}
	}
	p.mu.Unlock()
	c.Close()
}

// close closes every connection.
func (p *sshPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range p.clients {
		c.Close()
		delete(p.clients, k)
	}
}
