// Package runcmd runs the commands of Hydra's RunCommand plugin (#22): a
// <runcommand> command of hydra.conf, or the executable a dynamic
// runCommandHook.* job built. A command runs as an unprivileged user
// when the server is root, in a directory of its own, with a time limit,
// an environment that holds nothing of the server's (no token, no
// database address), and its output (stdout and stderr together) stored
// in the log store up to a size cap.
package runcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"buildledger/adapters/logstore"
	"buildledger/adapters/nix/eval"
	"buildledger/domain/runcommand"
	"buildledger/events"
)

// Defaults used when the corresponding Runner field is zero.
const (
	DefaultTimeout   = 10 * time.Minute
	DefaultMaxOutput = 4 << 20
	// DefaultPath is the PATH a command gets: the system's and NixOS's
	// tools, nothing of the server's own PATH.
	DefaultPath = "/run/current-system/sw/bin:/usr/local/bin:/usr/bin:/bin"
)

// waitDelay bounds how long a finished or killed command's descendants
// may hold its output open.
const waitDelay = 5 * time.Second

// Runner runs commands. The zero Identity runs them as the server, which
// NewRunner allows only when the server is not root.
type Runner struct {
	identity eval.Identity
	dir      string
	logs     *logstore.Store
	// Timeout bounds one run; MaxOutput is how many bytes of output are
	// kept; Path is the command's PATH.
	Timeout   time.Duration
	MaxOutput int64
	Path      string
}

// NewRunner returns a Runner running as id, with its run directories
// under base (the user's own directory there, see eval.Identity.Dir),
// storing output in logs. A server running as root must name a user.
func NewRunner(id eval.Identity, base string, logs *logstore.Store) (*Runner, error) {
	if id.IsServer() && os.Geteuid() == 0 {
		return nil, errors.New("runcommand: the server is root: RunCommand needs an unprivileged user to run as")
	}
	if err := os.MkdirAll(base, 0o700); err != nil {
		return nil, fmt.Errorf("runcommand: %w", err)
	}
	dir, err := id.Dir(base)
	if err != nil {
		return nil, fmt.Errorf("runcommand: %w", err)
	}
	return &Runner{identity: id, dir: dir, logs: logs}, nil
}

// shellChars are the characters that make Perl's system() hand a
// command to /bin/sh, as Hydra's run3 does; a command without them is
// split at white space and run directly, so that a missing program is
// an exec error (errno 2), as Hydra records it. As Perl, a command that
// starts with a variable assignment, "exec" or "." goes to the shell too.
const shellChars = "$&*(){}[]'\";\\|?<>~`\n"

func argv(command string) []string {
	words := strings.Fields(command)
	if strings.ContainsAny(command, shellChars) ||
		len(words) > 0 && (strings.Contains(words[0], "=") || words[0] == "exec" || words[0] == ".") {
		return []string{"/bin/sh", "-c", command}
	}
	return words
}

// Run runs command for the run uuid with hydraJSON in the file
// $HYDRA_JSON, and says how it ended. An error means the run could not
// be attempted (no directory, no log): the command did not start.
func (r *Runner) Run(ctx context.Context, uuid, command string, hydraJSON []byte) (events.RunCommandFinished, error) {
	res := events.RunCommandFinished{UUID: uuid}
	dir, err := os.MkdirTemp(r.dir, "run-")
	if err != nil {
		return res, fmt.Errorf("runcommand: %w", err)
	}
	defer os.RemoveAll(dir)
	jsonFile := filepath.Join(dir, "hydra.json")
	if err := os.WriteFile(jsonFile, hydraJSON, 0o600); err != nil {
		return res, fmt.Errorf("runcommand: %w", err)
	}
	if err := r.identity.Chown(dir); err != nil {
		return res, fmt.Errorf("runcommand: %w", err)
	}
	log, err := r.logs.Create(runcommand.LogName(uuid), 0)
	if err != nil {
		return res, fmt.Errorf("runcommand: %w", err)
	}
	out := &capped{w: log, left: r.maxOutput()}
	res.ErrorNumber, res.ExitCode, res.Signal, res.CoreDumped, res.TimedOut = r.exec(ctx, dir, command, jsonFile, out)
	info, err := log.Close()
	if err != nil {
		return res, fmt.Errorf("runcommand: log of %s: %w", uuid, err)
	}
	res.LogSize, res.Truncated = info.Size, out.dropped || info.OverLimit
	return res, nil
}

func (r *Runner) maxOutput() int64 {
	if r.MaxOutput > 0 {
		return r.MaxOutput
	}
	return DefaultMaxOutput
}

// exec runs command and returns Hydra's description of its end: errno
// when it could not start, else the exit code, or the signal and
// whether it dumped core.
func (r *Runner) exec(ctx context.Context, dir, command, jsonFile string, out io.Writer) (errno, exit, signal *int, core *bool, timedOut bool) {
	args := argv(command)
	if len(args) == 0 {
		n := int(syscall.ENOENT)
		return &n, nil, nil, nil, false
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	path := r.Path
	if path == "" {
		path = DefaultPath
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	if !strings.Contains(args[0], "/") {
		// Looked up in the command's PATH, not the server's.
		cmd.Path, cmd.Err = lookPath(args[0], path), nil
		if cmd.Path == "" {
			n := int(syscall.ENOENT)
			return &n, nil, nil, nil, false
		}
	}
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + path, "HOME=" + dir, "TMPDIR=" + dir, "HYDRA_JSON=" + jsonFile, "LANG=C.UTF-8"}
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = out, out
	r.identity.Apply(cmd)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Its own process group, so that the time limit kills what it
	// started too.
	cmd.SysProcAttr.Setpgid = true
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	err := cmd.Start()
	if err != nil {
		n := int(syscall.EIO)
		var en syscall.Errno
		if errors.As(err, &en) {
			n = int(en)
		}
		return &n, nil, nil, nil, false
	}
	_ = cmd.Wait()
	// Whatever it left running in its group goes with it.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		n := int(syscall.EIO)
		return &n, nil, nil, nil, false
	case ws.Signaled():
		s, c := int(ws.Signal()), ws.CoreDump()
		return nil, nil, &s, &c, ctx.Err() != nil
	default:
		c := ws.ExitStatus()
		return nil, &c, nil, nil, false
	}
}

// lookPath finds name in path as execvp would, or returns "".
func lookPath(name, path string) string {
	for _, d := range filepath.SplitList(path) {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// capped passes on the first left bytes and drops the rest, noting that
// it did.
type capped struct {
	w       io.Writer
	left    int64
	dropped bool
}

func (c *capped) Write(p []byte) (int, error) {
	n := len(p)
	if int64(len(p)) > c.left {
		p, c.dropped = p[:c.left], true
	}
	c.left -= int64(len(p))
	if len(p) > 0 {
		if _, err := c.w.Write(p); err != nil {
			return 0, err
		}
	}
	return n, nil
}
