package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/logstore"
	"buildledger/adapters/nix/nixtest"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/adapters/ssh/sshdtest"
	"buildledger/commands"
	"buildledger/commands/reactors/scheduler"
	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/projections"
)

// faultJobs is the number of jobs in testdata/faults.nix.
const faultJobs = 4

// faultSched are the queue runner's knobs in the fault tests: jobs have
// meta.timeout 6 and maxSilent 4, so a step lost with its builder is given
// up 11 s after it started; an unanswered dispatch after 8 s.
var faultSched = scheduler.Config{Timeout: 6, MaxSilent: 4, RunningGrace: 1, DispatchLease: 8}

// TestSSHConnectionKilled kills the builder's sshd (and with it the
// connection and the build) while a step runs: the attempt ends with
// status 3, the step is retried after the builder is back, and every
// build succeeds.
func TestSSHConnectionKilled(t *testing.T) {
	requireTools(t, "nix-store", "nix-instantiate", "nix")
	requireSshd(t)
	t.Parallel()
	e := newHarness(t, harnessOptions{sched: faultSched})
	e.seed("faults.nix")
	env := map[string]string{"PATH": filepath.Dir(mustLookPath(t, "nix-store")) + ":/usr/bin:/bin"}
	srv := sshdtest.Start(t, sshdtest.Options{Env: env})
	store := nixtest.NewChrootStore(t)
	e.registerMachine("ssh1", events.MachineConfig{URI: srv.URI(), Systems: []string{hostSystem()}, SSHKey: srv.ClientKeyPath,
		PublicHostKey: srv.HostPublicKey, MaxJobs: 2, SpeedFactor: 1, Store: store, Enabled: true})
	e.startQueue(queueOptions{})
	e.evaluate()

	first := e.jobDrv("first")
	e.waitLog(first, 1, "first", time.Minute)
	srv.Kill()
	e.waitAttemptEnd(first, 1, 30*time.Second)
	srv.Restart()

	e.waitBuilds(faultJobs, 2*time.Minute)
	e.requireAllSucceeded()
	attempts := e.queryStrings(`select attempt || ':' || status from step_attempts where drv_path = $1 order by attempt`, first)
	require.GreaterOrEqual(t, len(attempts), 2, "the step was retried: %v", attempts)
	require.Equal(t, "1:3", attempts[0], "the interrupted attempt is aborted (transient)")
	require.Equal(t, "0", attempts[len(attempts)-1][strings.Index(attempts[len(attempts)-1], ":")+1:], "the last attempt succeeded: %v", attempts)
	e.checkStepStarts()
	// The builds' Hydra rows show the successful attempt.
	rows := e.queryStrings(`select status::text from buildsteps s join builds b on b.id = s.build where b.job = 'first' and s.drvpath = $1 order by stepnr desc limit 1`, first)
	require.Equal(t, []string{"0"}, rows)
}

// dupSender sends every BuildStep twice, as a bus that redelivers would.
type dupSender struct {
	next commands.BuildStepSender
	sent atomic.Int64
}

func (d *dupSender) SendBuildStep(ctx context.Context, c commands.BuildStep) error {
	if err := d.next.SendBuildStep(ctx, c); err != nil {
		return err
	}
	d.sent.Add(1)
	return d.next.SendBuildStep(ctx, c)
}

// TestDuplicateBuildStep delivers every BuildStep twice: each step is
// started and built once. Its leases are long: on a loaded machine an
// 8 s dispatch lease ran out and the step was rightly dispatched again,
// which is not the duplicate this test is about.
func TestDuplicateBuildStep(t *testing.T) {
	sched := faultSched
	sched.DispatchLease = 120
	e := localHarness(t, harnessOptions{sched: sched}, "faults.nix")
	dup := &dupSender{}
	e.startQueue(queueOptions{wrap: func(s commands.BuildStepSender) commands.BuildStepSender {
		dup.next = s
		return dup
	}})
	e.evaluate()
	e.waitBuilds(faultJobs, 2*time.Minute)
	e.requireAllSucceeded()
	require.GreaterOrEqual(t, dup.sent.Load(), int64(faultJobs), "every step was sent twice")
	attempts := e.queryStrings(`select count(*)::text from step_attempts group by drv_path`)
	require.Len(t, attempts, faultJobs)
	for _, n := range attempts {
		require.Equal(t, "1", n, "one attempt per step")
	}
	starts := e.checkStepStarts()
	require.Equal(t, faultJobs, starts, "one StepStarted per step")
}

// killableStore is an event store a process writes through until it is
// "killed": from then on every append fails, so nothing the process does
// afterwards reaches the ledger, as after kill -9.
type killableStore struct {
	events.Store
	dead atomic.Bool
}

var errKilled = errors.New("process killed")

func (s *killableStore) Append(ctx context.Context, stream string, expect events.Revision, evs ...events.Event) (events.AppendResult, error) {
	if s.dead.Load() {
		return events.AppendResult{}, errKilled
	}
	return s.Store.Append(ctx, stream, expect, evs...)
}

