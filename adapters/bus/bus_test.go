package bus_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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

func exercise(t *testing.T, b *bus.Bus) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Sent before the handler runs: kept.
	first := step("a")
	require.NoError(t, b.SendBuildStep(ctx, first))
	r := &received{}
	b.Handle(r.handler("/nix/store/bad-x.drv"))
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	require.NoError(t, b.SendBuildStep(ctx, step("bad")))
	require.NoError(t, b.SendBuildStep(ctx, step("c")))
	require.Eventually(t, func() bool { return len(r.drvs()) == 2 }, 20*time.Second, 20*time.Millisecond)
	require.ElementsMatch(t, []string{"/nix/store/a-x.drv", "/nix/store/c-x.drv"}, r.drvs(), "the failing one dropped after retries")
	require.Eventually(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.calls == 2+4
	}, 20*time.Second, 20*time.Millisecond, "one try and three retries for the failing command")
	r.mu.Lock()
	require.Contains(t, r.cmds, first, "the command travels whole")
	r.mu.Unlock()
	cancel()
	require.NoError(t, <-done)
}

func TestGoChannel(t *testing.T) {
	b := bus.NewGoChannel(quiet)
	defer b.Close()
	exercise(t, b)
}

func TestPostgres(t *testing.T) {
	pool := pgtest.NewPool(t)
	b, err := bus.NewPostgres(context.Background(), pool, quiet)
	require.NoError(t, err)
	defer b.Close()
	exercise(t, b)
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

func TestRunWithoutHandler(t *testing.T) {
	b := bus.NewGoChannel(quiet)
	defer b.Close()
	require.Error(t, b.Run(context.Background()))
}
