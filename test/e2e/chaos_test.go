package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
)

// chaosBuilds is how many builds the chaos jobset has.
const chaosBuilds = 50

// chaosJobset writes a legacy jobset of chaosBuilds quick, independent
// derivations into a new directory: busybox from the store as builder
// (Nix's default sandbox has no /bin/sh), and a salt of this run so that
// every build runs here rather than being found built by an earlier run.
func chaosJobset(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bb, err := os.ReadFile(filepath.Join(repoRoot(t), "test", "fixtures", "hello", "busybox.nix"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "busybox.nix"), bb, 0o644))
	release := fmt.Sprintf(`{ system ? builtins.currentSystem }:
let
  busybox = import ./busybox.nix;
  mk = i: derivation {
    name = "chaos-${toString i}";
    inherit system;
    builder = "${busybox}/busybox";
    args = [ "sh" "-c" "echo building %d-${toString i}; mkdir -p $out; echo ${toString i} > $out/i" ];
  };
in builtins.listToAttrs (map (i: { name = "job${toString i}"; value = mk i; }) (builtins.genList (i: i + 1) %d))
`, time.Now().UnixNano(), chaosBuilds)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "release.nix"), []byte(release), 0o644))
	return dir
}

// TestChaosPostgresRestarts is review finding M5 on the real binary: "up"
// builds a jobset of chaosBuilds while its Postgres is restarted three
// times (pg_ctl restart -m fast, during the evaluation and twice while
// builds run). up never exits, every build ends (finished, whatever its
// status), and a replay of the log rebuilds read models equal to the live
// ones: nothing was half-recorded or recorded twice.
func TestChaosPostgresRestarts(t *testing.T) {
	requireTools(t, "nix-store", "nix-instantiate")
	t.Parallel()
	ctx := context.Background()
	nixConf := "NIX_CONF_DIR=" + t.TempDir()
	jobs := chaosJobset(t)
	u := startUpWith(t, []string{"--input-root", jobs, "--eval-allowed-path", nixtest.BusyboxDir()}, nixConf)
	client := &http.Client{Timeout: 10 * time.Second}
	u.waitHealthy(t, client)
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(u.bin, args...)
		cmd.Env = append(os.Environ(), nixConf, "BUILDLEDGER_HOME="+u.home, "BUILDLEDGER_EVENTSTORE=", "BUILDLEDGER_DATABASE_URL=")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "buildledger %v: %s", args, out)
		return string(out)
	}
	cli("project", "create", "chaos", "--owner", "admin")
	cli("jobset", "create", "chaos", "main", "--type", "legacy", "--input", "src=path:"+jobs,
		"--nixexprinput", "src", "--nixexprpath", "release.nix")

	// up's cluster, found running in its home: Restart works on it.
	cluster, err := postgres.StartCluster(ctx, postgres.ClusterOptions{DataDir: filepath.Join(u.home, "postgres")})
	require.NoError(t, err)
	alive := func() {
		t.Helper()
		select {
		case err := <-u.exited:
			t.Fatalf("buildledger up exited: %v", err)
		default:
		}
	}
	restart := func() {
		t.Helper()
		require.NoError(t, cluster.Restart(ctx))
		alive()
	}
	// done waits until the scheduler has seen n builds end.
	done := func(n int) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			alive()
			code, body, _ := get(t, client, u.base+"/queue-runner-status", "application/json")
			if code == http.StatusOK {
				var st struct {
					NrBuildsDone int `json:"nrBuildsDone"`
				}
				require.NoError(t, json.Unmarshal([]byte(body), &st), body)
				if st.NrBuildsDone >= n {
					return
				}
			}
			require.True(t, time.Now().Before(deadline), "%d builds not done in time: %d %s", n, code, body)
			time.Sleep(100 * time.Millisecond)
		}
	}
	restart() // the evaluation is running
	done(chaosBuilds / 5)
	restart()
	done(chaosBuilds / 2)
	restart()
	done(chaosBuilds)
	// The scheduler counts a build done when it folds BuildFinished; the
	// read models hold it once the projector has applied it too, which
	// under load can come later: wait for that before stopping up.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		alive()
		code, body, _ := get(t, client, u.base+"/api/latestbuilds?nr=1000", "application/json")
		var latest []struct{}
		if code == http.StatusOK && json.Unmarshal([]byte(body), &latest) == nil && len(latest) >= chaosBuilds {
			break
		}
		require.True(t, time.Now().Before(deadline), "the read models hold %d finished builds: %d %s", len(latest), code, body)
		time.Sleep(100 * time.Millisecond)
	}
	u.stop(t)
	require.Contains(t, u.stderr.String(), "database unavailable, retrying", "the restarts reached up's connections")

	// The read models, live and replayed, on the cluster started again.
	owned, err := postgres.StartCluster(ctx, postgres.ClusterOptions{DataDir: filepath.Join(u.home, "postgres")})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, owned.Stop(context.Background())) })
	appURL, err := postgres.AppURL(owned.AdminURL("postgres"))
	require.NoError(t, err)
	pool, err := postgres.Open(ctx, appURL)
	require.NoError(t, err)
	defer pool.Close()
	var schema string
	require.NoError(t, pool.QueryRow(ctx, `select current_schema()`).Scan(&schema))
	count := func(sql string) int {
		t.Helper()
		var n int
		require.NoError(t, pool.QueryRow(ctx, sql).Scan(&n), sql)
		return n
	}
	require.Equal(t, chaosBuilds, count(`select count(*) from builds`))
	require.Equal(t, chaosBuilds, count(`select count(*) from builds where finished = 1`), "every build ended")
	require.Zero(t, count(`select count(*) from buildsteps where busy <> 0`), "no step is left running")
	t.Logf("build statuses after 3 restarts: %d succeeded of %d", count(`select count(*) from builds where buildstatus = 0`), chaosBuilds)

	live := pgtest.Dump(t, pool, schema)
	require.NotEmpty(t, live["jobsetevals"])
	out := cli("replay", "--into", "chaos_replay")
	require.Contains(t, out, "swapped it in", out)
	pool.Reset() // no connection has seen the old tables
	require.Equal(t, live, pgtest.Dump(t, pool, schema), "a replay of the log rebuilds the live read models")
}
