package inputs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"buildledger/commands/evaluation"
	"buildledger/events"
)

// gitValue is a parsed git input value: "URI [branch [deepClone]] [k=v…]".
type gitValue struct {
	URI    string
	Branch string
	Deep   bool
	// Options are the k=v words (e.g. timeout=…); they are accepted and
	// ignored.
	Options map[string]string
}

func parseGitValue(v string) (gitValue, error) {
	var g gitValue
	var pos []string
	for _, w := range strings.Fields(v) {
		if k, val, ok := strings.Cut(w, "="); ok && !strings.Contains(k, "/") && !strings.Contains(k, ":") {
			if g.Options == nil {
				g.Options = map[string]string{}
			}
			g.Options[k] = val
			continue
		}
		pos = append(pos, w)
	}
	if len(pos) == 0 {
		return g, fmt.Errorf("git value %q has no URI", v)
	}
	if len(pos) > 3 {
		return g, fmt.Errorf("git value %q has more than URI, branch and deepClone", v)
	}
	g.URI = pos[0]
	if len(pos) > 1 {
		g.Branch = pos[1]
	}
	g.Deep = len(pos) > 2
	if strings.HasPrefix(g.Branch, "-") {
		return g, fmt.Errorf("git branch %q is not a branch name", g.Branch)
	}
	return g, nil
}

// fetchRef is where the fetched commit is kept in the cache repository.
const fetchRef = "refs/buildledger/fetched"

// fetchGit fetches the branch (default: the remote's HEAD) of a git
// repository into a bare cache clone, exports the commit's tree (with .git
// for deepClone) and adds it to the Nix store.
func (f *Fetcher) fetchGit(ctx context.Context, s events.JobsetInput, out *evaluation.Input) error {
	g, err := parseGitValue(s.Value)
	if err != nil {
		return err
	}
	protocols, local, err := f.gitProtocols(g.URI)
	if err != nil {
		return err
	}
	w, err := f.as(local)
	if err != nil {
		return err
	}
	cache := w.cacheDir("git", g.URI)
	unlock := f.lock(cache)
	defer unlock()

	if _, err := os.Stat(filepath.Join(cache, "HEAD")); err != nil {
		if _, err := w.run(ctx, nil, "git", "init", "--quiet", "--bare", cache); err != nil {
			return err
		}
	}
	ref := "HEAD"
	if g.Branch != "" {
		ref = g.Branch
	}
	if _, err := w.run(ctx, []string{"GIT_ALLOW_PROTOCOL=" + protocols, "GIT_SSH_COMMAND=" + sshCommand},
		"git", "-C", cache, "fetch", "--quiet", "--force", "--", g.URI, "+"+ref+":"+fetchRef); err != nil {
		return fmt.Errorf("fetch %s from %s: %w", ref, g.URI, err)
	}
	rev, err := w.run(ctx, nil, "git", "-C", cache, "rev-parse", "--verify", fetchRef+"^{commit}")
	if err != nil {
		return err
	}
	rev = strings.TrimSpace(rev)
	count, err := w.run(ctx, nil, "git", "-C", cache, "rev-list", "--count", rev)
	if err != nil {
		return err
	}
	revCount, err := strconv.Atoi(strings.TrimSpace(count))
	if err != nil {
		return fmt.Errorf("rev-list count %q: %w", count, err)
	}

	out.URI = g.URI
	out.Revision = rev
	out.RevCount = revCount
	out.ShortRevLength = ShortRevLength
	if g.Deep {
		if sp, sha, ok := f.deepClone(g.URI, rev); ok {
			out.StorePath, out.SHA256 = sp, sha
			return nil
		}
	}

	dst, done, err := w.exportDir("git-export")
	if err != nil {
		return err
	}
	defer done()
	if g.Deep {
		if _, err := w.run(ctx, nil, "git", "clone", "--quiet", "--no-checkout", cache, dst); err != nil {
			return err
		}
		if _, err := w.run(ctx, nil, "git", "-C", dst, "checkout", "--quiet", rev); err != nil {
			return err
		}
	} else if err := w.exportTree(ctx, cache, rev, dst); err != nil {
		return err
	}
	sp, sha, err := w.addToStore(ctx, dst)
	if err != nil {
		return err
	}
	out.StorePath = sp
	out.SHA256 = "sha256:" + sha
	if g.Deep {
		return f.rememberDeepClone(g.URI, rev, out.StorePath, out.SHA256)
	}
	return nil
}

