// Package inputs fetches the inputs of a Hydra jobset: git repositories and
// local paths are copied into the Nix store; string, boolean and nix inputs
// are checked and passed through.
package inputs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"buildledger/adapters/nix/eval"
)

// Spec is one jobset input as configured: its name, type and value.
type Spec struct {
	Name  string
	Type  string // "git", "path", "string", "boolean" or "nix"
	Value string
}

// Fetched is a fetched input, the data Hydra keeps in JobsetEvalInputs.
type Fetched struct {
	Name     string
	Type     string
	URI      string
	Revision string
	// Value is the configured value.
	Value string
	// StorePath is where the input lies in the Nix store (git, path).
	StorePath string
	// SHA256 is the NAR hash of StorePath in Nix's base-32, without the
	// "sha256:" prefix.
	SHA256         string
	ShortRevLength int
	RevCount       int
}

// ShortRevLength is the length of a git revision's short form.
const ShortRevLength = 7

// Fetcher fetches inputs. Its zero value is not usable: CacheDir is
// required.
type Fetcher struct {
	// CacheDir holds the git clones reused between fetches.
	CacheDir string
	// NixBinDir is where nix-store lives; empty means PATH.
	NixBinDir string

	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// Fetch fetches one input.
func (f *Fetcher) Fetch(ctx context.Context, s Spec) (Fetched, error) {
	if f.CacheDir == "" {
		return Fetched{}, errors.New("fetch input: Fetcher.CacheDir is not set")
	}
	out := Fetched{Name: s.Name, Type: s.Type, Value: s.Value}
	var err error
	switch s.Type {
	case "git":
		err = f.fetchGit(ctx, s, &out)
	case "path":
		err = f.fetchPath(ctx, s, &out)
	case "string", "nix":
	case "boolean":
		if s.Value != "true" && s.Value != "false" {
			err = fmt.Errorf("boolean value %q is neither true nor false", s.Value)
		}
	default:
		err = fmt.Errorf("unsupported input type %q", s.Type)
	}
	if err != nil {
		return Fetched{}, fmt.Errorf("fetch %s input %s: %w", s.Type, s.Name, err)
	}
	return out, nil
}

// EvalInput converts a fetched input to an evaluation argument.
func (f Fetched) EvalInput() eval.Input {
	switch f.Type {
	case "string":
		return eval.Input{Kind: eval.KindString, Value: f.Value}
	case "boolean":
		return eval.Input{Kind: eval.KindBool, Value: f.Value}
	case "nix":
		return eval.Input{Kind: eval.KindNix, Value: f.Value}
	}
	in := eval.Input{Kind: eval.KindPath, Value: f.StorePath, InputType: f.Type, URI: f.URI, Rev: f.Revision, RevCount: f.RevCount}
	if f.ShortRevLength > 0 && len(f.Revision) >= f.ShortRevLength {
		in.ShortRev = f.Revision[:f.ShortRevLength]
	}
	return in
}

// fetchPath adds a local path to the store.
func (f *Fetcher) fetchPath(ctx context.Context, s Spec, out *Fetched) error {
	p := s.Value
	if !filepath.IsAbs(p) {
		return fmt.Errorf("path %q is not absolute", p)
	}
	if _, err := os.Stat(p); err != nil {
		return err
	}
	sp, sha, err := f.addToStore(ctx, p)
	if err != nil {
		return err
	}
	out.URI = p
	out.StorePath = sp
	out.SHA256 = sha
	out.Revision = sha
	return nil
}

// addToStore copies p into the Nix store and returns the store path and its
// NAR hash.
func (f *Fetcher) addToStore(ctx context.Context, p string) (string, string, error) {
	sp, err := f.run(ctx, "", f.bin("nix-store"), "--add", p)
	if err != nil {
		return "", "", err
	}
	sp = strings.TrimSpace(sp)
	h, err := f.run(ctx, "", f.bin("nix-store"), "--query", "--hash", sp)
	if err != nil {
		return "", "", err
	}
	return sp, strings.TrimPrefix(strings.TrimSpace(h), "sha256:"), nil
}

func (f *Fetcher) bin(name string) string {
	if f.NixBinDir == "" {
		return name
	}
	return filepath.Join(f.NixBinDir, name)
}

// run runs a command and returns its stdout; a failure carries stderr.
func (f *Fetcher) run(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "NIX_PATH=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// lock serialises work on one cache directory within this process.
func (f *Fetcher) lock(key string) func() {
	f.mu.Lock()
	if f.locks == nil {
		f.locks = map[string]*sync.Mutex{}
	}
	l, ok := f.locks[key]
	if !ok {
		l = &sync.Mutex{}
		f.locks[key] = l
	}
	f.mu.Unlock()
	l.Lock()
	return l.Unlock
}
