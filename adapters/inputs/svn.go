package inputs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"buildledger/commands/evaluation"
	"buildledger/events"
)

// svnSchemes are the transports a remote Subversion repository may use.
var svnSchemes = []string{"https", "http", "svn", "svn+ssh"}

// fetchSvn fetches an svn input, "URI [revision]" (default: the URI's
// last changed revision), as Hydra's SubversionInput does: a working copy
// per URI kept in the cache and checked out at the revision, then
// exported without .svn into the store. The revision number is recorded
// as the revision (Hydra passes it to Nix as a number, buildledger as a
// string, as every other revision).
func (f *Fetcher) fetchSvn(ctx context.Context, s events.JobsetInput, out *evaluation.Input) error {
	words := strings.Fields(s.Value)
	if len(words) == 0 || len(words) > 2 {
		return fmt.Errorf("svn value %q: want URI [revision]", s.Value)
	}
	uri := words[0]
	loc, err := f.locate(uri, svnSchemes)
	if err != nil {
		return err
	}
	if loc.local && !strings.HasPrefix(uri, "file://") {
		return fmt.Errorf("local repository %q: Subversion takes file:// URLs", uri)
	}
	w, err := f.as(loc.local)
	if err != nil {
		return err
	}
	cache := w.cacheDir("svn", uri)
	unlock := f.lock(cache)
	defer unlock()
	// An empty configuration directory of the identity's own, no stored
	// or asked-for credentials, and ssh without the server's keys.
	config := filepath.Join(w.dir, "svn-config")
	if err := os.MkdirAll(config, 0o700); err != nil {
		return fmt.Errorf("svn config: %w", err)
	}
	if err := w.id.Chown(config); err != nil {
		return err
	}
	svn := func(args ...string) (string, error) {
		return w.run(ctx, []string{"SVN_SSH=" + sshCommand}, "svn",
			append([]string{"--non-interactive", "--no-auth-cache", "--config-dir", config}, args...)...)
	}

	var rev int
	if len(words) == 2 {
		if rev, err = strconv.Atoi(words[1]); err != nil || rev < 0 {
			return fmt.Errorf("svn revision %q: want a number", words[1])
		}
	} else {
		head, err := svn("info", "--show-item", "last-changed-revision", "--", uri)
		if err != nil {
			return fmt.Errorf("last revision of %s: %w", uri, err)
		}
		if rev, err = strconv.Atoi(strings.TrimSpace(head)); err != nil {
			return fmt.Errorf("last revision of %s: svn info said %q", uri, head)
		}
	}
	r := strconv.Itoa(rev)
	if err := w.parentDir(cache); err != nil {
		return err
	}
	if _, err := svn("checkout", "--quiet", "-r", r, "--", uri, cache); err != nil {
		return fmt.Errorf("check out %s at %d: %w", uri, rev, err)
	}
	dst, done, err := w.exportDir("svn-export")
	if err != nil {
		return err
	}
	defer done()
	if _, err := svn("export", "--quiet", "--", cache, dst); err != nil {
		return err
	}
	sp, sha, err := w.addToStore(ctx, dst)
	if err != nil {
		return err
	}
	out.URI, out.Revision = uri, r
	out.StorePath, out.SHA256 = sp, "sha256:"+sha
	return nil
}