// deepCloneFile is where the store path of the deep clone of uri at rev
// is kept. A clone's .git differs from one run of git to the next (index
// timestamps, reflogs, packs), so cloning an unchanged revision again would
// give a new store path, and every job using it a new build; Hydra keeps
// them in CachedGitInputs for that reason. The directory is the server's,
// not that of the identity that runs git, so no fetch can plant an entry.
func (f *Fetcher) deepCloneFile(uri, rev string) string {
	sum := sha256.Sum256([]byte(uri + "\x00" + rev))
	return filepath.Join(f.CacheDir, "deep-clones", hex.EncodeToString(sum[:]))
}

// deepClone returns the store path and hash of the deep clone of uri at
// rev made before, if it is still in the store.
func (f *Fetcher) deepClone(uri, rev string) (storePath, sha string, ok bool) {
	file := f.deepCloneFile(uri, rev)
	if !f.fresh(file) {
		return "", "", false
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", "", false
	}
	storePath, sha, ok = strings.Cut(strings.TrimSpace(string(b)), " ")
	if !ok || !filepath.IsAbs(storePath) {
		return "", "", false
	}
	if _, err := os.Lstat(storePath); err != nil {
		return "", "", false // collected since
	}
	return storePath, sha, true
}

// rememberDeepClone records the deep clone of uri at rev.
func (f *Fetcher) rememberDeepClone(uri, rev, storePath, sha string) error {
	file := f.deepCloneFile(uri, rev)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("deep clone cache: %w", err)
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(storePath+" "+sha+"\n"), 0o600); err != nil {
		return fmt.Errorf("deep clone cache: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("deep clone cache: %w", err)
	}
	return nil
}

// sshCommand is how git reaches an ssh:// or scp-like URL: with no
// identity, agent or configuration of the server's (ssh reads keys from
// the account's home, whatever HOME says), and never asking. No project
// has credentials of its own today, so only public repositories are
// fetched over SSH.
const sshCommand = "ssh -F /dev/null -o IdentityFile=none -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes"

// gitProtocols are the transports git may use to fetch uri: the network
// ones, and the local one only for a repository inside Fetcher.Roots (a
// local repository is a server file like any other). local reports the
// latter.
func (f *Fetcher) gitProtocols(uri string) (protocols string, local bool, err error) {
	const remote = "https:http:ssh:git"
	scheme, rest, hasScheme := strings.Cut(uri, "://")
	var path string
	switch {
	case hasScheme && scheme == "file":
		path = rest
	case hasScheme:
		return remote, false, nil
	case isSCPLike(uri):
		return remote, false, nil
	default:
		path = uri
	}
	if !filepath.IsAbs(path) {
		return "", false, fmt.Errorf("local repository %q: not an absolute path", uri)
	}
	if _, err := f.confine(path); err != nil {
		return "", false, fmt.Errorf("local repository: %w", err)
	}
	return remote + ":file", true, nil
}

// isSCPLike reports whether uri is git's scp-like SSH syntax,
// [user@]host:path, which has a colon before any slash.
func isSCPLike(uri string) bool {
	colon := strings.IndexByte(uri, ':')
	slash := strings.IndexByte(uri, '/')
	return colon > 0 && (slash < 0 || colon < slash)
}

// exportTree writes the tree of rev into dst with git archive | tar.
func (w *fetcher) exportTree(ctx context.Context, repo, rev, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("export dir: %w", err)
	}
	if err := w.id.Chown(dst); err != nil {
		return err
	}
	archive := w.command(ctx, nil, "git", "-C", repo, "archive", "--format=tar", rev)
	untar := w.command(ctx, nil, "tar", "-x", "-C", dst)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return fmt.Errorf("git archive: %w", err)
	}
	untar.Stdin = pipe
	var aerr, terr bytes.Buffer
	archive.Stderr = &aerr
	untar.Stderr = &terr
	if err := archive.Start(); err != nil {
		return fmt.Errorf("git archive: %w", err)
	}
	if err := untar.Run(); err != nil {
		_ = archive.Wait()
		return fmt.Errorf("tar -x: %w: %s", err, strings.TrimSpace(terr.String()))
	}
	if err := archive.Wait(); err != nil {
		return fmt.Errorf("git archive %s: %w: %s", rev, err, strings.TrimSpace(aerr.String()))
	}
	return nil
}
