package hydraimport_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/hydraimport"
)

// BenchmarkImport seeds a Hydra database with BUILDLEDGER_BENCH_BUILDS
// finished builds (default 20000), each with an output, a step and its
// output, in evaluations of 1000, all with COPY, and imports it. The
// issue's target is 1,000,000 builds in under five minutes on two cores;
// builds/s is the figure to scale.
func BenchmarkImport(b *testing.B) {
	n := 20000
	if s := os.Getenv("BUILDLEDGER_BENCH_BUILDS"); s != "" {
		v, err := strconv.Atoi(s)
		require.NoError(b, err)
		n = v
	}
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l := newLedger(b)
		src := hydraDB(b, l.pool)
		seedBulk(b, src.Exec, func(table string, cols []string, rows [][]any) {
			_, err := src.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
			require.NoError(b, err, table)
		}, n)
		b.StartTimer()
		st, err := hydraimport.New(src, l.store, l.h, hydraimport.Options{}).Run(ctx)
		require.NoError(b, err)
		require.Equal(b, n, st.Rows["Builds"])
		b.ReportMetric(float64(n)/b.Elapsed().Seconds()*float64(i+1)/float64(b.N), "builds/s")
	}
}

func seedBulk(b *testing.B, exec func(context.Context, string, ...any) (pgconn.CommandTag, error), copyRows func(string, []string, [][]any), n int) {
	_, err := exec(context.Background(), `insert into SchemaVersion values (87);
		insert into Users (userName, emailAddress, password) values ('alice', 'a@example.org', 'x');
		insert into Projects (name, displayName, owner) values ('p', 'P', 'alice');
		insert into Jobsets (name, id, project, nixExprInput, nixExprPath, emailOverride) values ('j', 1, 'p', 'src', 'release.nix', '')`)
	require.NoError(b, err)
	var builds, outputs, steps, stepOutputs, evals, members [][]any
	for id := 1; id <= n; id++ {
		drv := fmt.Sprintf("/nix/store/%s-job%d.drv", storeHash("drv", id), id)
		out := fmt.Sprintf("/nix/store/%s-job%d", storeHash("out", id), id)
		builds = append(builds, []any{id, 1, 1600000000 + id, 1, fmt.Sprintf("job%d", id), drv, "x86_64-linux", 1600000000 + id, 1600000001 + id, 0, 0})
		outputs = append(outputs, []any{id, "out", out})
		steps = append(steps, []any{id, 1, 0, drv, 0, 0, 1600000000 + id, 1600000001 + id, "localhost"})
		stepOutputs = append(stepOutputs, []any{id, 1, "out", out})
		eval := (id-1)/1000 + 1
		if (id-1)%1000 == 0 {
			evals = append(evals, []any{eval, 1, 1600000000 + id, 1, 1, 1, fmt.Sprintf("h%d", eval), 1000})
		}
		members = append(members, []any{eval, id, 1})
	}
	copyRows("builds", []string{"id", "finished", "timestamp", "jobset_id", "job", "drvpath", "system", "starttime", "stoptime", "iscachedbuild", "buildstatus"}, builds)
	copyRows("buildoutputs", []string{"build", "name", "path"}, outputs)
	copyRows("buildsteps", []string{"build", "stepnr", "type", "drvpath", "busy", "status", "starttime", "stoptime", "machine"}, steps)
	copyRows("buildstepoutputs", []string{"build", "stepnr", "name", "path"}, stepOutputs)
	copyRows("jobsetevals", []string{"id", "jobset_id", "timestamp", "checkouttime", "evaltime", "hasnewbuilds", "hash", "nrbuilds"}, evals)
	copyRows("jobsetevalmembers", []string{"eval", "build", "isnew"}, members)
}

// storeHash makes the hash part of a store path as Nix's are: 32
// characters of its base-32 alphabet that look random. Paths numbered in
// order would fill the step streams' indexes in order, which no real
// Hydra database does.
func storeHash(kind string, id int) string {
	const alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s%d", kind, id)))
	h := make([]byte, 32)
	for i := range h {
		h[i] = alphabet[sum[i]%32]
	}
	return string(h)
}
