package hydra_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// requireCounts checks that the counts the triggers of JobsetEvalCounts
// and JobsetCurrentCounts keep in schema are those counted afresh from
// Builds and JobsetEvalMembers (rows of zeros left out).
func requireCounts(t *testing.T, pool *pgxpool.Pool, schema, msg string) {
	t.Helper()
	rows := func(sql string) []string {
		var out []string
		require.NoError(t, pool.QueryRow(context.Background(),
			fmt.Sprintf(`select coalesce(array_agg(r::text order by r::text), '{}') from (%s) r`, sql)).Scan(&out), msg)
		return out
	}
	kept := rows(fmt.Sprintf(`select eval, nrBuilds, nrJobs, nrQueued, nrSucceeded, nrFailed from %s.JobsetEvalCounts
		where (nrBuilds, nrJobs, nrQueued, nrSucceeded, nrFailed) <> (0, 0, 0, 0, 0)`, schema))
	counted := rows(fmt.Sprintf(`select m.eval, count(*), count(*) filter (where b.isChannel = 0), count(*) filter (where b.finished = 0),
		  count(*) filter (where b.finished = 1 and b.buildStatus = 0), count(*) filter (where b.finished = 1 and b.buildStatus <> 0)
		from %[1]s.JobsetEvalMembers m join %[1]s.Builds b on b.id = m.build join %[1]s.JobsetEvals e on e.id = m.eval
		group by m.eval`, schema))
	require.Equal(t, counted, kept, "%s: evaluation counts", msg)
	kept = rows(fmt.Sprintf(`select jobset_id, nrTotal, nrQueued, nrSucceeded, nrFailed from %s.JobsetCurrentCounts
		where (nrTotal, nrQueued, nrSucceeded, nrFailed) <> (0, 0, 0, 0)`, schema))
	counted = rows(fmt.Sprintf(`select b.jobset_id, count(*), count(*) filter (where b.finished = 0),
		  count(*) filter (where b.finished = 1 and b.buildStatus = 0), count(*) filter (where b.finished = 1 and b.buildStatus <> 0)
		from %[1]s.Builds b join %[1]s.Jobsets j on j.id = b.jobset_id where b.isCurrent = 1
		group by b.jobset_id`, schema))
	require.Equal(t, counted, kept, "%s: jobset counts", msg)
}
