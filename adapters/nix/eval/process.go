package eval

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"buildledger/adapters/nix/priority"
)

// ErrTimeout is wrapped by the error Evaluate returns when the request's
// time limit expires.
var ErrTimeout = errors.New("evaluation timed out")

// runner starts Nix processes for one evaluation.
type runner struct {
	req      Request
	deadline time.Time
	// dir is the evaluation's scratch directory, removed at its end.
	dir string
}

// nixError is a Nix process that exited unsuccessfully; Msg is its stderr.
type nixError struct {
	Cmd  string
	Msg  string
	Code int
}

func (e *nixError) Error() string {
	return fmt.Sprintf("%s failed (exit %d): %s", e.Cmd, e.Code, e.Msg)
}

// run starts bin with args in its own process group, as Request.Identity,
// with env's environment, the memory limits applied and at Request.Nice.
// It returns the process's stdout, or, when stdout is not nil, writes it
// there as it comes (on a goroutine of exec's) and returns nil. A non-zero exit is a *nixError; expiry of ctx
// kills the whole process group.
func (r *runner) run(ctx context.Context, stdout io.Writer, bin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = r.env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r.req.Identity.Apply(cmd)
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 5 * time.Second
	var out, stderr bytes.Buffer
	cmd.Stdout = stdout
	if stdout == nil {
		out.Grow(64 << 10)
		cmd.Stdout = &out
	}
	cmd.Stderr = &stderr
	if err := priority.Start(cmd, r.req.Nice); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	// The address-space limit is a backstop behind GC_MAXIMUM_HEAP_SIZE;
	// failing to set it is not fatal.
	_ = setAddressSpaceLimit(cmd.Process.Pid, r.addressSpaceLimit())
	err := cmd.Wait()
	if ctx.Err() != nil {
		return nil, r.contextError(ctx)
	}
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return nil, &nixError{Cmd: bin, Msg: cleanStderr(stderr.String()), Code: exit.ExitCode()}
		}
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	if stdout != nil {
		return nil, nil
	}
	return out.Bytes(), nil
}

// lineWriter passes each complete line written to it to line; flush passes
// an unterminated last line.
type lineWriter struct {
	line    func([]byte)
	partial []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			break
		}
		if len(w.partial) > 0 {
			w.partial = append(w.partial, p[:i]...)
			w.line(w.partial)
			w.partial = w.partial[:0]
		} else {
			w.line(p[:i])
		}
		p = p[i+1:]
	}
	w.partial = append(w.partial, p...)
	return n, nil
}

func (w *lineWriter) flush() {
	if len(w.partial) > 0 {
		w.line(w.partial)
		w.partial = nil
	}
}

// contextError turns an expired context into ErrTimeout when our own
// deadline was reached, else returns the caller's cancellation.
func (r *runner) contextError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !time.Now().Before(r.deadline) {
		return fmt.Errorf("%w after %s", ErrTimeout, r.req.timeout())
	}
	return fmt.Errorf("evaluation cancelled: %w", ctx.Err())
}

// ChildEnv is the base environment of a child that runs for a jobset
// (Nix, git): the server's holds its secrets (the admin password,
// database URLs), which a jobset could read with builtins.getEnv in any
// mode but restricted or pure, or print through an error. The child gets
// PATH, TMPDIR, the NIX_* settings an operator gave the server
// (NIX_CONF_DIR, NIX_REMOTE, …; not NIX_PATH, which is empty: lookups
// resolve only to inputs) and a HOME that does not exist, as in Nix's own
// builds.
func ChildEnv() []string {
	env := make([]string, 0, 8)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "PATH" || name == "TMPDIR" || strings.HasPrefix(name, "NIX_") && name != "NIX_PATH" {
			env = append(env, kv)
		}
	}
	return append(env, "NIX_PATH=", "HOME=/homeless-shelter")
}

// env is ChildEnv with a cache directory of the evaluation's own (for
// the flake fetcher cache) and the heap limit.
func (r *runner) env() []string {
	heap := uint64(r.req.maxMemoryMB()) << 20
	return append(ChildEnv(), "XDG_CACHE_HOME="+filepath.Join(r.dir, "cache"),
		"GC_MAXIMUM_HEAP_SIZE="+strconv.FormatUint(heap, 10))
}

// addressSpaceLimit leaves room beyond the GC heap for the non-collected
// allocations, thread stacks and mappings of the Nix binary.
func (r *runner) addressSpaceLimit() uint64 {
	mb := uint64(r.req.maxMemoryMB())
	return (2*mb + 2048) << 20
}

// cleanStderr trims Nix's stderr and drops lines that are noise for an error
// report.
func cleanStderr(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		if strings.HasPrefix(l, "warning: you did not specify '--add-root'") {
			continue
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

// storeDir is the Nix store directory, as Nix itself determines it.
func storeDir() string {
	if d := os.Getenv("NIX_STORE_DIR"); d != "" {
		return strings.TrimRight(d, "/")
	}
	return "/nix/store"
}
