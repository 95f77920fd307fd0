package scheduler_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/commands/reactors"
	"buildledger/commands/reactors/scheduler"
	"buildledger/domain/streams"
	"buildledger/events"
)

// cut is a snapshot taken during a scenario, with how and when (the
// scenario's clock) it was taken.
type cut struct {
	name string
	snap reactors.Snapshot
	now  int64
}

// logUpTo shows the log as it stood at position limit: a scheduler
// reading through it folds what one did then.
type logUpTo struct {
	events.Store
	limit events.Position
}

func (l *logUpTo) Head(ctx context.Context) (events.Position, error) {
	h, err := l.Store.Head(ctx)
	if err == nil && l.limit.Less(h) {
		h = l.limit
	}
	return h, err
}

func (l *logUpTo) ReadAll(ctx context.Context, after events.Position, n int) ([]events.Recorded, error) {
	recs, err := l.Store.ReadAll(ctx, after, n)
	return l.upTo(recs), err
}

func (l *logUpTo) ReadStream(ctx context.Context, stream string, from uint64, n int) ([]events.Recorded, error) {
	recs, err := l.Store.ReadStream(ctx, stream, from, n)
	return l.upTo(recs), err
}

func (l *logUpTo) upTo(recs []events.Recorded) []events.Recorded {
	for i, r := range recs {
		if l.limit.Less(r.Position) {
			return recs[:i]
		}
	}
	return recs
}

// snapDriver plays a scenario through the real commands and store, and
// keeps at every stage two snapshots: the running scheduler's (with its
// reservations, pruned shares and follow-up timers) and one of a
// scheduler that only folded the log.
type snapDriver struct {
	*evictFixture
	cfg   scheduler.Config
	snaps *postgres.ReactorSnapshots
	clear func()
	cuts  []cut
	// compared counts the comparisons, decided the decisions and
	// follow-ups they compared.
	compared, decided int
}

func newSnapDriver(t *testing.T, cfg scheduler.Config) *snapDriver {
	pool := pgtest.NewPool(t)
	snaps := postgres.NewReactorSnapshots(pool)
	d := &snapDriver{evictFixture: newDriveFixture(t, scheduler.Options{Config: cfg, Snapshots: snaps, Logger: quiet}),
		cfg: cfg, snaps: snaps}
	d.clear = func() {
		_, err := pool.Exec(d.ctx, `delete from commandstate.reactor_snapshots`)
		require.NoError(t, err)
	}
	return d
}

// keep takes the stage's snapshots (the running scheduler's only when it
// keeps every build, see TestSnapshotIsACache), then checks every
// snapshot taken so far against the log as it stands.
func (d *snapDriver) keep(stage string) {
	d.t.Helper()
	head, err := d.store.Head(d.ctx)
	require.NoError(d.t, err)
	take := func(how string, s *scheduler.Scheduler) {
		d.clear()
		require.NoError(d.t, s.SaveSnapshot(d.ctx))
		snap, err := d.snaps.LoadSnapshot(d.ctx, scheduler.SnapshotName)
		require.NoError(d.t, err, "%s %s: a snapshot is saved when events were folded since the last", stage, how)
		require.Equal(d.t, head, snap.Position, "%s %s: the snapshot covers the whole log", stage, how)
		d.cuts = append(d.cuts, cut{name: stage + "/" + how, snap: snap, now: d.now.Unix()})
	}
	if d.cfg.EvictAfter < 0 {
		_, err = d.s.CatchUp(d.ctx)
		require.NoError(d.t, err)
		take("live", d.s)
	}
	d.clear()
	folder := scheduler.New(d.rt, d.codec, nil, scheduler.Options{Config: d.cfg, Snapshots: d.snaps, Logger: quiet})
	_, err = folder.CatchUp(d.ctx)
	require.NoError(d.t, err)
	take("folded", folder)
	for _, k := range d.cuts {
		d.check(k, stage)
	}
}