// TestQueueRunnerKilled kills the scheduler and worker mid-build (nothing
// they do afterwards is recorded) and starts fresh ones: the lost attempt
// is given up after its timeout and retried, every build ends successfully,
// no step ever had two attempts running at once, and the read models
// equal a replay of the log.
func TestQueueRunnerKilled(t *testing.T) {
	e := localHarness(t, harnessOptions{sched: faultSched}, "faults.nix")
	ks := &killableStore{Store: e.store}
	q1 := e.startQueue(queueOptions{store: ks})
	e.evaluate()

	first := e.jobDrv("first")
	e.waitLog(first, 1, "first", time.Minute)
	ks.dead.Store(true)
	q1.stop(t)
	var finished int
	require.NoError(t, e.pool.QueryRow(e.ctx, `select count(*) from step_attempts where drv_path = $1 and status is not null`, first).Scan(&finished))
	require.Zero(t, finished, "the killed runner recorded no end of the running step")

	e.startQueue(queueOptions{})
	e.waitBuilds(faultJobs, 2*time.Minute)
	e.requireAllSucceeded()
	attempts := e.queryStrings(`select attempt || ':' || status from step_attempts where drv_path = $1 order by attempt`, first)
	require.GreaterOrEqual(t, len(attempts), 2, "the lost attempt was given up and retried: %v", attempts)
	require.Equal(t, "1:3", attempts[0])
	e.checkStepStarts()
	e.requireReplayEqual()
}

// jobDrv waits until the read models show the job's build and returns
// its derivation.
func (e *harness) jobDrv(job string) string {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows := e.queryStrings(`select drvpath from builds where job = $1`, job)
		if len(rows) == 1 {
			return rows[0]
		}
		require.True(e.t, time.Now().Before(deadline), "build of %s not projected", job)
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLog waits until the log of the attempt contains text: the step is
// building.
func (e *harness) waitLog(drvPath string, attempt int, text string, within time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		if rc, err := e.logs.Open(logstore.Location(drvPath, attempt)); err == nil {
			b, _ := io.ReadAll(rc)
			rc.Close()
			if bytes.Contains(b, []byte(text)) {
				return
			}
		}
		if time.Now().After(deadline) {
			// The attempts recorded tell a lost dispatch from a slow build.
			require.FailNow(e.t, "no text in the log", "no %q in the log of %s attempt %d; attempts (attempt:status machine): %v",
				text, drvPath, attempt, e.queryStrings(`select attempt || ':' || coalesce(status::text, '-') || ' ' || machine
					from step_attempts where drv_path = $1 order by attempt`, drvPath))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitAttemptEnd waits until the read models show the attempt ended, and
// every projection has caught up with it.
func (e *harness) waitAttemptEnd(drvPath string, attempt int, within time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var n int
		require.NoError(e.t, e.pool.QueryRow(e.ctx, `select count(*) from step_attempts where drv_path = $1 and attempt = $2 and status is not null`,
			drvPath, attempt).Scan(&n))
		if n == 1 {
			e.settle()
			return
		}
		require.True(e.t, time.Now().Before(deadline), "attempt %d of %s did not end", attempt, drvPath)
		time.Sleep(50 * time.Millisecond)
	}
}

// requireAllSucceeded requires every build to have finished with status 0.
func (e *harness) requireAllSucceeded() {
	e.t.Helper()
	bad := e.queryStrings(`select job || ' finished=' || finished || ' status=' || coalesce(buildstatus::text, 'null') from builds
		where finished != 1 or buildstatus is distinct from 0`)
	require.Empty(e.t, bad, "builds that did not succeed")
}

// checkStepStarts reads the whole log and requires that no step ever had
// two attempts running at once, nor one attempt started twice. It returns
// how many StepStarted events the log holds.
func (e *harness) checkStepStarts() int {
	e.t.Helper()
	running := map[string]int{}
	started := map[string]bool{}
	n := 0
	after := events.Start
	for {
		recs, err := e.store.ReadAll(e.ctx, after, 1000)
		require.NoError(e.t, err)
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			after = r.Position
			if !strings.HasPrefix(r.Stream, streams.StepPrefix) {
				continue
			}
			p, err := e.codec.Decode(r)
			require.NoError(e.t, err)
			switch ev := p.(type) {
			case *events.StepStarted:
				n++
				key := fmt.Sprintf("%s#%d", ev.DrvPath, ev.Attempt)
				require.False(e.t, started[key], "attempt %d of %s started twice", ev.Attempt, ev.DrvPath)
				started[key] = true
				require.Zero(e.t, running[ev.DrvPath], "attempt %d of %s started while attempt %d ran", ev.Attempt, ev.DrvPath, running[ev.DrvPath])
				running[ev.DrvPath] = ev.Attempt
			case *events.StepFinished:
				if running[ev.DrvPath] == ev.Attempt {
					delete(running, ev.DrvPath)
				}
			}
		}
	}
	require.Empty(e.t, running, "steps still running at the end")
	return n
}

// requireReplayEqual stops the projector, rebuilds every read model from
// the log, up to the position the projector stopped at, into a fresh
// schema and requires it to equal the live one row for row. Components
// still running may append after the projector stops (a cancelled step's
// log, stored after its end): a replay to the head would include them.
func (e *harness) requireReplayEqual() {
	t := e.t
	t.Helper()
	e.settle()
	e.stopProjector()
	at := e.runner.Stats().Position
	require.False(t, at.IsStart(), "the projector applied nothing")
	live := pgtest.Dump(t, e.pool, "public")
	require.NotEmpty(t, live["builds"])
	res, err := projections.Replay(e.ctx, e.store, e.codec, postgres.NewSchemas(e.pool), readModels(postgres.NewVault(e.pool)),
		projections.ReplayOptions{Target: "replay_check", Until: at})
	require.NoError(t, err)
	require.Equal(t, at, res.Position)
	replayed := pgtest.Dump(t, e.pool, "replay_check")
	require.Equal(t, sortedKeys(live), sortedKeys(replayed), "the same tables")
	for _, table := range sortedKeys(live) {
		require.Equal(t, live[table], replayed[table], "table %s differs between live and replay", table)
	}
}
