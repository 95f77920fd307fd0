package hydra_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
)

// TestSharedProducts: a build finished by a step that ran as another
// build's top-level step (BuildFinished.ProductsOf) gets that build's
// products and metrics, as Hydra writes a step's products for every build
// it finishes; in batches of every size, the same rows.
func TestSharedProducts(t *testing.T) {
	ctx := context.Background()
	sd := seed(t, 0)
	js := testJobset{id: sd.hist.jobsetID, name: "j"}
	twin := js.queued(1, 2)
	twin.DrvPath, twin.Outputs = drv(1), []events.Output{{Name: "out", Path: out(1)}}
	history := []events.Payload{
		js.started(1), js.queued(1, 1), twin, js.queued(1, 3),
		jobEvaluated(1, 1, true), jobEvaluated(1, 2, true), jobEvaluated(1, 3, true), js.finished(1),
		events.StepStarted{DrvPath: drv(1), BuildID: 1, StepNr: 1, Machine: "m1", Attempt: 1, StartTime: 10},
		events.ProductScraped{BuildID: 1, ProductNr: 1, Type: "file", Subtype: "doc", Path: out(1) + "/a", Name: "a"},
		events.ProductScraped{BuildID: 1, ProductNr: 2, Type: "file", Subtype: "bin", Path: out(1) + "/b", Name: "b", FileSize: 3, SHA256: "00"},
		events.MetricScraped{BuildID: 1, Name: "size", Unit: "B", Value: 3},
		events.StepFinished{DrvPath: drv(1), BuildID: 1, StepNr: 1, Machine: "m1", Attempt: 1, StartTime: 10, StopTime: 20,
			Outputs: []events.Output{{Name: "out", Path: out(1)}}},
		events.BuildFinished{BuildID: 1, StartTime: 10, StopTime: 20},
		events.BuildFinished{BuildID: 2, StartTime: 10, StopTime: 20, IsCachedBuild: true, ProductsOf: 1},
		// Build 3's step ran as another build's dependency: nothing to share.
		events.BuildFinished{BuildID: 3, StartTime: 10, StopTime: 20, IsCachedBuild: true},
	}
	head := sd.appendAll(t, "shared", history)
	var first map[string][]string
	for _, batch := range []int{1, 2, 3, 5, 1000} {
		target := fmt.Sprintf("shared_%d", batch)
		sd.replay(t, head, target, batch)
		var products, metrics string
		require.NoError(t, sd.pool.QueryRow(ctx, fmt.Sprintf(`select
				(select string_agg(concat_ws(':', build, productnr, name, filesize, sha256hash), ' ' order by build, productnr) from %[1]s.BuildProducts),
				(select string_agg(concat_ws(':', build, name, unit, value, job), ' ' order by build, name) from %[1]s.BuildMetrics)`, target)).
			Scan(&products, &metrics))
		require.Equal(t, "1:1:a 1:2:b:3:00 2:1:a 2:2:b:3:00", products, "batch %d", batch)
		require.Equal(t, "1:size:B:3:job1 2:size:B:3:job2", metrics, "batch %d: the metric under the build's own job", batch)
		dump := pgtest.Dump(t, sd.pool, target)
		if first == nil {
			first = dump
		}
		require.Equal(t, first, dump, "batch %d", batch)
	}
}
