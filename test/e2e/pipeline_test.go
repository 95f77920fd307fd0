package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/nix/nixtest"
	"buildledger/adapters/ssh/sshdtest"
	"buildledger/domain/status"
	"buildledger/events"
)

// wantStatus is the final Builds.buildstatus of every job of
// testdata/release.nix, as Hydra would record it.
var wantStatus = map[string]status.Code{
	"chain1":      status.Success,
	"chain2":      status.Success,
	"chain3":      status.Success,
	"diamond":     status.Success,
	"broken":      status.Failed,
	"needsBroken": status.DepFailed,
	"slowpoke":    status.TimedOut,
	"chatty":      status.LogLimitExceeded,
	"docs":        status.Success,
	"multi":       status.Success,
}

// pipelineDeadline bounds one run of the jobset.
const pipelineDeadline = 150 * time.Second

// TestPipeline evaluates testdata/release.nix, schedules it and builds it
// on the localhost builder, once with the Postgres log and once with the
// EventStoreDB adapter against its protocol test double (issue 6): both
// end with Hydra's rows and statuses, Nix accepts the binary cache, and the
// two runs agree on every stable column of Hydra's tables.
func TestPipeline(t *testing.T) {
	requireTools(t, "nix-store", "nix-instantiate", "nix")
	var mu sync.Mutex
	dumps := map[string]map[string][]string{}
	t.Run("stores", func(t *testing.T) {
		for _, store := range []string{"pglog", "esdb"} {
			t.Run(store, func(t *testing.T) {
				t.Parallel()
				e := newHarness(t, harnessOptions{esdb: store == "esdb"})
				e.seed("release.nix")
				e.registerMachine("localhost", localhostMachine())
				e.startQueue(queueOptions{})
				sum := e.evaluate()
				require.Equal(t, len(wantStatus), sum.Builds)
				e.waitBuilds(len(wantStatus), pipelineDeadline)
				e.checkPipeline(map[string]bool{"localhost": true})
				e.checkCache()
				dump := e.stableDump()
				mu.Lock()
				dumps[store] = dump
				mu.Unlock()
			})
		}
	})
	if t.Failed() {
		return
	}
	require.Len(t, dumps, 2)
	for table, rows := range dumps["pglog"] {
		require.NotEmpty(t, rows, "table %s has rows", table)
		require.Equal(t, rows, dumps["esdb"][table], "table %s: the pglog and esdb runs differ", table)
	}
}

// TestPipelineSSH builds the same jobset on two ssh:// builders (real
// sshd on loopback), each building into its own chroot store, with no
// localhost machine: inputs are copied to the builders and outputs back,
// and the builds end as on localhost.
func TestPipelineSSH(t *testing.T) {
	requireTools(t, "nix-store", "nix-instantiate", "nix")
	requireSshd(t)
	// Not parallel: two sshd builders and the local store under the other
	// pipelines' load made this test flaky on two cores.
	e := newHarness(t, harnessOptions{})
	e.seed("release.nix")
	env := map[string]string{"PATH": filepath.Dir(mustLookPath(t, "nix-store")) + ":/usr/bin:/bin"}
	srv1 := sshdtest.Start(t, sshdtest.Options{Env: env})
	srv2 := sshdtest.Start(t, sshdtest.Options{Env: env})
	stores := map[string]string{"ssh1": nixtest.NewChrootStore(t), "ssh2": nixtest.NewChrootStore(t)}
	// ssh1 pins its host key in the machine entry; ssh2 is checked
	// against the worker's known_hosts file. ssh2 builds only steps that
	// need big-parallel (the diamond's top), ssh1 everything else.
	e.registerMachine("ssh1", events.MachineConfig{URI: srv1.URI(), Systems: []string{hostSystem()}, SSHKey: srv1.ClientKeyPath,
		PublicHostKey: srv1.HostPublicKey, MaxJobs: 3, SpeedFactor: 1, Store: stores["ssh1"], Enabled: true})
	e.registerMachine("ssh2", events.MachineConfig{URI: srv2.URI(), Systems: []string{hostSystem()}, SSHKey: srv2.ClientKeyPath,
		MaxJobs: 2, SpeedFactor: 1, Store: stores["ssh2"], Enabled: true,
		SupportedFeatures: []string{"big-parallel"}, MandatoryFeatures: []string{"big-parallel"}})
	e.startQueue(queueOptions{knownHosts: srv2.KnownHostsPath})
	sum := e.evaluate()
	require.Equal(t, len(wantStatus), sum.Builds)
	e.waitBuilds(len(wantStatus), pipelineDeadline)
	e.checkPipeline(map[string]bool{"ssh1": true, "ssh2": true})
	e.checkCache()

	// Every step built on a machine left its outputs in that machine's
	// chroot store, and had its inputs there: the dependencies were
	// copied in (or built there).
	rows := e.queryStrings(`select s.machine || ' ' || o.path from buildsteps s join buildstepoutputs o using (build, stepnr)
		where s.status = 0 and s.propagatedfrom is null`)
	require.NotEmpty(t, rows)
	used := map[string]bool{}
	for _, r := range rows {
		machine, path, _ := strings.Cut(r, " ")
		used[machine] = true
		requirePath(t, filepath.Join(stores[machine], path), "output of a step built on "+machine+" is in its store")
	}
	require.Len(t, used, 2, "both builders built steps")

	// The diamond's top ran on ssh2 and its inner steps on ssh1: the
	// inputs left and right were copied from the local store into ssh2's
	// store, and only they (base is not in top's input closure).
	top := e.queryStrings(`select machine from buildsteps where drvpath = (select drvpath from builds where job = 'diamond')`)
	require.Equal(t, []string{"ssh2"}, top)
	inner := e.queryStrings(`select regexp_replace(s.drvpath, '^/nix/store/[0-9a-z]{32}-', '') || ' ' || s.machine || ' ' || o.path
		from buildsteps s join buildstepoutputs o using (build, stepnr)
		where s.drvpath like '%-diamond-base.drv' or s.drvpath like '%-diamond-left.drv' or s.drvpath like '%-diamond-right.drv' order by 1`)
	require.Len(t, inner, 3)
	for _, r := range inner {
		f := strings.Fields(r)
		require.Equal(t, "ssh1", f[1], "step %s", f[0])
		requirePath(t, f[2], "output of "+f[0]+" copied back to the local store")
		_, err := os.Lstat(filepath.Join(stores["ssh2"], f[2]))
		if f[0] == "diamond-base.drv" {
			require.ErrorIs(t, err, os.ErrNotExist, "base is not copied to ssh2")
		} else {
			require.NoError(t, err, "input %s copied to ssh2's store", f[0])
		}
	}
}

