package remotebuilder_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/commands/reactors/scheduler"
	"buildledger/domain/adhoc"
	"buildledger/domain/user"
	"buildledger/events"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// sender stands in for the command bus: it keeps what it is given.
type sender struct {
	mu   sync.Mutex
	sent []commands.BuildStep
}

func (s *sender) SendBuildStep(_ context.Context, c commands.BuildStep) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, c)
	return nil
}

// TestAdhocSharesSplitDispatches: two users submit 50 ad-hoc builds each,
// through the command the remote-builder port and POST /api/build use;
// their jobsets have 100 and 300 scheduling shares. On one slot, with
// every step taking 10 s, the dispatches recorded in the log go 1:3 for
// as long as both have work queued, and each StepDispatched carries the
// share used that decided it.
func TestAdhocSharesSplitDispatches(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	store := pglog.New(pool, pglog.Options{})
	codec := events.NewCodec()
	now := time.Unix(1_800_000_000, 0)
	rt := commands.NewRuntime(store, codec, commands.Options{Clock: commands.ClockFunc(func() time.Time { return now })})
	h := commands.NewHandlers(rt, commands.NewAllocator(rt, commands.AllocatorOptions{}), postgres.NewVault(pool))
	md := events.Metadata{Actor: "component:test"}

	for _, u := range []commands.CreateUser{
		{UserName: "admin", Type: user.TypeGitHub, EmailAddress: "admin@localhost", Roles: []string{user.RoleAdmin}},
		{UserName: "light", Type: user.TypeGitHub, EmailAddress: "light@localhost", Roles: []string{user.RoleSubmitBuilds}},
		{UserName: "heavy", Type: user.TypeGitHub, EmailAddress: "heavy@localhost", Roles: []string{user.RoleSubmitBuilds}},
	} {
		_, err := h.CreateUser(ctx, md, u)
		require.NoError(t, err)
	}
	_, err := h.RegisterMachine(ctx, md, commands.RegisterMachine{Name: "b1", Config: events.MachineConfig{
		URI: "ssh://b1", Systems: []string{"x86_64-linux"}, MaxJobs: 1, SpeedFactor: 1, Enabled: true}})
	require.NoError(t, err)

	jobsetOf := map[int64]string{}
	for i := range 50 {
		for k, u := range []string{"light", "heavy"} {
			d := fmt.Sprintf("/nix/store/%d%031d-%s-%d.drv", k, i, u, i)
			o := []events.Output{{Name: "out", Path: strings.TrimSuffix(d, ".drv")}}
			id, err := h.SubmitAdhocBuild(ctx, events.Metadata{Actor: commands.UserActor(u)}, commands.SubmitAdhocBuild{
				UserName: u, Via: adhoc.ViaSSH, DrvPath: d, System: "x86_64-linux", Outputs: o,
				Steps: []events.StepQueued{{DrvPath: d, System: "x86_64-linux", Outputs: o}}, Paths: []string{d}})
			require.NoError(t, err)
			jobsetOf[id] = u
		}
		if i == 0 {
			// The jobsets exist once each user submitted: give heavy
			// three times light's shares.
			cfg := adhoc.JobsetConfig("heavy")
			cfg.SchedulingShares = 300
			_, err := h.UpdateJobset(ctx, md, commands.UpdateJobset{Project: adhoc.Project, Name: "heavy", Config: cfg})
			require.NoError(t, err)
		}
	}

	bus := &sender{}
	s := scheduler.New(rt, codec, bus, scheduler.Options{})
	var order []string
	for len(order) < 100 {
		// A pass that records a finished build may dispatch on the next.
		dispatched := 0
		for pass := 0; dispatched == 0 && pass < 5; pass++ {
			_, err := s.CatchUp(ctx)
			require.NoError(t, err)
			res, err := s.Pass(ctx)
			require.NoError(t, err)
			dispatched = res.Dispatched
		}
		require.Equal(t, 1, dispatched, "one slot, one dispatch at a time (after %d)", len(order))
		c := bus.sent[len(bus.sent)-1]
		order = append(order, jobsetOf[c.BuildID])
		start := now.Unix()
		_, err := h.StartStep(ctx, md, events.StepStarted{DrvPath: c.DrvPath, BuildID: c.BuildID, StepNr: c.StepNr,
			Attempt: c.Attempt, Machine: c.Machine, StartTime: start})
		require.NoError(t, err)
		now = now.Add(10 * time.Second)
		_, err = h.FinishStep(ctx, md, events.StepFinished{DrvPath: c.DrvPath, BuildID: c.BuildID, StepNr: c.StepNr,
			Attempt: c.Attempt, Machine: c.Machine, Status: 0, StartTime: start, StopTime: now.Unix()})
		require.NoError(t, err)
	}

	// While both have work queued (heavy's 50 are gone after about 66
	// dispatches), every run of four dispatches holds one of light's.
	heavyDone := 0
	for i, u := range order {
		if u == "heavy" {
			heavyDone++
			if heavyDone == 50 {
				order = order[:i+1]
				break
			}
		}
	}
	t.Logf("dispatch order: %v", order)
	for i := 0; i+4 <= len(order)-2; i += 4 {
		light := 0
		for _, u := range order[i : i+4] {
			if u == "light" {
				light++
			}
		}
		require.Equal(t, 1, light, "dispatches %d-%d: %v", i+1, i+4, order[i:i+4])
	}

	// The log has the order and its reasons.
	recs, err := store.ReadAll(ctx, events.Start, 100000)
	require.NoError(t, err)
	var reasons []events.DispatchReason
	for _, r := range recs {
		if r.Type != "StepDispatched" {
			continue
		}
		p, err := codec.Decode(r)
		require.NoError(t, err)
		reasons = append(reasons, p.(*events.StepDispatched).Reason)
	}
	require.Len(t, reasons, 100)
	require.Positive(t, reasons[10].ShareUsed, "the share used that decided is recorded")
}
