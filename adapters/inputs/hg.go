package inputs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"buildledger/commands/evaluation"
	"buildledger/events"
)

// hgSchemes are the transports a remote Mercurial repository may use.
var hgSchemes = []string{"https", "http", "ssh"}

// hgRevRE is what the revision word of an hg input may be: a branch,
// bookmark, tag or changeset id. Mercurial would read anything else as a
// revset, whose functions can reach beyond the repository.
var hgRevRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+/-]*$`)

// hgEnv keeps every configuration file but the clone's own out of
// Mercurial (HGRCPATH empty) and its output stable (HGPLAIN).
var hgEnv = []string{"HGRCPATH=", "HGPLAIN=1"}

// fetchHg fetches an hg input, "URI [revision]" (default: the branch
// "default"), as Hydra's MercurialInput does: a clone per URI kept in the
// cache and pulled at each fetch, then the revision's files exported
// without .hg into the store. It records the changeset id as the revision
// and Mercurial's local revision number as revCount.
func (f *Fetcher) fetchHg(ctx context.Context, s events.JobsetInput, out *evaluation.Input) error {
	words := strings.Fields(s.Value)
	if len(words) == 0 || len(words) > 2 {
		return fmt.Errorf("hg value %q: want URI [revision]", s.Value)
	}
	uri, rev := words[0], "default"
	if len(words) == 2 {
		rev = words[1]
	}
	if !hgRevRE.MatchString(rev) {
		return fmt.Errorf("hg revision %q: want a branch, bookmark, tag or changeset id", rev)
	}
	loc, err := f.locate(uri, hgSchemes)
	if err != nil {
		return err
	}
	w, err := f.as(loc.local)
	if err != nil {
		return err
	}
	cache := w.cacheDir("hg", uri)
	unlock := f.lock(cache)
	defer unlock()

	// ui.ssh: no identity, agent or configuration of the server's.
	hg := func(args ...string) (string, error) {
		return w.run(ctx, hgEnv, "hg", append([]string{"--config", "ui.ssh=" + sshCommand, "--noninteractive"}, args...)...)
	}
	if _, err := os.Stat(filepath.Join(cache, ".hg")); err != nil {
		if err := w.parentDir(cache); err != nil {
			return err
		}
		if _, err := hg("clone", "--quiet", "--noupdate", "--", uri, cache); err != nil {
			return fmt.Errorf("clone %s: %w", uri, err)
		}
	} else if _, err := hg("pull", "--quiet", "-R", cache, "--", uri); err != nil {
		return fmt.Errorf("pull %s: %w", uri, err)
	}
	line, err := hg("log", "-R", cache, "-r", rev, "--limit", "1", "--template", "{node} {rev}")
	if err != nil {
		return fmt.Errorf("revision %s of %s: %w", rev, uri, err)
	}
	node, num, ok := strings.Cut(strings.TrimSpace(line), " ")
	revNum, err := strconv.Atoi(num)
	if !ok || err != nil || len(node) != 40 {
		return fmt.Errorf("revision %s of %s: hg log said %q", rev, uri, line)
	}

	dst, done, err := w.exportDir("hg-export")
	if err != nil {
		return err
	}
	defer done()
	if _, err := hg("archive", "-R", cache, "--config", "ui.archivemeta=false", "-r", node, "-t", "files", "--", dst); err != nil {
		return err
	}
	sp, sha, err := w.addToStore(ctx, dst)
	if err != nil {
		return err
	}
	out.URI, out.Revision, out.RevCount = uri, node, revNum
	out.StorePath, out.SHA256 = sp, "sha256:"+sha
	return nil
}
