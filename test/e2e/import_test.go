package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/hydraimport"
	"buildledger/adapters/nix/nixtest"
)

// hydraSource makes schema hydra in the harness's database from Hydra's
// own DDL (the fixture of adapters/hydraimport), fills it with rows, and
// returns a pool that reads it as a Hydra database.
func (e *harness) hydraSource(rows string) *pgxpool.Pool {
	e.t.Helper()
	ddl, err := os.ReadFile(filepath.Join("..", "..", "adapters", "hydraimport", "testdata", "hydra-v87.sql"))
	require.NoError(e.t, err)
	_, err = e.pool.Exec(e.ctx, `create schema hydra`)
	require.NoError(e.t, err)
	cfg := e.pool.Config().Copy()
	cfg.ConnConfig.RuntimeParams["search_path"] = "hydra"
	src, err := pgxpool.NewWithConfig(e.ctx, cfg)
	require.NoError(e.t, err)
	e.t.Cleanup(src.Close)
	_, err = src.Exec(e.ctx, string(ddl))
	require.NoError(e.t, err)
	_, err = src.Exec(e.ctx, rows)
	require.NoError(e.t, err)
	return src
}

// TestImportedQueuedBuildIsBuilt imports a Hydra whose queue held two
// builds: one of a derivation in the local store, one of a derivation
// the store does not have (Hydra's machine had it; this one never did).
// The queue runner, started after the import, builds the first with
// busybox under Nix's sandbox and finishes it; the second cannot be
// built: each attempt is aborted, and once the scheduler stops retrying,
// the build finishes aborted (status 3).
func TestImportedQueuedBuildIsBuilt(t *testing.T) {
	t.Parallel()
	e := newHarness(t, harnessOptions{})
	e.registerMachine("localhost", localhostMachine())

	expr := fmt.Sprintf(`derivation { name = "imported"; nonce = %q; system = builtins.currentSystem; builder = "%s"; `+
		`args = [ "sh" "-c" "echo built by buildledger > $out" ]; }`, e.nonce, nixtest.Sh)
	out, err := exec.Command("nix-instantiate", "--expr", expr).Output()
	require.NoError(t, err)
	present := strings.TrimSpace(string(out))
	output := outPath(t, present)
	gone := "/nix/store/" + strings.Repeat("0", 32) + "-gone-" + e.nonce + ".drv"
	system := hostSystem()
	now := time.Now().Unix()

	src := e.hydraSource(fmt.Sprintf(`
		insert into SchemaVersion values (87);
		insert into Users (userName, emailAddress, password) values ('alice', 'alice@example.org', '743b6e23845e51b4daa9f9aad7bea3d075b4d892');
		insert into Projects (name, displayName, owner) values ('moved', 'Moved from Hydra', 'alice');
		insert into Jobsets (name, id, project, nixExprInput, nixExprPath, emailOverride, enabled) values ('main', 1, 'moved', 'src', 'release.nix', '', 1);
		insert into Builds (id, finished, timestamp, jobset_id, job, drvPath, system) values
			(41, 0, %[1]d, 1, 'present', '%[2]s', '%[4]s'),
			(42, 0, %[1]d, 1, 'gone', '%[3]s', '%[4]s');
		insert into BuildOutputs (build, name, path) values (41, 'out', '%[5]s'), (42, 'out', '/nix/store/%[6]s-gone');`,
		now, present, gone, system, output, strings.Repeat("1", 32)))
	log, ok := e.store.(hydraimport.Log)
	require.True(t, ok)
	st, err := hydraimport.New(src, log, e.h, hydraimport.Options{Logger: e.log}).Run(e.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, st.Rows["Builds"])
	e.settle()
	require.Equal(t, []string{"41 0", "42 0"}, e.queryStrings(`select id || ' ' || finished from Builds order by id`), "imported as queued")

	e.startQueue(queueOptions{})
	e.waitRow(`select finished || ' ' || coalesce(buildStatus::text, '-') from Builds where id = 41`, "1 0")
	built, err := os.ReadFile(output)
	require.NoError(t, err)
	require.Equal(t, "built by buildledger\n", string(built))
	e.waitRow(`select finished || ' ' || coalesce(buildStatus::text, '-') from Builds where id = 42`, "1 3")
	// Each attempt is aborted as a transient failure, and retried until
	// the scheduler gives up (MaxTries, 5 by default; Hydra's queue
	// runner would have found the derivation in its own store).
	steps := e.queryStrings(`select status || ' ' || errorMsg from BuildSteps where build = 42 order by stepnr`)
	require.NotEmpty(t, steps)
	for _, s := range steps {
		require.Equal(t, "3 derivation "+gone+" is not in the local store", s[:len("3 derivation "+gone+" is not in the local store")], s)
	}
}
