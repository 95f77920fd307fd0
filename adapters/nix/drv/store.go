package drv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Store runs nix-store queries against a Nix store. The zero value uses
// "nix-store" from PATH against the default store.
type Store struct {
	// Bin is the nix-store executable; empty means "nix-store".
	Bin string
	// URI is passed as --store when set, e.g. "/tmp/chroot" for a chroot store.
	URI string
	// Args are extra arguments given to every call, e.g.
	// {"--option", "substituters", ""}.
	Args []string
	// Batch is how many paths go into one command line; 0 means 2000.
	Batch int
}

func (s *Store) cmd(ctx context.Context, args ...string) *exec.Cmd {
	bin := s.Bin
	if bin == "" {
		bin = "nix-store"
	}
	var all []string
	if s.URI != "" {
		all = append(all, "--store", s.URI)
	}
	all = append(all, s.Args...)
	all = append(all, args...)
	return exec.CommandContext(ctx, bin, all...)
}

// run runs nix-store with args, returning stdout; stderr goes into the error.
func (s *Store) run(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	c := s.cmd(ctx, args...)
	var stdout, stderr bytes.Buffer
	c.Stdin = stdin
	c.Stdout = &stdout
	c.Stderr = &stderr
	if err := c.Run(); err != nil {
		return nil, fmt.Errorf("nix-store %s: %w: %s", strings.Join(firstArgs(args), " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

func firstArgs(args []string) []string {
	if len(args) > 4 {
		return append(append([]string{}, args[:4]...), "…")
	}
	return args
}

func lines(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (s *Store) batches(paths []string) [][]string {
	n := s.Batch
	if n <= 0 {
		n = 2000
	}
	var out [][]string
	for len(paths) > n {
		out = append(out, paths[:n])
		paths = paths[n:]
	}
	if len(paths) > 0 {
		out = append(out, paths)
	}
	return out
}

// ValidPaths reports for each path whether it is valid in the store, using
// `nix-store --check-validity --print-invalid` in batches. In a store on
// this machine's file system (the default one, or a chroot store), a path
// that is not on disk is not valid and is not asked about: the outputs of
// an evaluation's new derivations cost no nix-store call.
func (s *Store) ValidPaths(ctx context.Context, paths []string) (map[string]bool, error) {
	res := make(map[string]bool, len(paths))
	for _, p := range paths {
		res[p] = true
	}
	uniq := make([]string, 0, len(res))
	for p := range res {
		if loc, ok := s.onDisk(p); ok {
			if _, err := os.Lstat(loc); errors.Is(err, fs.ErrNotExist) {
				res[p] = false
				continue
			}
		}
		uniq = append(uniq, p)
	}
	sort.Strings(uniq)
	for _, b := range s.batches(uniq) {
		out, err := s.run(ctx, nil, append([]string{"--check-validity", "--print-invalid", "--"}, b...)...)
		if err != nil {
			return nil, fmt.Errorf("check validity: %w", err)
		}
		for _, p := range lines(out) {
			res[p] = false
		}
	}
	return res, nil
}

// onDisk returns where a store path lies on this machine's file system,
// when the store is local: the default store, or a chroot store given as
// an absolute directory. Anything but a top-level path in /nix/store is
// left to nix-store to judge.
func (s *Store) onDisk(path string) (string, bool) {
	rest, inStore := strings.CutPrefix(path, storeDir+"/")
	switch {
	case !inStore || rest == "" || strings.Contains(rest, "/"):
		return "", false
	case s.URI == "":
		return path, true
	case filepath.IsAbs(s.URI):
		return filepath.Join(s.URI, path), true
	}
	return "", false
}

// storeDir is the store directory of the stores onDisk knows.
const storeDir = "/nix/store"

// QueryReferences returns the references of a valid store path, sorted.
func (s *Store) QueryReferences(ctx context.Context, path string) ([]string, error) {
	out, err := s.run(ctx, nil, "--query", "--references", "--", path)
	if err != nil {
		return nil, fmt.Errorf("references of %s: %w", path, err)
	}
	refs := lines(out)
	sort.Strings(refs)
	return refs, nil
}

// QueryDeriver returns the deriver of a valid store path, or "" if unknown.
func (s *Store) QueryDeriver(ctx context.Context, path string) (string, error) {
	out, err := s.run(ctx, nil, "--query", "--deriver", "--", path)
	if err != nil {
		return "", fmt.Errorf("deriver of %s: %w", path, err)
	}
	d := strings.TrimSpace(string(out))
	if d == "unknown-deriver" {
		return "", nil
	}
	return d, nil
}

// ClosureOf returns the closure (requisites) of paths, via nix-store -qR, sorted.
func (s *Store) ClosureOf(ctx context.Context, paths []string) ([]string, error) {
	set := map[string]struct{}{}
	for _, b := range s.batches(paths) {
		out, err := s.run(ctx, nil, append([]string{"--query", "--requisites", "--"}, b...)...)
		if err != nil {
			return nil, fmt.Errorf("closure: %w", err)
		}
		for _, p := range lines(out) {
			set[p] = struct{}{}
		}
	}
	res := make([]string, 0, len(set))
	for p := range set {
		res = append(res, p)
	}
	sort.Strings(res)
	return res, nil
}

// Realise builds or substitutes paths (derivations or outputs) with
// nix-store --realise and returns the resulting output paths.
func (s *Store) Realise(ctx context.Context, paths ...string) ([]string, error) {
	out, err := s.run(ctx, nil, append([]string{"--realise", "--"}, paths...)...)
	if err != nil {
		return nil, fmt.Errorf("realise: %w", err)
	}
	return lines(out), nil
}

// Export writes paths in nix-store --export format to w (dependencies first).
func (s *Store) Export(ctx context.Context, w io.Writer, paths ...string) error {
	c := s.cmd(ctx, append([]string{"--export"}, paths...)...)
	var stderr bytes.Buffer
	c.Stdout = w
	c.Stderr = &stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("nix-store --export: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Import reads a nix-store --export stream from r into the store and returns
// the imported paths.
func (s *Store) Import(ctx context.Context, r io.Reader) ([]string, error) {
	out, err := s.run(ctx, r, "--import")
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return lines(out), nil
}

// DumpPath writes the NAR serialisation of a valid store path to w.
func (s *Store) DumpPath(ctx context.Context, w io.Writer, path string) error {
	c := s.cmd(ctx, "--dump", path)
	var stderr bytes.Buffer
	c.Stdout = w
	c.Stderr = &stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("nix-store --dump %s: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// OutputsValid returns a ValidFunc for Closure that asks this store, one
// nix-store call per derivation. For large graphs prefer
// (*Reader).ClosureBatched with ValidPaths.
func (s *Store) OutputsValid(ctx context.Context) ValidFunc {
	return func(outputs []string) (bool, error) {
		if len(outputs) == 0 {
			return false, nil
		}
		m, err := s.ValidPaths(ctx, outputs)
		if err != nil {
			return false, err
		}
		for _, p := range outputs {
			if !m[p] {
				return false, nil
			}
		}
		return true, nil
	}
}