// check compares a scheduler started from k's snapshot, folding the log
// after it, with one that does without: keeping every build, one that
// folds the whole log; evicting, one that folds the log up to k at k's
// time, then the rest.
func (d *snapDriver) check(k cut, stage string) {
	d.t.Helper()
	msg := k.name + " at " + stage
	all, err := d.store.ReadAll(d.ctx, events.Start, 100_000)
	require.NoError(d.t, err)
	tail := 0
	for _, r := range all {
		if k.snap.Position.Less(r.Position) {
			tail++
		}
	}
	require.NoError(d.t, d.snaps.SaveSnapshot(d.ctx, scheduler.SnapshotName, k.snap))
	fromSnap := scheduler.New(d.rt, d.codec, nil, scheduler.Options{Config: d.cfg, Snapshots: d.snaps, Logger: quiet})
	n, err := fromSnap.CatchUp(d.ctx)
	require.NoError(d.t, err)
	require.Equal(d.t, tail, n, "%s: only the log after the snapshot is read", msg)

	log := &logUpTo{Store: d.store, limit: events.At(math.MaxUint64)}
	if d.cfg.EvictAfter >= 0 {
		log.limit = k.snap.Position
	}
	now := d.now
	d.now = time.Unix(k.now, 0)
	rt := commands.NewRuntime(log, d.codec, commands.Options{Clock: commands.ClockFunc(func() time.Time { return d.now })})
	fold := scheduler.New(rt, d.codec, nil, scheduler.Options{Config: d.cfg, Logger: quiet})
	n1, err := fold.CatchUp(d.ctx)
	require.NoError(d.t, err)
	d.now, log.limit = now, events.At(math.MaxUint64)
	n2, err := fold.CatchUp(d.ctx)
	require.NoError(d.t, err)
	require.Equal(d.t, len(all), n1+n2, "%s: the whole log", msg)

	// Now, and ten minutes on, when leases expired and retries are due.
	for _, at := range []int64{d.now.Unix(), d.now.Unix() + 600} {
		wantActs, wantDecs, want := fold.Peek(at)
		gotActs, gotDecs, got := fromSnap.Peek(at)
		require.Equal(d.t, wantActs, gotActs, "%s: follow-ups at %d", msg, at)
		require.Equal(d.t, wantDecs, gotDecs, "%s: decisions at %d", msg, at)
		sameModel(d.t, want, got, msg)
		d.compared++
		d.decided += len(wantDecs) + len(wantActs)
	}
}

// seedJobs queues, in open evaluation 7, steps a, on src (never queued:
// a waits for the evaluation to close); b and c on a; d on b and c; e
// alone (it may run before the close); and builds 1 (b, jobset 1), 2 (c,
// jobset 2), 3 (d, jobset 1, global priority 1) and 4 (e, jobset 2).
func (d *snapDriver) seedJobs() {
	d.seed(streams.Jobset("p", "j1"), &events.JobsetCreated{Project: "p", Name: "j1", ID: 1,
		JobsetConfig: events.JobsetConfig{SchedulingShares: 100}})
	d.seed(streams.Jobset("p", "j2"), &events.JobsetCreated{Project: "p", Name: "j2", ID: 2,
		JobsetConfig: events.JobsetConfig{SchedulingShares: 50}})
	step := func(name string, inputs ...string) {
		var in []string
		for _, i := range inputs {
			in = append(in, drv(i))
		}
		d.seed(streams.Step(drv(name)), &events.StepQueued{DrvPath: drv(name), System: sys, Outputs: out(name), InputDrvs: in, EvalID: 7})
	}
	build := func(id, jobset int64, name string, prio int) {
		d.seed(streams.Build(id), &events.BuildQueued{BuildID: id, EvalID: 7, JobsetID: jobset, DrvPath: drv(name),
			Outputs: out(name), GlobalPriority: prio})
	}
	step("a", "src")
	step("b", "a")
	build(1, 1, "b", 0)
	step("c", "a")
	step("d", "b", "c")
	build(2, 2, "c", 0)
	build(3, 1, "d", 1)
	step("e")
	build(4, 2, "e", 0)
}

