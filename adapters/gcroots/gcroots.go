// Package gcroots keeps the Nix garbage collector away from what the CI
// server still needs, as Hydra's hydra-update-gc-roots does: it selects the
// store paths to keep from the Hydra read models and mirrors them as
// symlinks in a directory the collector treats as roots (one under
// /nix/var/nix/gcroots).
//
// Kept are the outputs and derivations of unfinished builds and of builds
// marked keep, and per jobset the builds of its evaluations with
// unfinished builds and of its keepnr most recent finished evaluations
// with new builds, as Hydra's hydra-update-gc-roots counts them (outputs
// of the successful ones, derivations of all), and the latest successful
// build of each of their jobs. Jobsets disabled and hidden (or in a
// hidden project) for more than a week keep nothing of their own.
package gcroots

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
)

// Querier is what selecting the roots needs of a pool or transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// staleHidden is how long a disabled, hidden jobset keeps its evaluations'
// builds after it was last checked, in seconds (Hydra: a week).
const staleHidden = 7 * 24 * 3600

const selectSQL = `
with live_jobsets as (
    select j.id, j.keepnr from jobsets j join projects p on p.name = j.project
    where not (j.enabled = 0 and (p.hidden = 1 or j.hidden = 1) and coalesce(j.lastcheckedtime, 0) < $1)
), kept_evals as (
    select m.eval as id from live_jobsets j
    join builds b on b.jobset_id = j.id and b.finished = 0
    join jobsetevalmembers m on m.build = b.id
    union
    select e.id from live_jobsets j
    cross join lateral (
        select e.id from jobsetevals e
        where e.jobset_id = j.id and e.hasnewbuilds = 1
          and not exists (select 1 from jobsetevalmembers m join builds b on b.id = m.build
                          where m.eval = e.id and b.finished = 0)
        order by e.id desc limit greatest(j.keepnr, 0)) e
), kept_builds as (
    select distinct m.build from kept_evals k join jobsetevalmembers m on m.eval = k.id
), latest_good as (
    select distinct on (b.jobset_id, b.job) b.id from builds b
    where (b.jobset_id, b.job) in (select b2.jobset_id, b2.job from kept_builds kb join builds b2 on b2.id = kb.build)
      and b.finished = 1 and b.buildstatus in (0, 6)
    order by b.jobset_id, b.job, b.id desc
)
select o.path from builds b join buildoutputs o on o.build = b.id
where b.finished = 0 or b.keep = 1
   or (b.buildstatus in (0, 6) and b.id in (select build from kept_builds))
   or b.id in (select id from latest_good)
union
select b.drvpath from builds b
where b.finished = 0 or b.keep = 1 or b.id in (select build from kept_builds)`

// Select returns the store paths to keep, read from the Hydra tables as of
// now (a Unix time, which decides which hidden jobsets are stale).
func Select(ctx context.Context, q Querier, now int64) ([]string, error) {
	rows, err := q.Query(ctx, selectSQL, now-staleHidden)
	if err != nil {
		return nil, fmt.Errorf("select gc roots: %w", err)
	}
	paths, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("select gc roots: %w", err)
	}
	return paths, nil
}

// Result says what a Sync changed.
type Result struct {
	// Kept is how many roots the directory holds afterwards.
	Kept int
	// Added and Removed count the symlinks created and deleted.
	Added, Removed int
	// Missing counts paths not in the store (outputs not built yet, or
	// already collected); they get no root.
	Missing int
}

// Sync makes dir hold exactly one symlink per path of paths that exists:
// named by the path's base name and pointing at it. Other symlinks into
// store (the store directory, e.g. /nix/store) are removed; anything else
// in dir is left alone.
func Sync(dir, store string, paths []string) (Result, error) {
	var res Result
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, fmt.Errorf("create gc roots dir: %w", err)
	}
	want := make(map[string]string, len(paths))
	for _, p := range paths {
		if _, err := os.Lstat(p); err != nil {
			res.Missing++
			continue
		}
		want[filepath.Base(p)] = p
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return res, fmt.Errorf("read gc roots dir: %w", err)
	}
	for _, e := range entries {
		if e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		link := filepath.Join(dir, e.Name())
		target, err := os.Readlink(link)
		if err != nil {
			return res, fmt.Errorf("read gc root: %w", err)
		}
		if want[e.Name()] == target {
			delete(want, e.Name())
			res.Kept++
			continue
		}
		if filepath.Dir(target) != filepath.Clean(store) {
			continue
		}
		if err := os.Remove(link); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("remove gc root: %w", err)
		}
		res.Removed++
	}
	for name, p := range want {
		if err := os.Symlink(p, filepath.Join(dir, name)); err != nil {
			return res, fmt.Errorf("add gc root for %s: %w", p, err)
		}
		res.Added++
		res.Kept++
	}
	return res, nil
}