// requirePath requires a file or directory at p.
func requirePath(t *testing.T, p, msg string) {
	t.Helper()
	_, err := os.Lstat(p)
	require.NoError(t, err, msg)
}

// checkPipeline checks Hydra's rows after a run of release.nix whose
// steps ran on machines.
func (e *harness) checkPipeline(machines map[string]bool) {
	t := e.t
	t.Helper()
	bs := e.builds()
	got := map[string]status.Code{}
	for job, b := range bs {
		require.Equal(t, 1, b.Finished, "build %s finished", job)
		require.NotNil(t, b.Status, "build %s has a status", job)
		require.NotNil(t, b.IsCached, job)
		require.Zero(t, *b.IsCached, "build %s was built, not cached", job)
		require.NotNil(t, b.StartTime, job)
		require.NotNil(t, b.StopTime, job)
		require.GreaterOrEqual(t, *b.StopTime, *b.StartTime, job)
		got[job] = status.Code(*b.Status)
	}
	require.Equal(t, wantStatus, got, "build statuses")

	// The failing dependency: needsBroken is "dependency failed" with a
	// step propagated from broken's build.
	require.Equal(t, "broken", bs["needsBroken"].PropagatedJob, "needsBroken's failure is propagated from broken")

	// Release name only where the job wrote one.
	for job, b := range bs {
		if job == "docs" {
			require.NotNil(t, b.ReleaseName)
			require.Equal(t, "docs-release-1.0", *b.ReleaseName)
		} else {
			require.Nil(t, b.ReleaseName, job)
		}
	}
	require.NotNil(t, bs["docs"].Size)
	require.Positive(t, *bs["docs"].Size, "the size of the docs output")

	// The steps: statuses as Hydra's, on the expected machines.
	for _, a := range e.queryStrings(`select concat_ws(' ', drv_path, attempt, machine, status, error_msg) from step_attempts where status = 3 order by 1`) {
		t.Log("aborted attempt: " + a)
	}
	stepStatus := map[string]string{}
	for _, r := range e.queryStrings(`select regexp_replace(drvpath, '^/nix/store/[0-9a-z]{32}-', '') || ' ' || coalesce(status::text, 'null') || ' ' || busy || ' ' || machine
		from buildsteps where propagatedfrom is null`) {
		f := strings.Fields(r)
		require.Len(t, f, 4, r)
		require.Equal(t, "0", f[2], "step %s is not busy", f[0])
		require.True(t, machines[f[3]], "step %s ran on %q", f[0], f[3])
		require.NotContains(t, stepStatus, f[0], "one BuildSteps row per derivation (no retries expected): %s", f[0])
		stepStatus[f[0]] = f[1]
	}
	require.Equal(t, map[string]string{
		"chain-1.drv": "0", "chain-2.drv": "0", "chain-3.drv": "0",
		"diamond-base.drv": "0", "diamond-left.drv": "0", "diamond-right.drv": "0", "diamond-top.drv": "0",
		"broken.drv": "1", "slowpoke.drv": "7", "chatty.drv": "10", "docs-1.0.drv": "0", "multi.drv": "0",
	}, stepStatus, "BuildSteps statuses")
	// The diamond's inner derivations are steps of the diamond build.
	require.Equal(t, 4, bs["diamond"].NrStepsOfIt, "the diamond build has its four steps")

	// Outputs: both of multi's, every output of a successful build is in
	// the local store.
	outs := e.queryStrings(`select o.name from buildoutputs o join builds b on b.id = o.build where b.job = 'multi' order by 1`)
	require.Equal(t, []string{"dev", "out"}, outs)
	for _, p := range e.outputs() {
		requirePath(t, p, "output copied into the local store")
	}
	ref := e.queryStrings(`select (select path from buildoutputs o where o.build = b.id and o.name = 'dev') || ' ' ||
		(select path from buildoutputs o where o.build = b.id and o.name = 'out') from builds b where job = 'multi'`)
	require.Len(t, ref, 1)
	dev, out, _ := strings.Cut(ref[0], " ")
	content, err := os.ReadFile(filepath.Join(dev, "ref"))
	require.NoError(t, err)
	require.Equal(t, out+"\n", string(content))

	// Products and metrics of docs.
	products := e.queryStrings(`select concat_ws('|', productnr, type, subtype, name, coalesce(filesize::text, '-'), coalesce(sha256hash, '-'),
		coalesce(defaultpath, '-'), regexp_replace(path, '^/nix/store/[0-9a-z]{32}-', ''))
		from buildproducts p join builds b on b.id = p.build where b.job = 'docs' order by productnr`)
	require.Equal(t, []string{
		"1|doc|manual|doc|-|-|manual.html|docs-1.0/share/doc",
		"2|file|source-dist|docs-1.0.tar|8|" + sha256Hex("tarball\n") + "|-|docs-1.0/docs-1.0.tar",
	}, products)
	metrics := e.queryStrings(`select concat_ws('|', m.name, coalesce(m.unit, '-'), m.value, m.project, m.jobset, m.job)
		from buildmetrics m join builds b on b.id = m.build order by 1`)
	require.Equal(t, []string{"lineCoverage|%|87.5|e2e|jobs|docs", "testsRun|-|42|e2e|jobs|docs"}, metrics)

	// FailedPaths holds the permanently failed output.
	failed := e.queryStrings(`select regexp_replace(path, '^/nix/store/[0-9a-z]{32}-', '') from failedpaths order by 1`)
	require.Contains(t, failed, "broken")

	// The evaluation.
	evals := e.queryStrings(`select concat_ws('|', hasnewbuilds, nrbuilds, nixexprinput, nixexprpath) from jobsetevals`)
	require.Equal(t, []string{"1|10|src|release.nix"}, evals)
	members := e.queryStrings(`select count(*)::text from jobsetevalmembers where isnew = 1`)
	require.Equal(t, []string{"10"}, members)

	// The log over the limit was cut at the limit.
	var logSize int64
	require.NoError(t, e.pool.QueryRow(e.ctx, `select max(log_size) from step_attempts where drv_path = (select drvpath from builds where job = 'chatty')`).Scan(&logSize))
	require.LessOrEqual(t, logSize, e.sched.MaxLogSize+4096, "the stored log is capped")
	require.Positive(t, logSize)
}

// checkCache requires Nix to accept the binary cache: every output of a
// successful build copies into a fresh store with the cache's key trusted
// and signatures required, and is refused with another key.
func (e *harness) checkCache() {
	t := e.t
	t.Helper()
	paths := e.outputs()
	require.NotEmpty(t, paths)
	fresh, err := e.nixCopy(e.pubKey, paths)
	require.NoError(t, err)
	for _, p := range paths {
		requirePath(t, filepath.Join(fresh, p), "copied from the binary cache")
	}
	_, other, err := binarycache.GenerateKey("someone-else-1")
	require.NoError(t, err)
	_, err = e.nixCopy(other.String(), paths[:1])
	require.Error(t, err, "Nix refuses the cache when its key is not trusted")
}

func mustLookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	require.NoError(t, err)
	return p
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
