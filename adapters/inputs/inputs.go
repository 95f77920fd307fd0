// Package inputs fetches the inputs of a Hydra jobset: git, Mercurial,
// Subversion and darcs repositories, local paths and URLs are copied into
// the Nix store; a forge's open pull requests or refs are written to a
// JSON file in the store; string, boolean and nix inputs are checked and
// passed through.
package inputs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"buildledger/adapters/nix/eval"
	"buildledger/commands/evaluation"
	"buildledger/events"
)

var _ evaluation.SpecReader = (*Fetcher)(nil)

// ShortRevLength is the length of a git revision's short form.
const ShortRevLength = 7

// Fetcher fetches inputs. Its zero value is not usable: CacheDir is
// required.
type Fetcher struct {
	// CacheDir holds the git clones reused between fetches.
	CacheDir string
	// NixBinDir is where nix-store lives; empty means PATH.
	NixBinDir string
	// Roots are the server directories inputs may be taken from: a path
	// input, or a local git repository, must lie inside one of them (after
	// its symbolic links are resolved). Jobset authors are not the
	// operator: with no roots, the server's files (its session key, its
	// cache signing key, /etc/shadow) would be theirs to copy into the
	// world-readable store. Empty refuses every local input.
	Roots []string
	// Identity is whom fetches of remote sources (a git URL, a flake from
	// the network) run as; the zero value is the server. Its user reaches
	// the store through Identity.Store.
	Identity eval.Identity
	// AllowedURIs are the URL prefixes a path input may be fetched from
	// (the operator's --allowed-uri, which also bounds what evaluation
	// fetches); empty refuses every URL.
	AllowedURIs []string
	// PathValidity is how long a path input fetched from a URL is reused
	// when its value gives no time; zero means DefaultPathValidity.
	PathValidity time.Duration
	// MaxURLSize bounds a path input's download in bytes; zero means
	// DefaultMaxURLSize.
	MaxURLSize int64
	// Forges configures the pull-request and refs inputs (forge.go).
	Forges Forges
	// MaxDiffBytes bounds what Diff answers; zero means
	// DefaultMaxDiffBytes.
	MaxDiffBytes int
	// DiffTimeout bounds a Diff, its fetch included; zero means
	// DefaultDiffTimeout.
	DiffTimeout time.Duration

	mu    sync.Mutex
	locks map[string]*sync.Mutex
	// forgetBefore is the latest clearing of the caches: entries
	// written before it are not used (ForgetCachesBefore).
	forgetBefore time.Time
}

// cacheDirs are the directories of CacheDir whose entries say what a
// fetch gave before (Hydra's Cached*Inputs): each file is one entry.
var cacheDirs = []string{"deep-clones", "path-urls"}