// byDrv returns the command for drv among sent.
func byDrv(t *testing.T, sent []commands.BuildStep, name string) commands.BuildStep {
	t.Helper()
	for _, c := range sent {
		if c.DrvPath == drv(name) {
			return c
		}
	}
	require.Failf(t, "not sent", "%s among %v", name, sent)
	return commands.BuildStep{}
}

// TestSnapshotIsACache: at every stage of a scenario (an open evaluation,
// dispatches, a transient and a permanent failure, a cancelled build
// whose step runs on, a lost dispatch, eviction, a restart of an evicted
// build, a step queued again), a scheduler started from a snapshot of
// that stage and the log after it does what a scheduler without the
// snapshot does: the same follow-ups, the same decisions, the same
// status (times and decision counters aside).
//
// Keeping every build, that is a scheduler folding the whole log, and
// snapshots of the running scheduler (with its reservations, pruned
// shares and follow-up timers) qualify as well as those of one that only
// folded. Evicting, what a scheduler holds depends on when it evicted (a
// step read back from its stream carries only the jobsets of the builds
// held since, which its share charges follow), so the snapshot of a
// scheduler that folded up to the stage is compared with that scheduler
// folding the rest; the scenario restarts a build it evicted after the
// snapshot.
func TestSnapshotIsACache(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  scheduler.Config
	}{{"keep", scheduler.Config{EvictAfter: -1}}, {"evict", scheduler.Config{EvictAfter: 60}}} {
		t.Run(tc.name, func(t *testing.T) {
			d := newSnapDriver(t, tc.cfg)
			_, err := d.h.RegisterMachine(d.ctx, d.md, commands.RegisterMachine{Name: "b2", Config: events.MachineConfig{
				URI: "ssh://b2", Systems: []string{sys}, MaxJobs: 1, SpeedFactor: 2, Enabled: true}})
			require.NoError(t, err)
			d.seedJobs()
			d.keep("open evaluation")
			sent := d.pass()
			require.Len(t, sent, 1, "a waits for the evaluation to close")
			e := byDrv(t, sent, "e") // its builder never reports
			d.keep("dispatched while open")

			d.seed(streams.Eval(7), &events.EvaluationFinished{EvalID: 7})
			d.keep("evaluation closed")
			sent = d.pass()
			require.Len(t, sent, 1)
			byDrv(t, sent, "a")
			d.keep("dispatched")

			d.run(byDrv(t, sent, "a"), 0)
			d.keep("a built")
			sent = d.pass()
			require.Len(t, sent, 2)

			d.run(byDrv(t, sent, "b"), 3) // transient: retried
			d.run(byDrv(t, sent, "c"), 1) // for good: builds 2 and 3 fail
			d.keep("failures")
			d.pass()

			_, err = d.h.CancelBuild(d.ctx, d.md, 4) // e is dispatched: cancelled
			require.NoError(t, err)
			d.keep("cancelled")
			d.pass()
			require.Contains(t, d.streamTypes(streams.Step(e.DrvPath)), "StepFinished", "the orphan is cancelled")

			d.now = d.now.Add(2 * time.Minute)
			d.keep("retry due")
			sent = d.pass()
			d.run(byDrv(t, sent, "b"), 0) // the retry: build 1 succeeds
			d.keep("retried")
			d.pass()

			d.now = d.now.Add(2 * time.Minute)
			d.pass()
			st := d.s.Status()
			require.Zero(t, st.NrQueuedBuilds)
			if tc.cfg.EvictAfter > 0 {
				require.Zero(t, st.NrBuildsHeld, "evicted")
			}
			d.seed(streams.Jobset("p", "j2"), &events.JobsetUpdated{Project: "p", Name: "j2",
				JobsetConfig: events.JobsetConfig{SchedulingShares: 200}})
			d.pass()
			d.keep("all finished")

			// Build 2 is restarted after the snapshot: a scheduler started
			// from it reads the evicted build back from its streams.
			_, err = d.h.RestartBuild(d.ctx, d.md, 2)
			require.NoError(t, err)
			d.keep("restarted")
			sent = d.pass()
			c := byDrv(t, sent, "c")
			require.Equal(t, 2, c.Attempt)
			require.Equal(t, 2, c.StepNr)

			// A new build needs a again, whose outputs were lost.
			d.run(c, 0)
			d.seed(streams.Step(drv("a")), &events.StepQueued{DrvPath: drv("a"), System: sys, Outputs: out("a")})
			d.seed(streams.Build(5), &events.BuildQueued{BuildID: 5, JobsetID: 1, DrvPath: drv("a"), Outputs: out("a")})
			d.keep("queued again")
			sent = d.pass()
			require.Equal(t, 2, byDrv(t, sent, "a").Attempt)
			d.run(byDrv(t, sent, "a"), 0)
			d.keep("done")
			d.pass()

			d.now = d.now.Add(time.Hour)
			d.keep("an hour later")
			t.Logf("%d comparisons of %d decisions and follow-ups", d.compared, d.decided)
			require.Positive(t, d.decided)
		})
	}
}

