package bus_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"buildledger/adapters/bus"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/events"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var quiet = bus.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}

type received struct {
	mu    sync.Mutex
	cmds  []commands.BuildStep
	calls int
}

func (r *received) handler(failFor string) commands.BuildStepHandler {
	return func(_ context.Context, c commands.BuildStep) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls++
		if c.DrvPath == failFor {
			return errors.New("builder unreachable")
		}
		r.cmds = append(r.cmds, c)
		return nil
	}
}

func (r *received) drvs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.cmds {
		out = append(out, c.DrvPath)
	}
	return out
}

func step(n string) commands.BuildStep {
	return commands.BuildStep{ID: events.NewID(time.Now()), DrvPath: "/nix/store/" + n + "-x.drv", BuildID: 7, StepNr: 1, Attempt: 1,
		Machine: "b1", MachineConfig: events.MachineConfig{URI: "ssh://b1", Systems: []string{"x86_64-linux"}, MaxJobs: 1},
		Timeout: 100, MaxSilent: 10, MaxLogSize: 1 << 20}
}

// exercise sends a command before the handler runs (kept only by a bus
// that keeps messages, keepsEarly), then a failing one and a good one.
func exercise(t *testing.T, b *bus.Bus, keepsEarly bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	early := step("a")
	require.NoError(t, b.SendBuildStep(ctx, early))
	r := &received{}
	b.Handle(r.handler("/nix/store/bad-x.drv"))
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	<-b.Ready()
	last := step("c")
	require.NoError(t, b.SendBuildStep(ctx, step("bad")))
	require.NoError(t, b.SendBuildStep(ctx, last))
	want := []string{"/nix/store/c-x.drv"}
	if keepsEarly {
		want = append(want, "/nix/store/a-x.drv")
	}
	require.Eventually(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.calls == len(want)+4
	}, 20*time.Second, 20*time.Millisecond, "one try and three retries for the failing command")
	require.ElementsMatch(t, want, r.drvs(), "the failing one dropped after retries")
	r.mu.Lock()
	require.Contains(t, r.cmds, last, "the command travels whole")
	r.mu.Unlock()
	cancel()
	require.NoError(t, <-done)
}

// TestGoChannel: the in-process bus drops a command sent before its
// handler subscribed (the dispatch lease sends it again, see
// commands/reactors/scheduler TestLostCommandRedeliveredByLease).
func TestGoChannel(t *testing.T) {
	b := bus.NewGoChannel(quiet)
	defer b.Close()
	exercise(t, b, false)
}

// TestGoChannelKeepsNothing: commands published with no handler, and
// commands delivered, are not kept: the heap does not grow with them
// (watermill's persistent mode kept every message for the life of the
// process).
func TestGoChannelKeepsNothing(t *testing.T) {
	const n, size = 256, 256 << 10 // 64 MiB of commands
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	grown := func(before uint64) uint64 {
		if after := heap(); after > before {
			return after - before
		}
		return 0
	}
	big := func(i int) commands.BuildStep {
		c := step(strconv.Itoa(i))
		c.DrvPath = "/nix/store/" + strings.Repeat("x", size) + ".drv"
		return c
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := bus.NewGoChannel(quiet)
	defer b.Close()
	before := heap()
	for i := range n {
		require.NoError(t, b.SendBuildStep(ctx, big(i)))
	}
	require.Less(t, grown(before), uint64(8<<20), "commands sent without a handler are kept")

	var got atomic.Int64
	b.Handle(func(context.Context, commands.BuildStep) error { got.Add(1); return nil })
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	<-b.Ready()
	before = heap()
	for i := range n {
		require.NoError(t, b.SendBuildStep(ctx, big(i)))
	}
	require.Eventually(t, func() bool { return got.Load() == n }, 20*time.Second, 10*time.Millisecond)
	require.Less(t, grown(before), uint64(8<<20), "delivered commands are kept")
	cancel()
	require.NoError(t, <-done)
}

func TestPostgres(t *testing.T) {
	pool := pgtest.NewPool(t)
	b, err := bus.NewPostgres(context.Background(), pool, quiet)
	require.NoError(t, err)
	defer b.Close()
	exercise(t, b, true)
	var tables []string
	rows, err := pool.Query(context.Background(), `select table_schema || '.' || table_name from information_schema.tables
		where table_name like 'watermill%' order by 1`)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		tables = append(tables, s)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"bus.watermill_build_steps", "bus.watermill_offsets_build_steps"}, tables)
}

// TestPostgresNotifies: every command sent on the Postgres bus notifies
// the topic's channel, which wakes idle subscribers; buses set up at the
// same time (the queue runner and workers starting together) install
// the trigger once.
func TestPostgresNotifies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.NewPool(t)
	buses := make([]*bus.Bus, 3)
	var g errgroup.Group
	for i := range buses {
		g.Go(func() (err error) {
			buses[i], err = bus.NewPostgres(ctx, pool, quiet)
			return err
		})
	}
	require.NoError(t, g.Wait())
	for _, b := range buses {
		defer b.Close()
	}
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, "listen bus_"+bus.DefaultTopic)
	require.NoError(t, err)
	require.NoError(t, buses[0].SendBuildStep(ctx, step("n")))
	n, err := conn.Conn().WaitForNotification(ctx)
	require.NoError(t, err)
	require.Equal(t, "bus_"+bus.DefaultTopic, n.Channel)
	var triggers int
	require.NoError(t, pool.QueryRow(ctx, `select count(*) from pg_trigger where tgname = 'notify_new_message'`).Scan(&triggers))
	require.Equal(t, 1, triggers)
}

func TestRunWithoutHandler(t *testing.T) {
	b := bus.NewGoChannel(quiet)
	defer b.Close()
	require.Error(t, b.Run(context.Background()))
}

// BenchmarkPostgresLatency sends one command at a time on the Postgres
// bus and waits until the handler has it: the delay a dispatched step
// waits before its worker starts it, when the worker was idle.
func BenchmarkPostgresLatency(b *testing.B) {
	pool := pgtest.NewPool(b)
	bs, err := bus.NewPostgres(context.Background(), pool, quiet)
	require.NoError(b, err)
	defer bs.Close()
	got := make(chan struct{})
	bs.Handle(func(context.Context, commands.BuildStep) error {
		got <- struct{}{}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bs.Run(ctx) }()
	<-bs.Ready()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		require.NoError(b, bs.SendBuildStep(ctx, step(strconv.Itoa(i))))
		<-got
		// The worker has gone idle again, as it has between the steps
		// of a dependency chain.
		time.Sleep(50 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64((time.Since(start)-time.Duration(b.N)*50*time.Millisecond).Microseconds())/1000/float64(b.N), "ms/command")
	cancel()
	require.NoError(b, <-done)
}
