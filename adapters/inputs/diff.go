package inputs

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"buildledger/commands/reactors/email"
	"buildledger/domain/domainerr"
)

// Defaults of Fetcher.MaxDiffBytes and Fetcher.DiffTimeout.
const (
	DefaultMaxDiffBytes = 4 << 20
	DefaultDiffTimeout  = 30 * time.Second
)

// diffRevRE is what a revision of a diff may be: Hydra's characters
// (letters, digits, '_' and '.'), not starting with '.', at most 128 of
// them. Nothing a tool would read as an option, a path or a revset
// function gets through.
var diffRevRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.]{0,127}$`)

// diffRefs is where a diff's fetch keeps the remote's branches, apart
// from what an evaluation's fetch keeps.
const diffRefs = "refs/buildledger/diff/"

// Diff answers Hydra's /api/scmdiff: the log and the diff from rev1 to
// rev2 of a git or hg repository, as one text. It works in the cache
// clone the input fetches use (as the fetching identity, for a remote
// repository), fetching the repository first when a revision is not
// there. The output stops at MaxDiffBytes, with a line saying so, and
// the whole at DiffTimeout. Revisions outside diffRevRE and repositories
// a fetch would refuse are refused (domainerr.ErrInvalid); a revision
// the repository does not have is domainerr.ErrNotFound.
func (f *Fetcher) Diff(ctx context.Context, typ, uri, rev1, rev2 string) (string, error) {
	for name, rev := range map[string]string{"rev1": rev1, "rev2": rev2} {
		if !diffRevRE.MatchString(rev) || strings.Contains(rev, "..") {
			return "", domainerr.Invalid(name, "revision %q: want letters, digits, '_' and '.'", rev)
		}
	}
	if f.CacheDir == "" {
		return "", errors.New("diff: Fetcher.CacheDir is not set")
	}
	timeout := f.DiffTimeout
	if timeout <= 0 {
		timeout = DefaultDiffTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := &cappedBuffer{max: f.MaxDiffBytes, cancel: cancel}
	if out.max <= 0 {
		out.max = DefaultMaxDiffBytes
	}
	var err error
	switch typ {
	case "git":
		err = f.gitDiff(ctx, uri, rev1, rev2, out)
	case "hg":
		err = f.hgDiff(ctx, uri, rev1, rev2, out)
	default:
		return "", domainerr.Invalid("type", "type %q: want git or hg", typ)
	}
	switch {
	case out.truncated:
		return out.String() + fmt.Sprintf("\n[output cut at %d bytes]\n", out.max), nil
	case err != nil && ctx.Err() != nil:
		return "", domainerr.Busy("diff of %s took longer than %s", uri, timeout)
	case err != nil:
		return "", err
	}
	return out.String(), nil
}

// gitDiff writes git log and git diff of rev1..rev2 to out.
func (f *Fetcher) gitDiff(ctx context.Context, uri, rev1, rev2 string, out *cappedBuffer) error {
	return f.withGitRevisions(ctx, uri, rev1, rev2, func(w *fetcher, cache string) error {
		for _, sub := range []string{"log", "diff"} {
			cmd := w.command(ctx, nil, "git", "-C", cache, sub, "--no-color", "--end-of-options", rev1+".."+rev2)
			cmd.Stdout = out
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("git %s %s..%s: %w", sub, rev1, rev2, err)
			}
		}
		return nil
	})
}

// withGitRevisions calls fn with the cache clone of uri once it holds
// rev1 and rev2, fetching the repository when it does not, under the
// clone's lock.
func (f *Fetcher) withGitRevisions(ctx context.Context, uri, rev1, rev2 string, fn func(w *fetcher, cache string) error) error {
	if strings.HasPrefix(uri, "-") || sshOptionLike(uri) {
		return domainerr.Invalid("uri", "repository %q: a host or repository starting with '-'", uri)
	}
	protocols, local, err := f.gitProtocols(uri)
	if err != nil {
		return domainerr.Invalid("uri", "%v", err)
	}
	w, err := f.as(local)
	if err != nil {
		return err
	}
	cache := w.cacheDir("git", uri)
	unlock := f.lock(cache)
	defer unlock()
	has := func() bool {
		for _, rev := range []string{rev1, rev2} {
			if _, err := w.run(ctx, nil, "git", "-C", cache, "rev-parse", "--quiet", "--verify", "--end-of-options", rev+"^{commit}"); err != nil {
				return false
			}
		}
		return true
	}
	if _, err := os.Stat(filepath.Join(cache, "HEAD")); err != nil {
		if _, err := w.run(ctx, nil, "git", "init", "--quiet", "--bare", cache); err != nil {
			return err
		}
	}
	if !has() {
		if _, err := w.run(ctx, []string{"GIT_ALLOW_PROTOCOL=" + protocols, "GIT_SSH_COMMAND=" + sshCommand},
			"git", "-C", cache, "fetch", "--quiet", "--force", "--", uri, "+refs/heads/*:"+diffRefs+"*"); err != nil {
			return fmt.Errorf("fetch %s: %w", uri, err)
		}
		if !has() {
			return domainerr.NotFound("revisions of "+uri, rev1+" and "+rev2)
		}
	}
	return fn(w, cache)
}

var _ email.Commits = (*Fetcher)(nil)

// Commits lists the commits after rev1 up to rev2 of a git repository,
// newest first, with their authors: what Hydra's GitInput getCommits
// gives its e-mail notifier for emailresponsible. It uses the cache clone
// and the checks of Diff; other input types have no commits (nil).
func (f *Fetcher) Commits(ctx context.Context, typ, uri, rev1, rev2 string) ([]email.Commit, error) {
	if typ != "git" {
		return nil, nil
	}
	for name, rev := range map[string]string{"rev1": rev1, "rev2": rev2} {
		if !diffRevRE.MatchString(rev) || strings.Contains(rev, "..") {
			return nil, domainerr.Invalid(name, "revision %q: want letters, digits, '_' and '.'", rev)
		}
	}
	if f.CacheDir == "" {
		return nil, errors.New("commits: Fetcher.CacheDir is not set")
	}
	timeout := f.DiffTimeout
	if timeout <= 0 {
		timeout = DefaultDiffTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out []email.Commit
	err := f.withGitRevisions(ctx, uri, rev1, rev2, func(w *fetcher, cache string) error {
		log, err := w.run(ctx, nil, "git", "-C", cache, "log", "--no-color", "--pretty=format:%H%x09%an%x09%ae", "--end-of-options", rev1+".."+rev2)
		if err != nil {
			return err
		}
		for line := range strings.SplitSeq(log, "\n") {
			if parts := strings.SplitN(line, "\t", 3); len(parts) == 3 {
				out = append(out, email.Commit{Revision: parts[0], Author: parts[1], Email: parts[2]})
			}
		}
		return nil
	})
	return out, err
}

// hgDiff writes hg log and hg diff of rev1 to rev2 to out, as Hydra's
// scmdiff does (the changesets after rev1 up to rev2, newest first).
func (f *Fetcher) hgDiff(ctx context.Context, uri, rev1, rev2 string, out *cappedBuffer) error {
	loc, err := f.locate(uri, hgSchemes)
	if err != nil {
		return domainerr.Invalid("uri", "%v", err)
	}
	w, err := f.as(loc.local)
	if err != nil {
		return err
	}
	cache := w.cacheDir("hg", uri)
	unlock := f.lock(cache)
	defer unlock()
	hg := func(args ...string) []string {
		return append([]string{"--config", "ui.ssh=" + sshCommand, "--noninteractive"}, args...)
	}
	src := uri
	if loc.local {
		src = loc.path
	}
	has := func() bool {
		_, err := w.run(ctx, hgEnv, "hg", hg("log", "-R", cache, "-r", rev1, "-r", rev2, "--template", "")...)
		return err == nil
	}
	if _, err := os.Stat(filepath.Join(cache, ".hg")); err != nil {
		if err := w.parentDir(cache); err != nil {
			return err
		}
		if _, err := w.run(ctx, hgEnv, "hg", hg("clone", "--noupdate", "--", src, cache)...); err != nil {
			return fmt.Errorf("clone %s: %w", uri, err)
		}
	} else if !has() {
		if _, err := w.run(ctx, hgEnv, "hg", hg("pull", "-R", cache, "--", src)...); err != nil {
			return fmt.Errorf("pull %s: %w", uri, err)
		}
	}
	if !has() {
		return domainerr.NotFound("revisions of "+uri, rev1+" and "+rev2)
	}
	for _, args := range [][]string{
		{"log", "-R", cache, "-r", "reverse(" + rev1 + "::" + rev2 + ") and not(" + rev1 + ")"},
		{"diff", "-R", cache, "-r", rev1, "-r", rev2},
	} {
		cmd := w.command(ctx, hgEnv, "hg", hg(args...)...)
		cmd.Stdout = out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("hg %s: %w", args[0], err)
		}
	}
	return nil
}

// sshOptionLike reports whether ssh would read the user or host of a
// git URL as an option ("-oProxyCommand=…"). A URL that does not parse
// counts as one.
func sshOptionLike(uri string) bool {
	dest := ""
	if scheme, rest, ok := strings.Cut(uri, "://"); ok {
		if scheme == "file" {
			return false
		}
		u, err := url.Parse(uri)
		if err != nil {
			return true
		}
		if u.User != nil && strings.HasPrefix(u.User.Username(), "-") {
			return true
		}
		dest = u.Hostname()
		if dest == "" {
			dest, _, _ = strings.Cut(rest, "/")
		}
	} else if isSCPLike(uri) {
		dest, _, _ = strings.Cut(uri, ":")
		if i := strings.LastIndexByte(dest, '@'); i >= 0 {
			dest = dest[i+1:]
		}
	}
	return strings.HasPrefix(dest, "-")
}

// cappedBuffer keeps the first max bytes written to it; past them it
// cancels the commands writing and refuses more.
type cappedBuffer struct {
	strings.Builder
	max       int
	truncated bool
	cancel    context.CancelFunc
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.WriteString(string(p[:max(room, 0)]))
		b.truncated = true
		b.cancel()
		return 0, errors.New("output too large")
	}
	return b.Builder.Write(p)
}