// sameModel compares two statuses but for times and the counters of
// decisions (which a snapshot keeps, and a fold cannot know).
func sameModel(t *testing.T, want, got scheduler.Status, msg string) {
	t.Helper()
	for _, st := range []*scheduler.Status{&want, &got} {
		st.Time, st.Uptime, st.NrDecisions, st.NrLeaseExpiries = 0, 0, 0, 0
	}
	require.Equal(t, want, got, msg)
}

// quiet discards the schedulers' logs in these tests.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestSnapshotNotUsed: a missing snapshot, a spoilt one, one of another
// format, of another configuration or of another log (another database,
// or a position this log has not reached) is not used: the scheduler
// folds the whole log and decides as one without snapshots.
func TestSnapshotNotUsed(t *testing.T) {
	d := newSnapDriver(t, scheduler.Config{})
	d.seedJobs()
	d.seed(streams.Eval(7), &events.EvaluationFinished{EvalID: 7})
	folder := scheduler.New(d.rt, d.codec, nil, scheduler.Options{Snapshots: d.snaps, Logger: quiet})
	_, err := folder.CatchUp(d.ctx)
	require.NoError(t, err)
	require.NoError(t, folder.SaveSnapshot(d.ctx))
	good, err := d.snaps.LoadSnapshot(d.ctx, scheduler.SnapshotName)
	require.NoError(t, err)
	d.pass()
	all, err := d.store.ReadAll(d.ctx, events.Start, 1000)
	require.NoError(t, err)

	// Another database, whose log has events of its own.
	other := newSnapDriver(t, scheduler.Config{})
	other.seedJobs()
	elsewhere := scheduler.New(other.rt, other.codec, nil, scheduler.Options{Snapshots: d.snaps, Logger: quiet})
	_, err = elsewhere.CatchUp(d.ctx)
	require.NoError(t, err)
	d.clear()
	require.NoError(t, elsewhere.SaveSnapshot(d.ctx))
	foreign, err := d.snaps.LoadSnapshot(d.ctx, scheduler.SnapshotName)
	require.NoError(t, err)

	// A scheduler that evicts after a minute.
	d.clear()
	evicting := scheduler.New(d.rt, d.codec, nil, scheduler.Options{Snapshots: d.snaps, Logger: quiet,
		Config: scheduler.Config{EvictAfter: 60}})
	_, err = evicting.CatchUp(d.ctx)
	require.NoError(t, err)
	require.NoError(t, evicting.SaveSnapshot(d.ctx))
	otherConfig, err := d.snaps.LoadSnapshot(d.ctx, scheduler.SnapshotName)
	require.NoError(t, err)

	// edit changes the snapshot's state, under its gzip: it gets the
	// header with the steps and builds that follow it put in, and the
	// state is written back as that one JSON value.
	edit := func(f func(st map[string]any)) []byte {
		zr, err := gzip.NewReader(bytes.NewReader(good.State))
		require.NoError(t, err)
		dec := json.NewDecoder(zr)
		var st map[string]any
		require.NoError(t, dec.Decode(&st))
		for _, field := range [][2]string{{"steps", "nrSteps"}, {"builds", "nrBuilds"}} {
			all := []any{}
			for range int(st[field[1]].(float64)) {
				var v any
				require.NoError(t, dec.Decode(&v))
				all = append(all, v)
			}
			st[field[0]], st[field[1]] = all, 0
		}
		f(st)
		var out bytes.Buffer
		zw := gzip.NewWriter(&out)
		require.NoError(t, json.NewEncoder(zw).Encode(st))
		require.NoError(t, zw.Close())
		return out.Bytes()
	}
	step0 := func(st map[string]any) map[string]any { return st["steps"].([]any)[0].(map[string]any) }
	for _, tc := range []struct {
		name  string
		spoil func(reactors.Snapshot) (reactors.Snapshot, bool)
	}{
		{"none", func(s reactors.Snapshot) (reactors.Snapshot, bool) { return s, false }},
		{"a value after its builds", func(s reactors.Snapshot) (reactors.Snapshot, bool) {
			zr, err := gzip.NewReader(bytes.NewReader(s.State))
			require.NoError(t, err)
			stream, err := io.ReadAll(zr)
			require.NoError(t, err)
			var out bytes.Buffer
			zw := gzip.NewWriter(&out)
			_, err = zw.Write(append(stream, "{}\n"...))
			require.NoError(t, err)
			require.NoError(t, zw.Close())
			s.State = out.Bytes()
			return s, true
		}},
		{"not gzip", func(s reactors.Snapshot) (reactors.Snapshot, bool) { s.State = []byte(`{"steps": [`); return s, true }},
		{"not JSON", func(s reactors.Snapshot) (reactors.Snapshot, bool) {
			var out bytes.Buffer
			zw := gzip.NewWriter(&out)
			_, err := zw.Write([]byte(`{"steps": [`))
			require.NoError(t, err)
			require.NoError(t, zw.Close())
			s.State = out.Bytes()
			return s, true
		}},
		{"another format", func(s reactors.Snapshot) (reactors.Snapshot, bool) { s.Version++; return s, true }},
		{"another configuration", func(reactors.Snapshot) (reactors.Snapshot, bool) { return otherConfig, true }},
		{"another database", func(reactors.Snapshot) (reactors.Snapshot, bool) { return foreign, true }},
		{"ahead of the log", func(s reactors.Snapshot) (reactors.Snapshot, bool) {
			s.Position, s.Revision = events.At(s.Position.Commit+1000), s.Revision+1000
			return s, true
		}},
		{"another event at its position", func(s reactors.Snapshot) (reactors.Snapshot, bool) {
			s.EventID = "0190aaaa-0000-7000-8000-000000000000"
			return s, true
		}},
		{"an input out of range", func(s reactors.Snapshot) (reactors.Snapshot, bool) {
			s.State = edit(func(st map[string]any) { step0(st)["inputs"] = []int{len(st["steps"].([]any))} })
			return s, true
		}},
		{"a machine it does not know", func(s reactors.Snapshot) (reactors.Snapshot, bool) {
			s.State = edit(func(st map[string]any) { step0(st)["machine"] = "nowhere" })
			return s, true
		}},
		{"a phase it does not know", func(s reactors.Snapshot) (reactors.Snapshot, bool) {
			s.State = edit(func(st map[string]any) { step0(st)["phase"] = 42 })
			return s, true
		}},
		{"more pending inputs than inputs", func(s reactors.Snapshot) (reactors.Snapshot, bool) {
			s.State = edit(func(st map[string]any) { step0(st)["pending"] = 7 })
			return s, true
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d.clear()
			if snap, ok := tc.spoil(good); ok {
				require.NoError(t, d.snaps.SaveSnapshot(d.ctx, scheduler.SnapshotName, snap))
			}
			s := scheduler.New(d.rt, d.codec, nil, scheduler.Options{Snapshots: d.snaps, Logger: quiet})
			n, err := s.CatchUp(d.ctx)
			require.NoError(t, err)
			require.Equal(t, len(all), n, "the whole log is folded")
			fold := scheduler.New(d.rt, d.codec, nil, scheduler.Options{Logger: quiet})
			_, err = fold.CatchUp(d.ctx)
			require.NoError(t, err)
			wantActs, wantDecs, want := fold.Peek(d.now.Unix() + 600)
			gotActs, gotDecs, got := s.Peek(d.now.Unix() + 600)
			require.Equal(t, wantActs, gotActs)
			require.Equal(t, wantDecs, gotDecs)
			require.NotEmpty(t, wantActs, "leases expired")
			sameModel(t, want, got, tc.name)
		})
	}
	t.Run("good", func(t *testing.T) {
		require.NoError(t, d.snaps.SaveSnapshot(d.ctx, scheduler.SnapshotName, good))
		s := scheduler.New(d.rt, d.codec, nil, scheduler.Options{Snapshots: d.snaps, Logger: quiet})
		n, err := s.CatchUp(d.ctx)
		require.NoError(t, err)
		require.Less(t, n, len(all), "only the log after the snapshot is folded")
	})
}

