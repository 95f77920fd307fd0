package queries

import (
	"context"
	"fmt"

	"buildledger/web"
)

// Search implements web.BuildQueries: at most limit rows per section,
// within 1 and web.MaxSearchRows. The caller has checked that query is
// made of [a-zA-Z0-9_\-/.] only, as Hydra requires.
func (db *DB) Search(ctx context.Context, query string, limit int) (web.SearchResult, error) {
	limit = min(max(limit, 1), web.MaxSearchRows)
	res := web.SearchResult{Projects: []web.Project{}, Jobsets: []web.Jobset{}}
	like := "%" + query + "%"
	rows, err := db.pool.Query(ctx, `select `+projectCols+` from projects p
		where p.hidden = 0 and (p.name ilike $1 or p.displayname ilike $1 or coalesce(p.description, '') ilike $1)
		order by p.name limit $2`, like, limit)
	if err != nil {
		return res, fmt.Errorf("search projects: %w", err)
	}
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			rows.Close()
			return res, fmt.Errorf("scan project: %w", err)
		}
		res.Projects = append(res.Projects, p)
	}
	rows.Close()
	rows, err = db.pool.Query(ctx, `select `+jobsetCols+` from jobsets j
		where j.hidden = 0 and (j.name ilike $1 or coalesce(j.description, '') ilike $1)
		order by j.project, j.name limit $2`, like, limit)
	if err != nil {
		return res, fmt.Errorf("search jobsets: %w", err)
	}
	for rows.Next() {
		j, err := scanJobset(rows)
		if err != nil {
			rows.Close()
			return res, fmt.Errorf("scan jobset: %w", err)
		}
		res.Jobsets = append(res.Jobsets, j)
	}
	rows.Close()
	// Store paths match in part, as Hydra's ILIKE does: the drv path on
	// Hydra's trigram index IndexTrgmBuildsOnDrvpath where pg_trgm is
	// installed (without it the same query scans, bounded by the web's
	// statement timeout).
	res.Builds, err = db.queryBuilds(ctx, buildSelect+` where (b.iscurrent = 1 and b.job ilike $1)
		or b.id in (select build from buildoutputs where path ilike $1) order by b.id desc limit $2`, like, limit)
	if err != nil {
		return res, fmt.Errorf("search builds: %w", err)
	}
	res.BuildsDrv, err = db.queryBuilds(ctx, buildSelect+` where b.drvpath ilike $1 order by b.id desc limit $2`, like, limit)
	if err != nil {
		return res, fmt.Errorf("search builds by drv: %w", err)
	}
	return res, nil
}