// ForgetCachesBefore forgets the deep clones and URL downloads remembered
// before t, as Hydra's clear-vcs-cache empties its Cached*Inputs: the next
// fetch of each makes it again. Entries are removed the first time a
// given t is seen; until then, and for any left behind, fresh refuses
// them. The bare clones the fetches pull into stay (they hold no result).
func (f *Fetcher) ForgetCachesBefore(t time.Time) error {
	f.mu.Lock()
	if !t.After(f.forgetBefore) {
		f.mu.Unlock()
		return nil
	}
	f.forgetBefore = t
	f.mu.Unlock()
	var errs []error
	for _, dir := range cacheDirs {
		dir = filepath.Join(f.CacheDir, dir)
		entries, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("clear cache: %w", err))
			continue
		}
		for _, e := range entries {
			info, err := e.Info()
			if err == nil && info.ModTime().Before(t) {
				err = os.Remove(filepath.Join(dir, e.Name()))
			}
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("clear cache: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// fresh reports whether the cache entry file was written after the
// latest clearing, and so may be used.
func (f *Fetcher) fresh(file string) bool {
	info, err := os.Stat(file)
	if err != nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return !info.ModTime().Before(f.forgetBefore)
}

var _ evaluation.CacheClearer = (*Fetcher)(nil)

// Fetch fetches one input: what InputFetched records and how the
// evaluator passes it, in the evaluation port's type.
func (f *Fetcher) Fetch(ctx context.Context, s events.JobsetInput) (evaluation.Input, error) {
	if f.CacheDir == "" {
		return evaluation.Input{}, errors.New("fetch input: Fetcher.CacheDir is not set")
	}
	out := evaluation.Input{Name: s.Name, Type: s.Type, Value: s.Value, Arg: evaluation.ArgPath}
	var err error
	switch s.Type {
	case "git":
		err = f.fetchGit(ctx, s, &out)
	case "hg":
		err = f.fetchHg(ctx, s, &out)
	case "svn":
		err = f.fetchSvn(ctx, s, &out)
	case "darcs":
		err = f.fetchDarcs(ctx, s, &out)
	case "path":
		err = f.fetchPath(ctx, s, &out)
	case "githubpulls", "github_refs", "gitlabpulls", "giteapulls":
		err = f.fetchForge(ctx, s.Type, s.Value, &out)
	case "string":
		out.Arg, out.ArgValue = evaluation.ArgString, s.Value
	case "nix":
		out.Arg, out.ArgValue = evaluation.ArgNix, s.Value
	case "boolean":
		out.Arg, out.ArgValue = evaluation.ArgBool, s.Value
		if s.Value != "true" && s.Value != "false" {
			err = fmt.Errorf("boolean value %q is neither true nor false", s.Value)
		}
	default:
		err = fmt.Errorf("unsupported input type %q", s.Type)
	}
	if err != nil {
		return evaluation.Input{}, fmt.Errorf("fetch %s input %s: %w", s.Type, s.Name, err)
	}
	return out, nil
}

// fetchPath adds a local path, or a URL's content, to the store. The
// value is "PATH-OR-URL [seconds]", as in Hydra; the seconds apply to
// URLs (fetchPathURL).
func (f *Fetcher) fetchPath(ctx context.Context, s events.JobsetInput, out *evaluation.Input) error {
	words := strings.Fields(s.Value)
	if len(words) == 0 || len(words) > 2 {
		return fmt.Errorf("path value %q: want a path or URL and, for a URL, the seconds its download is reused", s.Value)
	}
	p := words[0]
	if strings.Contains(p, "://") {
		validity := f.PathValidity
		if validity <= 0 {
			validity = DefaultPathValidity
		}
		if len(words) == 2 {
			secs, err := strconv.ParseUint(words[1], 10, 31)
			if err != nil {
				return fmt.Errorf("path value %q: %q is not a number of seconds", s.Value, words[1])
			}
			validity = time.Duration(secs) * time.Second
		}
		return f.fetchPathURL(ctx, p, validity, out)
	}
	if !filepath.IsAbs(p) {
		return fmt.Errorf("path %q is not absolute", p)
	}
	p, err := f.confine(p)
	if err != nil {
		return err
	}
	w, err := f.as(true)
	if err != nil {
		return err
	}
	sp, sha, err := w.addToStore(ctx, p)
	if err != nil {
		return err
	}
	out.URI = p
	out.StorePath = sp
	out.SHA256 = "sha256:" + sha
	out.Revision = sha
	return nil
}

// ErrOutsideRoots is wrapped by the error for a local input outside every
// root of Fetcher.Roots.
var ErrOutsideRoots = errors.New("not inside a directory the operator allows inputs from")

// confine resolves p's symbolic links and returns the result if it lies
// inside one of the roots.
func (f *Fetcher) confine(p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	for _, root := range f.Roots {
		r, err := filepath.EvalSymlinks(root)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(r, real); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return real, nil
		}
	}
	return "", fmt.Errorf("%s: %w (the evaluator's --input-root)", p, ErrOutsideRoots)
}

// ConfineFlake refuses a flake reference to a local directory or
// repository outside Roots; references to remote sources pass. local
// reports a reference to a local one.
func (f *Fetcher) ConfineFlake(ref string) (local bool, err error) {
	loc, _, _ := strings.Cut(ref, "?")
	for _, prefix := range []string{"path:", "git+file://", "file://", "tarball+file://", "git+file:", "file:"} {
		if rest, ok := strings.CutPrefix(loc, prefix); ok {
			loc = rest
			break
		}
	}
	if !filepath.IsAbs(loc) && !strings.HasPrefix(loc, ".") {
		return false, nil // github:, git+https:, an indirect reference, …
	}
	if !filepath.IsAbs(loc) {
		return true, fmt.Errorf("flake %q: a local flake must be given by an absolute path", ref)
	}
	_, err = f.confine(loc)
	return true, err
}

// fetcher runs the children of one fetch as one identity, in a cache
// directory of that identity's own.
type fetcher struct {
	f   *Fetcher
	id  eval.Identity
	dir string
}

// as returns the fetcher of Fetcher.Identity, or of the server when
// local is true. Local sources are read as the server: they lie inside
// Roots, which the operator vouched for, and the server can read them
// whatever their modes.
func (f *Fetcher) as(local bool) (*fetcher, error) {
	id := f.Identity
	if local {
		id = eval.Identity{}
	}
	dir, err := id.Dir(f.CacheDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("input cache: %w", err)
	}
	return &fetcher{f: f, id: id, dir: dir}, nil
}

// Command is a fetching child: as the remote identity unless local, with
// eval.ChildEnv (no server secrets, a HOME that does not exist), Nix's
// caches in its identity's directory, no system or global git
// configuration and no terminal. The server's HOME holds its git
// credentials and configuration, which a jobset's URL must not borrow.
func (f *Fetcher) Command(ctx context.Context, local bool, name string, args ...string) (*exec.Cmd, error) {
	w, err := f.as(local)
	if err != nil {
		return nil, err
	}
	return w.command(ctx, nil, name, args...), nil
}

func (w *fetcher) command(ctx context.Context, extra []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	// In the identity's own directory, not the server's: darcs writes
	// temporary files in its working directory.
	cmd.Dir = w.dir
	cmd.Env = append(eval.ChildEnv(), "XDG_CONFIG_HOME=/homeless-shelter",
		"XDG_CACHE_HOME="+filepath.Join(w.dir, "xdg-cache"),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0")
	cmd.Env = append(cmd.Env, extra...)
	w.id.Apply(cmd)
	return cmd
}

// addToStore copies p into the Nix store and returns the store path and its
// NAR hash.
func (w *fetcher) addToStore(ctx context.Context, p string) (string, string, error) {
	sp, err := w.run(ctx, nil, w.f.bin("nix-store"), "--add", "--", p)
	if err != nil {
		return "", "", err
	}
	sp = strings.TrimSpace(sp)
	h, err := w.run(ctx, nil, w.f.bin("nix-store"), "--query", "--hash", "--", sp)
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

// run runs a command with extra added to its environment, and returns
// its stdout; a failure carries stderr.
func (w *fetcher) run(ctx context.Context, extra []string, name string, args ...string) (string, error) {
	cmd := w.command(ctx, extra, name, args...)
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