// TestRunSavesSnapshots: Run saves a snapshot once it folded
// SnapshotEvery events, and another when it stops; a scheduler started
// after it folds only what came after.
func TestRunSavesSnapshots(t *testing.T) {
	d := newSnapDriver(t, scheduler.Config{})
	// No machine: nothing is dispatched, so the log ends where it was seeded.
	_, err := d.h.RemoveMachine(d.ctx, d.md, commands.RemoveMachine{Name: "b1"})
	require.NoError(t, err)
	d.seedJobs()
	s := scheduler.New(d.rt, d.codec, nil, scheduler.Options{Snapshots: d.snaps, Logger: quiet, SnapshotEvery: 5,
		SnapshotInterval: time.Hour, Interval: time.Hour})
	ctx, cancel := context.WithCancel(d.ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	require.Eventually(t, func() bool { return s.Status().CaughtUp }, time.Minute, 5*time.Millisecond)
	first, err := d.snaps.LoadSnapshot(d.ctx, scheduler.SnapshotName)
	require.NoError(t, err, "saved after catching up with more than SnapshotEvery events")
	head, err := d.store.Head(d.ctx)
	require.NoError(t, err)
	require.Equal(t, head, first.Position)

	d.seed(streams.Build(6), &events.BuildQueued{BuildID: 6, JobsetID: 1, DrvPath: drv("f")})
	require.Eventually(t, func() bool { return s.Status().NrQueuedBuilds == 5 }, time.Minute, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	last, err := d.snaps.LoadSnapshot(d.ctx, scheduler.SnapshotName)
	require.NoError(t, err)
	head, err = d.store.Head(d.ctx)
	require.NoError(t, err)
	require.Equal(t, head, last.Position, "saved when it stopped")

	next := scheduler.New(d.rt, d.codec, nil, scheduler.Options{Snapshots: d.snaps, Logger: quiet})
	n, err := next.CatchUp(d.ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, 5, next.Status().NrQueuedBuilds)
}
