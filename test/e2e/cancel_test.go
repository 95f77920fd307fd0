package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/drv"
	"buildledger/domain/status"
)

// cancelWithin bounds how long the tests wait for a cancelled step to be
// killed and recorded (not a speed requirement: a generous deadline).
const cancelWithin = time.Minute

// TestCancelRunningBuild cancels a build while its only step builds on the
// localhost builder: the build's process is killed, its output is never
// made valid, the BuildSteps row ends cancelled (status 4, not busy, with
// a stop time) as Hydra records an aborted step, and the read models
// equal a replay.
func TestCancelRunningBuild(t *testing.T) {
	e := localHarness(t, harnessOptions{}, "cancel.nix")
	e.startQueue(queueOptions{})
	e.evaluate()

	sleeper := e.jobDrv("sleeper")
	e.waitLog(sleeper, 1, "sleeping", 2*time.Minute)
	out := outPath(t, sleeper)
	require.NotEmpty(t, builderPids(t, out), "the builder runs")
	e.cancelJob("sleeper")

	e.waitGone(out)
	require.Error(t, exec.Command("nix-store", "--check-validity", out).Run(), "the output is not valid")
	e.waitStepRow("sleeper", sleeper, "busy=0 status=4 stopped")
	require.Equal(t, []string{"sleeper 1 4"}, e.queryStrings(`select job || ' ' || finished || ' ' || buildstatus from builds`))
	require.Equal(t, []string{"1:4"}, e.queryStrings(`select attempt || ':' || status from step_attempts where drv_path = $1`, sleeper))
	e.checkStepStarts()
	e.requireReplayEqual()
}

// TestCancelKeepsSharedStep cancels one of two builds that need the same
// running step: the step keeps running for the other. Cancelling the
// other too kills it.
func TestCancelKeepsSharedStep(t *testing.T) {
	e := localHarness(t, harnessOptions{}, "cancel-shared.nix")
	q := e.startQueue(queueOptions{})
	e.evaluate()

	left := e.jobDrv("left")
	d, err := drv.NewReader("").Read(left)
	require.NoError(t, err)
	var shared string
	for in := range d.InputDrvs {
		shared = in
	}
	require.Contains(t, shared, "-shared.drv")
	e.waitLog(shared, 1, "shared is building", 2*time.Minute)
	out := outPath(t, shared)
	require.NotEmpty(t, builderPids(t, out), "the shared step runs")

	e.cancelJob("left")
	// Once the scheduler folded the cancellation, give it and the worker
	// a few passes (scheduler 100 ms, worker watch 1 s) to act wrongly.
	require.Eventually(t, func() bool { return q.sched.Status().NrQueuedBuilds == 1 }, cancelWithin, 20*time.Millisecond)
	time.Sleep(3 * time.Second)
	require.NotEmpty(t, builderPids(t, out), "the step right needs keeps running")
	require.Zero(t, q.sched.Status().NrStepsCancelled)
	e.settle()
	require.Equal(t, []string{"1:-"}, e.queryStrings(`select attempt || ':' || coalesce(status::text, '-') from step_attempts where drv_path = $1`, shared))
	require.Equal(t, []string{fmt.Sprintf("busy=%d", int(status.Building))}, e.queryStrings(`select 'busy=' || busy from buildsteps where drvpath = $1`, shared),
		"the shared step's row is still building")

	e.cancelJob("right")
	e.waitGone(out)
	require.Error(t, exec.Command("nix-store", "--check-validity", out).Run(), "the output is not valid")
	rows := e.queryStrings(`select drvpath from buildsteps where drvpath = $1`, shared)
	require.Len(t, rows, 1, "one row for the shared step")
	e.waitStepRowOf(shared, "busy=0 status=4 stopped")
	require.Equal(t, []string{"left 1 4", "right 1 4"}, e.queryStrings(`select job || ' ' || finished || ' ' || buildstatus from builds order by job`))
	e.waitSchedCancelled(q, 1)
	e.checkStepStarts()
	e.requireReplayEqual()
}

