package hydraimport

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"buildledger/domain/ids"
	"buildledger/domain/streams"
	"buildledger/events"
)

func (im *Importer) stars(ctx context.Context, b *batch) (int, error) {
	return im.each(ctx, `select userName, project, jobset, job from StarredJobs order by userName, project, jobset, job`, nil,
		func(r pgx.Rows) error {
			var s events.JobStarred
			if err := r.Scan(&s.UserName, &s.Project, &s.Jobset, &s.Job); err != nil {
				return err
			}
			return b.add(streams.User(s.UserName), "starredjobs:"+s.UserName+"/"+s.Project+"/"+s.Jobset+"/"+s.Job, 0, &s)
		})
}

func (im *Importer) news(ctx context.Context, b *batch) (int, error) {
	return im.each(ctx, `select id, contents, createTime, author from NewsItems order by id`, nil, func(r pgx.Rows) error {
		var (
			n      events.NewsItemAdded
			id, at int32
		)
		if err := r.Scan(&id, &n.Contents, &at, &n.Author); err != nil {
			return err
		}
		n.ID, n.CreateTime = int64(id), int64(at)
		return b.add(streams.News(n.ID), fmt.Sprintf("newsitems:%d", id), n.CreateTime, &n)
	})
}

// reserveIDs reserves every build, evaluation and jobset id Hydra used,
// so that buildledger's allocators hand out ids after them.
func (im *Importer) reserveIDs(ctx context.Context, b *batch) (int, error) {
	n := 0
	for _, k := range []struct{ kind, table string }{{ids.KindBuild, "Builds"}, {ids.KindEval, "JobsetEvals"}, {ids.KindJobset, "Jobsets"}} {
		var last int64
		if err := im.src.QueryRow(ctx, `select coalesce(max(id), 0) from `+k.table).Scan(&last); err != nil {
			return n, fmt.Errorf("highest id of %s: %w", k.table, err)
		}
		if last == 0 {
			continue
		}
		err := b.add(streams.IDs(k.kind), fmt.Sprintf("%s:max=%d", k.table, last), 0, &events.IDsReserved{Kind: k.kind, First: 1, Count: last})
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
