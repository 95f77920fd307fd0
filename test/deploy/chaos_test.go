package deploy

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres/pgtest"
)

// The kinds of fault a trial injects.
const (
	faultProjector   = "kill -9 projector"
	faultEvaluator   = "kill -9 evaluator"
	faultQueueRunner = "kill -9 queue-runner"
	faultServer      = "kill -9 server"
	faultSshd        = "kill -9 sshd builder"
	faultPostgres    = "restart postgres"
	faultSSHDrop     = "drop ssh connection"
)

var faultKinds = []string{faultProjector, faultEvaluator, faultQueueRunner, faultServer, faultSshd, faultPostgres, faultSSHDrop}

// trialResult is what one trial found.
type trialResult struct {
	Trial      int     `json:"trial"`
	Fault      string  `json:"fault"`
	Target     string  `json:"target"`
	DelayS     float64 `json:"delaySeconds"`
	RecoveryS  float64 `json:"recoverySeconds"`
	DurationS  float64 `json:"durationSeconds"`
	Lost       int     `json:"lostBuilds"`
	Duplicates int     `json:"duplicatedEvents"`
	TwiceOK    int     `json:"stepsSucceededTwice"`
	ReplayDiff int     `json:"replayDifferences"`
	Verified   bool    `json:"auditVerified"`
}

// TestChaos runs CHAOS_TRIALS trials (default 1) on one split deployment.
// Each trial submits a new jobset of 200 builds over a shared DAG and, at
// a random moment in the first 15 s, injects one fault (each kind once in
// every seven trials, in a random order): kill -9 of a
// process (then started again, as systemd's Restart=always does), a
// restart of Postgres, or cutting a builder's SSH connections. Then every
// build must end with the status a fault-free run gives, no step attempt
// may succeed twice, no event may be recorded twice, audit verify must
// pass and a replay of the log must equal the live read models. The
// summary line is the one make chaos prints; CHAOS_REPORT names a file
// for the trials as JSON (rewritten after each), CHAOS_DURATION stops
// starting trials after that long, CHAOS_SEED repeats a run's choices. Nothing here is a timed assertion: recovery
// times are measured and reported, never required.
func TestChaos(t *testing.T) {
	t.Parallel()
	trials := 1
	if v := os.Getenv("CHAOS_TRIALS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "CHAOS_TRIALS")
		trials = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "CHAOS_SEED")
		seed = n
	}
	t.Logf("chaos: seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	d := startDeployment(t)
	d.cli("project", "create", "chaos", "--owner", "admin")

	var deadline time.Time
	if v := os.Getenv("CHAOS_DURATION"); v != "" {
		dur, err := time.ParseDuration(v)
		require.NoError(t, err, "CHAOS_DURATION")
		deadline = time.Now().Add(dur)
	}
	var results []trialResult
	defer func() { printSummary(results) }()
	for i := range trials {
		if !deadline.IsZero() && time.Now().After(deadline) {
			t.Logf("chaos: CHAOS_DURATION is over after %d trials", i)
			break
		}
		r := d.trial(i+1, rng)
		t.Logf("trial %d: %s %s at %.1fs, recovered in %.1fs, trial %.1fs; lost %d, duplicates %d, succeeded twice %d, replay differences %d",
			r.Trial, r.Fault, r.Target, r.DelayS, r.RecoveryS, r.DurationS, r.Lost, r.Duplicates, r.TwiceOK, r.ReplayDiff)
		results = append(results, r)
		if path := os.Getenv("CHAOS_REPORT"); path != "" {
			b, err := json.MarshalIndent(results, "", "  ")
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, b, 0o644))
		}
		if t.Failed() {
			break
		}
	}
}

// printSummary prints the recovery times and the trials' lengths by kind
// of fault, and the line make chaos ends with. A trial's length also
// shows a stall the recovery rules cannot see, such as a dispatched step
// that waits for its lease.
func printSummary(results []trialResult) {
	var lost, dups, diffs int
	for _, r := range results {
		lost += r.Lost
		dups += r.Duplicates + r.TwiceOK
		diffs += r.ReplayDiff
	}
	for _, kind := range faultKinds {
		var rec, dur []float64
		for _, r := range results {
			if r.Fault == kind {
				rec, dur = append(rec, r.RecoveryS), append(dur, r.DurationS)
			}
		}
		if len(rec) > 0 {
			fmt.Printf("chaos: %-22s %3d trials, recovery p50 %.1fs p99 %.1fs, trial p50 %.1fs max %.1fs\n",
				kind, len(rec), quantile(rec, 0.5), quantile(rec, 0.99), quantile(dur, 0.5), slices.Max(dur))
		}
	}
	fmt.Printf("chaos: %d trials, %d lost builds, %d duplicated events, %d replay differences\n", len(results), lost, dups, diffs)
}

