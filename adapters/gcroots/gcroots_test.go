package gcroots_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/gcroots"
	"buildledger/adapters/nix/nixtest"
	"buildledger/adapters/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// build is one row of the Hydra tables the roots are chosen from.
type build struct {
	id, eval       int
	jobset         int
	job            string
	finished, keep int
	status         int
}

func storePath(s string) string { return "/nix/store/" + strings.Repeat("0", 32) + "-" + s }

// TestSelect seeds the Hydra tables with two jobsets and checks the root
// set against Hydra's rules, path by path.
func TestSelect(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	now := time.Now().Unix()
	_, err := pool.Exec(ctx, fmt.Sprintf(`
		insert into users (username, emailaddress, password) values ('u', '', '');
		insert into projects (name, displayname, owner) values ('p', 'P', 'u');
		insert into jobsets (name, id, project, nixexprinput, nixexprpath, emailoverride, keepnr, enabled, hidden, lastcheckedtime)
		values ('live', 1, 'p', 'src', 'r.nix', '', 1, 1, 0, %[1]d),
		       ('gone', 2, 'p', 'src', 'r.nix', '', 5, 0, 1, %[2]d),
		       ('quiet', 3, 'p', 'src', 'r.nix', '', 1, 1, 0, %[1]d);
		insert into jobsetevals (id, jobset_id, timestamp, checkouttime, evaltime, hasnewbuilds, hash)
		values (1, 1, 1, 0, 0, 1, 'a'), (2, 1, 2, 0, 0, 1, 'b'), (3, 2, 3, 0, 0, 1, 'c'),
		       (4, 3, 4, 0, 0, 1, 'd'), (5, 3, 5, 0, 0, 0, 'e')`, now, now-8*24*3600))
	require.NoError(t, err)
	builds := []build{
		// keepnr counts what Hydra's hydra-update-gc-roots counts: the
		// evaluations with unfinished builds (eval 2), and the keepnr
		// newest finished ones with new builds (eval 1 for "live", eval 4
		// for "quiet", whose newer eval 5 brought no new builds).
		{id: 1, eval: 1, jobset: 1, job: "a", finished: 1, status: 0},  // newest finished eval: kept
		{id: 2, eval: 1, jobset: 1, job: "b", finished: 1, status: 0},  // the same
		{id: 3, eval: 2, jobset: 1, job: "a", finished: 1, status: 1},  // failed in the kept eval: drv only
		{id: 4, eval: 2, jobset: 1, job: "c", finished: 1, status: 6},  // success with failed marker: kept
		{id: 5, eval: 2, jobset: 1, job: "d", finished: 0},             // unfinished: kept
		{id: 6, eval: 1, jobset: 1, job: "e", finished: 1, keep: 1},    // keep flag: kept
		{id: 7, eval: 3, jobset: 2, job: "a", finished: 1, status: 0},  // stale hidden jobset: collectable
		{id: 8, eval: 3, jobset: 2, job: "z", finished: 0},             // but unfinished builds stay
		{id: 9, eval: 4, jobset: 3, job: "q", finished: 1, status: 0},  // eval 4 is the newest with new builds
		{id: 10, eval: 4, jobset: 3, job: "r", finished: 1, status: 0}, // so its job r stays
	}
	for _, b := range builds {
		_, err := pool.Exec(ctx, `insert into builds (id, finished, timestamp, jobset_id, job, drvpath, system, keep, buildstatus, starttime, stoptime)
			values ($1, $2, 1, $3, $4, $5, 'x86_64-linux', $6, case when $2 = 1 then $7::int end, case when $2 = 1 then 1 end, case when $2 = 1 then 2 end)`,
			b.id, b.finished, b.jobset, b.job, storePath(fmt.Sprintf("b%d.drv", b.id)), b.keep, b.status)
		require.NoError(t, err, "build %d", b.id)
		_, err = pool.Exec(ctx, `insert into buildoutputs (build, name, path) values ($1, 'out', $2)`, b.id, storePath(fmt.Sprintf("b%d", b.id)))
		require.NoError(t, err, "build %d", b.id)
		_, err = pool.Exec(ctx, `insert into jobsetevalmembers (eval, build, isnew) values ($1, $2, 1)`, b.eval, b.id)
		require.NoError(t, err, "build %d", b.id)
	}
	_, err = pool.Exec(ctx, `insert into jobsetevalmembers (eval, build, isnew) values (5, 9, 0)`)
	require.NoError(t, err)
	got, err := gcroots.Select(ctx, pool, now)
	require.NoError(t, err)
	sort.Strings(got)
	var want []string
	for _, s := range []string{"b1", "b1.drv", "b2", "b2.drv", "b3.drv", "b4", "b4.drv", "b5", "b5.drv", "b6", "b6.drv",
		"b8", "b8.drv", "b9", "b9.drv", "b10", "b10.drv"} {
		want = append(want, storePath(s))
	}
	sort.Strings(want)
	require.Equal(t, want, got)
}