// TestCancelWhileQueueRunnerDown cancels a build whose step was running
// when the queue runner died (nothing it did afterwards was recorded): the
// next queue runner, catching up, ends the step cancelled instead of
// leaving it running until its lease.
func TestCancelWhileQueueRunnerDown(t *testing.T) {
	e := localHarness(t, harnessOptions{}, "cancel.nix")
	ks := &killableStore{Store: e.store}
	q1 := e.startQueue(queueOptions{store: ks})
	e.evaluate()

	sleeper := e.jobDrv("sleeper")
	e.waitLog(sleeper, 1, "sleeping", 2*time.Minute)
	ks.dead.Store(true)
	q1.stop(t)
	e.waitGone(outPath(t, sleeper))
	e.cancelJob("sleeper")
	e.settle()
	require.Equal(t, []string{"1:-"}, e.queryStrings(`select attempt || ':' || coalesce(status::text, '-') from step_attempts where drv_path = $1`, sleeper),
		"the dead runner recorded no end of the step")

	q2 := e.startQueue(queueOptions{})
	e.waitStepRow("sleeper", sleeper, "busy=0 status=4 stopped")
	require.Equal(t, []string{"1:4"}, e.queryStrings(`select attempt || ':' || status from step_attempts where drv_path = $1`, sleeper))
	e.waitSchedCancelled(q2, 1)
	e.checkStepStarts()
	e.requireReplayEqual()
}

// cancelJob cancels the build of job as a user would.
func (e *harness) cancelJob(job string) {
	e.t.Helper()
	ids := e.queryStrings(`select id::text from builds where job = $1`, job)
	require.Len(e.t, ids, 1)
	id, err := strconv.ParseInt(ids[0], 10, 64)
	require.NoError(e.t, err)
	_, err = e.h.CancelBuild(e.ctx, e.md(), id)
	require.NoError(e.t, err)
}

// waitSchedCancelled waits until q's scheduler folded n step cancels and
// has no step running.
func (e *harness) waitSchedCancelled(q *queue, n int) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		st := q.sched.Status()
		return st.NrStepsCancelled == n && st.NrActiveSteps == 0
	}, cancelWithin, 20*time.Millisecond, "the scheduler did not see %d cancelled steps: %+v", n, q.sched.Status())
}

// waitGone waits until no builder process of the output is left.
func (e *harness) waitGone(out string) {
	e.t.Helper()
	require.Eventually(e.t, func() bool { return len(builderPids(e.t, out)) == 0 }, cancelWithin, 50*time.Millisecond,
		"a builder process of %s is still running", out)
}

// waitStepRow waits until the BuildSteps row of drvPath under job's build
// reads want ("busy=B status=S stopped|running").
func (e *harness) waitStepRow(job, drvPath, want string) {
	e.t.Helper()
	e.waitRow(`select 'busy=' || s.busy || ' status=' || coalesce(s.status::text, '-') || ' ' ||
			case when s.stoptime is null then 'running' else 'stopped' end
		from buildsteps s join builds b on b.id = s.build where b.job = $1 and s.drvpath = $2`, want, job, drvPath)
}

// waitStepRowOf is waitStepRow for the only row of drvPath, whichever
// build it is under.
func (e *harness) waitStepRowOf(drvPath, want string) {
	e.t.Helper()
	e.waitRow(`select 'busy=' || busy || ' status=' || coalesce(status::text, '-') || ' ' ||
			case when stoptime is null then 'running' else 'stopped' end
		from buildsteps where drvpath = $1`, want, drvPath)
}

func (e *harness) waitRow(sql, want string, args ...any) {
	e.t.Helper()
	deadline := time.Now().Add(cancelWithin)
	for {
		rows := e.queryStrings(sql, args...)
		if len(rows) == 1 && rows[0] == want {
			// Projections apply a batch each in their own transaction:
			// the ledger's tables may be a moment behind Hydra's.
			e.settle()
			return
		}
		require.True(e.t, time.Now().Before(deadline), "BuildSteps row: %v, want %q", rows, want)
		time.Sleep(50 * time.Millisecond)
	}
}

// outPath returns the "out" output of a derivation in the local store.
func outPath(t *testing.T, drvPath string) string {
	t.Helper()
	d, err := drv.NewReader("").Read(drvPath)
	require.NoError(t, err)
	require.NotEmpty(t, d.Outputs["out"])
	return d.Outputs["out"]
}

// builderPids returns the processes building out: those whose
// environment holds out=<out>, as Nix sets it for the builder.
func builderPids(t testing.TB, out string) []int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	require.NoError(t, err)
	want := []byte("out=" + out)
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", d.Name(), "environ"))
		if err != nil || !alive(pid) {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.Equal(kv, want) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}