// nextFault picks the kind of fault of the next trial: every kind once
// in each round of len(faultKinds) trials, in a random order, so that a
// short run still covers them all.
func (d *deployment) nextFault(rng *rand.Rand) string {
	if len(d.faults) == 0 {
		d.faults = slices.Clone(faultKinds)
		rng.Shuffle(len(d.faults), func(i, j int) { d.faults[i], d.faults[j] = d.faults[j], d.faults[i] })
	}
	f := d.faults[0]
	d.faults = d.faults[1:]
	return f
}

// trial runs trial n: a new jobset, one fault, the checks.
func (d *deployment) trial(n int, rng *rand.Rand) trialResult {
	t := d.t
	t.Helper()
	name := fmt.Sprintf("t%04d", n)
	r := trialResult{Trial: n, Fault: d.nextFault(rng)}
	delay := time.Duration(rng.Int64N(int64(15 * time.Second)))
	if r.Fault == faultEvaluator {
		// An evaluation takes seconds: kill within them, most often.
		delay = time.Duration(rng.Int64N(int64(4 * time.Second)))
	}
	r.DelayS = delay.Seconds()
	start := time.Now()
	d.submit("chaos", name)
	time.Sleep(delay)

	var headAtFault int64
	_ = d.pool.QueryRow(d.ctx, `select position from ledger.counter`).Scan(&headAtFault)
	var recovered func() bool
	faultAt := time.Now()
	switch r.Fault {
	case faultProjector, faultQueueRunner, faultEvaluator, faultServer:
		p := map[string][]string{faultProjector: {projector}, faultQueueRunner: {queueRunner},
			faultEvaluator: {evaluator1, evaluator2}, faultServer: {server1, server2}}[r.Fault]
		target := p[rng.IntN(len(p))]
		if r.Fault == faultEvaluator {
			target = d.evaluating(name, target)
		}
		r.Target = target
		d.procs[target].kill()
		d.procs[target].start(t)
		switch r.Fault {
		case faultServer:
			base := d.servers[slices.Index([]string{server1, server2}, target)]
			recovered = func() bool { return d.healthy(base) }
		case faultProjector:
			recovered = func() bool { return d.projectedPast(headAtFault) }
		case faultEvaluator:
			recovered = func() bool { return len(d.builds("chaos", name)) == trialBuilds }
		default:
			recovered = func() bool { return d.rebuiltAfter(headAtFault) }
		}
	case faultPostgres:
		require.NoError(t, d.cluster.Restart(d.ctx))
		recovered = func() bool { return d.rebuiltAfter(headAtFault) }
	case faultSshd, faultSSHDrop:
		i := rng.IntN(len(d.sshds))
		srv := d.sshds[i]
		r.Target = srv.URI()
		if r.Fault == faultSshd {
			srv.Restart() // kills sshd with its connections first
		} else {
			// Wait for a connection to cut, up to 10 s.
			for range 100 {
				if srv.DropConnections() > 0 {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		faultAt = time.Now()
		recovered = func() bool { return d.rebuiltAfter(headAtFault) }
	}

	// Wait for the trial's builds, noting when the fault's component was
	// back at work; a trial whose work ended first recovered then.
	deadline := time.Now().Add(10 * time.Minute)
	var recoveredAt time.Time
	var bs map[string]string
	for {
		if recoveredAt.IsZero() && recovered() {
			recoveredAt = time.Now()
		}
		bs = d.builds("chaos", name)
		done := len(bs) == trialBuilds && finished(bs) == trialBuilds
		if done || time.Now().After(deadline) {
			if recoveredAt.IsZero() {
				recoveredAt = time.Now()
			}
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	r.RecoveryS = recoveredAt.Sub(faultAt).Seconds()
	r.DurationS = time.Since(start).Seconds()
	d.requireAlive()

	// Every build ends with the fault-free status.
	for i := 1; i <= trialBuilds; i++ {
		job := fmt.Sprintf("job%d", i)
		if want := fmt.Sprintf("1:%d", expectedStatus(job)); bs[job] != want {
			r.Lost++
			t.Errorf("trial %d (%s): %s is %q, want %q", n, r.Fault, job, bs[job], want)
		}
	}
	r.Duplicates = d.count(`select (select count(*) - count(distinct id) from ledger.events)
		+ (select count(*) from (select 1 from ledger.events where type = 'BuildFinished'
			group by data->>'buildId' having count(*) > 1) x)`)
	r.TwiceOK = d.count(`select count(*) from (select 1 from ledger.events where type in ('StepStarted', 'StepFinished')
		and (type = 'StepStarted' or (data->>'status')::int = 0)
		group by type, data->>'drvPath', data->>'attempt' having count(*) > 1) x`)
	if r.Duplicates+r.TwiceOK > 0 {
		t.Errorf("trial %d (%s): %d duplicated events, %d attempts started or succeeded twice", n, r.Fault, r.Duplicates, r.TwiceOK)
	}
	d.cli("audit", "verify") // fails the test unless the chain verifies
	r.Verified = true
	r.ReplayDiff = d.replayDiff(name)
	if r.ReplayDiff > 0 {
		t.Errorf("trial %d (%s): %d tables differ between the replay and the live read models", n, r.Fault, r.ReplayDiff)
	}
	return r
}

// healthy reports whether base answers /healthz with 200.
func (d *deployment) healthy(base string) bool {
	res, err := d.client.Get(base + "/healthz")
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// projectedPast reports whether every projection applied the log up to
// head.
func (d *deployment) projectedPast(head int64) bool {
	var behind int
	err := d.pool.QueryRow(d.ctx, `select count(*) from projection_checkpoints where position_commit < $1`, head).Scan(&behind)
	return err == nil && behind == 0
}

// evaluating names the evaluator that opened the jobset's evaluation, if
// one did, else def.
func (d *deployment) evaluating(jobset, def string) string {
	var host string
	err := d.pool.QueryRow(d.ctx, `select data->>'host' from ledger.events where type = 'EvaluationOpened'
		and data->>'jobset' = $1 order by position desc limit 1`, jobset).Scan(&host)
	if err == nil && strings.HasPrefix(host, "deploy-evaluator-") {
		return "evaluator-" + strings.TrimPrefix(host, "deploy-evaluator-")
	}
	return def
}

// rebuiltAfter reports whether, after log position head, a step attempt
// succeeded and every attempt aborted since (status 3: the fault's) has
// been followed by a successful one of the same step: the work the fault
// interrupted is done again.
func (d *deployment) rebuiltAfter(head int64) bool {
	var ok bool
	err := d.pool.QueryRow(d.ctx, `select exists (select 1 from ledger.events where position > $1 and type = 'StepFinished'
			and (data->>'status')::int = 0)
		and not exists (select 1 from ledger.events a where a.position > $1 and a.type = 'StepFinished'
			and (a.data->>'status')::int = 3 and not exists (select 1 from ledger.events b where b.position > a.position
				and b.type = 'StepFinished' and b.data->>'drvPath' = a.data->>'drvPath' and (b.data->>'status')::int = 0))`,
		head).Scan(&ok)
	return err == nil && ok
}

// count runs a query returning one number.
func (d *deployment) count(sql string) int {
	d.t.Helper()
	var n int
	require.NoError(d.t, d.pool.QueryRow(d.ctx, sql).Scan(&n), sql)
	return n
}

// replayDiff waits until the projector is at a quiet head, replays the
// log up to it into a new schema, and returns how many tables differ from
// the live read models (each logged).
func (d *deployment) replayDiff(trial string) int {
	d.t.Helper()
	for attempt := 0; ; attempt++ {
		head := d.settle()
		target := "replay_" + trial
		d.cli("replay", "--until", strconv.FormatInt(head, 10), "--into", target)
		live := pgtest.Dump(d.t, d.pool, d.schema)
		var after int64
		require.NoError(d.t, d.pool.QueryRow(d.ctx, `select position from ledger.counter`).Scan(&after))
		replayed := pgtest.Dump(d.t, d.pool, target)
		_, err := d.pool.Exec(d.ctx, `drop schema `+target+` cascade`)
		require.NoError(d.t, err)
		if after != head && attempt < 3 {
			continue // the log moved while the live tables were read
		}
		diffs := 0
		for table := range live {
			if !slices.Equal(live[table], replayed[table]) {
				diffs++
				d.t.Logf("replay of %s: table %s differs: live %d rows, replayed %d", trial, table, len(live[table]), len(replayed[table]))
			}
		}
		for table := range replayed {
			if _, ok := live[table]; !ok {
				diffs++
				d.t.Logf("replay of %s: table %s only in the replay", trial, table)
			}
		}
		return diffs
	}
}

// quantile is the q-quantile of xs (nearest rank).
func quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