// TestSync checks that the directory ends up with exactly the existing
// wanted paths, and that links it does not own are left alone.
func TestSync(t *testing.T) {
	store, dir := t.TempDir(), t.TempDir()
	path := func(name string) string { return filepath.Join(store, name) }
	for _, n := range []string{"keep-1", "keep-2", "old-1"} {
		require.NoError(t, os.WriteFile(path(n), nil, 0o644))
	}
	require.NoError(t, os.Symlink(path("old-1"), filepath.Join(dir, "old-1")))
	require.NoError(t, os.Symlink(path("keep-1"), filepath.Join(dir, "keep-1")))
	require.NoError(t, os.Symlink("/etc/hostname", filepath.Join(dir, "not-ours")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README"), nil, 0o644))

	res, err := gcroots.Sync(dir, store, []string{path("keep-1"), path("keep-2"), path("never-built")})
	require.NoError(t, err)
	require.Equal(t, gcroots.Result{Kept: 2, Added: 1, Removed: 1, Missing: 1}, res)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.Equal(t, []string{"README", "keep-1", "keep-2", "not-ours"}, names)
	target, err := os.Readlink(filepath.Join(dir, "keep-2"))
	require.NoError(t, err)
	require.Equal(t, path("keep-2"), target)

	res, err = gcroots.Sync(dir, store, []string{path("keep-1"), path("keep-2")})
	require.NoError(t, err)
	require.Equal(t, gcroots.Result{Kept: 2}, res, "a second sync changes nothing")
}

// TestRootsHoldAgainstNix builds a real derivation, roots it in a directory
// under /nix/var/nix/gcroots and checks that Nix refuses to delete it, and
// deletes it once the root is gone.
func TestRootsHoldAgainstNix(t *testing.T) {
	if _, err := exec.LookPath("nix-build"); err != nil {
		t.Skip("nix-build is not installed")
	}
	expr := fmt.Sprintf(`derivation { name = "gcroots-test"; system = builtins.currentSystem; builder = "`+nixtest.Sh+`";
		args = [ "sh" "-c" "echo %d > $out" ]; }`, time.Now().UnixNano())
	out, err := exec.Command("nix-build", "--no-out-link", "-E", expr).Output()
	require.NoError(t, err)
	path := strings.TrimSpace(string(out))

	dir, err := os.MkdirTemp("/nix/var/nix/gcroots", "buildledger-test-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	_, err = gcroots.Sync(dir, "/nix/store", []string{path})
	require.NoError(t, err)
	msg, err := exec.Command("nix-store", "--delete", path).CombinedOutput()
	require.Error(t, err, "a rooted path must not be deleted: %s", msg)
	require.FileExists(t, path)

	_, err = gcroots.Sync(dir, "/nix/store", nil)
	require.NoError(t, err)
	msg, err = exec.Command("nix-store", "--delete", path).CombinedOutput()
	require.NoError(t, err, "%s", msg)
	require.NoFileExists(t, path)
}
