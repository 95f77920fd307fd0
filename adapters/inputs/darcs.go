package inputs

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"buildledger/commands/evaluation"
	"buildledger/events"
)

// darcsSchemes are the transports a remote darcs repository may use.
// darcs reaches ssh repositories through a command it takes from the
// environment without options, so it could not be kept from the server's
// keys and configuration: those are refused.
var darcsSchemes = []string{"https", "http"}

// darcsHashRE is a darcs patch hash.
var darcsHashRE = regexp.MustCompile(`^[0-9a-fA-F-]+$`)

// darcsEnv: darcs reads its preferences from HOME (which does not exist
// for a fetch) and needs a UTF-8 locale for non-ASCII patch names.
var darcsEnv = []string{"LC_ALL=C.UTF-8"}

// fetchDarcs fetches a darcs input, its URI as value, as Hydra's
// DarcsInput does: a lazy clone per URI kept in the cache and pulled at
// each fetch, then a clone at its last patch, without _darcs, into the
// store. It records the last patch's hash as the revision, the number of
// patches as revCount, and the hash's leading digits as the short
// revision.
func (f *Fetcher) fetchDarcs(ctx context.Context, s events.JobsetInput, out *evaluation.Input) error {
	uri := strings.TrimSpace(s.Value)
	if uri == "" || strings.ContainsAny(uri, " \t") {
		return fmt.Errorf("darcs value %q: want one URI", s.Value)
	}
	loc, err := f.locate(uri, darcsSchemes)
	if err != nil {
		return err
	}
	src := uri
	if loc.local {
		src = loc.path // darcs takes paths, not file:// URLs
	}
	w, err := f.as(loc.local)
	if err != nil {
		return err
	}
	cache := w.cacheDir("darcs", uri)
	unlock := f.lock(cache)
	defer unlock()
	darcs := func(args ...string) (string, error) { return w.run(ctx, darcsEnv, "darcs", args...) }

	if _, err := os.Stat(filepath.Join(cache, "_darcs")); err != nil {
		if err := w.parentDir(cache); err != nil {
			return err
		}
		if _, err := darcs("clone", "--lazy", "--quiet", "--", src, cache); err != nil {
			return fmt.Errorf("clone %s: %w", uri, err)
		}
	} else if _, err := darcs("pull", "--all", "--quiet", "--repodir", cache, "--", src); err != nil {
		return fmt.Errorf("pull %s: %w", uri, err)
	}
	log, err := darcs("log", "--last", "1", "--xml-output", "--repodir", cache)
	if err != nil {
		return err
	}
	rev, err := lastPatchHash(log)
	if err != nil {
		return fmt.Errorf("last patch of %s: %w", uri, err)
	}

	dst, done, err := w.exportDir("darcs-export")
	if err != nil {
		return err
	}
	defer done()
	if _, err := darcs("clone", "--lazy", "--quiet", "--to-match", "hash "+rev, "--", cache, dst); err != nil {
		return err
	}
	count, err := darcs("log", "--count", "--repodir", dst)
	if err != nil {
		return err
	}
	revCount, err := strconv.Atoi(strings.TrimSpace(count))
	if err != nil {
		return fmt.Errorf("darcs log --count said %q", count)
	}
	if err := os.RemoveAll(filepath.Join(dst, "_darcs")); err != nil {
		return fmt.Errorf("remove _darcs: %w", err)
	}
	sp, sha, err := w.addToStore(ctx, dst)
	if err != nil {
		return err
	}
	out.URI, out.Revision, out.RevCount = uri, rev, revCount
	out.ShortRevLength = len(rev) - len(strings.TrimLeft(rev, "0123456789"))
	out.StorePath, out.SHA256 = sp, "sha256:"+sha
	return nil
}

// lastPatchHash reads the hash of the first patch of `darcs log
// --xml-output`.
func lastPatchHash(log string) (string, error) {
	var cl struct {
		Patches []struct {
			Hash string `xml:"hash,attr"`
		} `xml:"patch"`
	}
	if err := xml.Unmarshal([]byte(log), &cl); err != nil {
		return "", fmt.Errorf("darcs log: %w", err)
	}
	if len(cl.Patches) == 0 {
		return "", fmt.Errorf("the repository has no patch")
	}
	h := cl.Patches[0].Hash
	if !darcsHashRE.MatchString(h) {
		return "", fmt.Errorf("darcs log gave the hash %q", h)
	}
	return h, nil
}
