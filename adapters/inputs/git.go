package inputs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
func (f *Fetcher) fetchGit(ctx context.Context, s Spec, out *Fetched) error {
	g, err := parseGitValue(s.Value)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(g.URI))
	cache := filepath.Join(f.CacheDir, "git", hex.EncodeToString(sum[:16]))
	unlock := f.lock(cache)
	defer unlock()

	if _, err := os.Stat(filepath.Join(cache, "HEAD")); err != nil {
		if err := os.MkdirAll(cache, 0o755); err != nil {
			return fmt.Errorf("git cache: %w", err)
		}
		if _, err := f.run(ctx, "", "git", "init", "--quiet", "--bare", cache); err != nil {
			return err
		}
	}
	ref := "HEAD"
	if g.Branch != "" {
		ref = g.Branch
	}
	if _, err := f.run(ctx, "", "git", "-C", cache, "fetch", "--quiet", "--force", "--", g.URI, "+"+ref+":"+fetchRef); err != nil {
		return fmt.Errorf("fetch %s from %s: %w", ref, g.URI, err)
	}
	rev, err := f.run(ctx, "", "git", "-C", cache, "rev-parse", "--verify", fetchRef+"^{commit}")
	if err != nil {
		return err
	}
	rev = strings.TrimSpace(rev)
	count, err := f.run(ctx, "", "git", "-C", cache, "rev-list", "--count", rev)
	if err != nil {
		return err
	}
	revCount, err := strconv.Atoi(strings.TrimSpace(count))
	if err != nil {
		return fmt.Errorf("rev-list count %q: %w", count, err)
	}

	tmp, err := os.MkdirTemp(f.CacheDir, "export-")
	if err != nil {
		return fmt.Errorf("export dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	dst := filepath.Join(tmp, "git-export")
	if g.Deep {
		if _, err := f.run(ctx, "", "git", "clone", "--quiet", "--no-checkout", cache, dst); err != nil {
			return err
		}
		if _, err := f.run(ctx, "", "git", "-C", dst, "checkout", "--quiet", rev); err != nil {
			return err
		}
	} else if err := f.exportTree(ctx, cache, rev, dst); err != nil {
		return err
	}
	sp, sha, err := f.addToStore(ctx, dst)
	if err != nil {
		return err
	}
	out.URI = g.URI
	out.Revision = rev
	out.RevCount = revCount
	out.ShortRevLength = ShortRevLength
	out.StorePath = sp
	out.SHA256 = sha
	return nil
}

// exportTree writes the tree of rev into dst with git archive | tar.
func (f *Fetcher) exportTree(ctx context.Context, repo, rev, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("export dir: %w", err)
	}
	archive := exec.CommandContext(ctx, "git", "-C", repo, "archive", "--format=tar", rev)
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", dst)
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
