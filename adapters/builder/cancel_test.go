package builder_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/builder"
	"buildledger/adapters/nix/drv"
	"buildledger/commands"
	"buildledger/domain/status"
	"buildledger/events"
)

// builderPids returns the processes whose environment holds env (the
// builder of a derivation has out=<its output path>).
func builderPids(t testing.TB, env string) []int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(b, []byte{0}) {
			if string(kv) == env {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// TestSupersededStepIsKilled ends a running attempt as the scheduler does
// when its build is cancelled (StepFinished status 4): the worker notices,
// kills the local build (no builder process is left, the output is not
// built), records only the attempt's log and reports ErrSuperseded.
// Both in a chroot store (built in a sandbox) and in the machine's own
// store (built without one, where the builder outlives a SIGKILLed
// nix-store), and on an ssh:// machine, where closing the session alone
// would leave a silent build running. The next step on the machine builds
// in a new session.
func TestSupersededStepIsKilled(t *testing.T) {
	tests := []struct {
		name  string
		store string // envOptions.localStore
		ssh   bool
	}{
		{"chroot store", "", false},
		{"default store", "-", false},
		{"ssh machine", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testSuperseded(t, tt.store, tt.ssh)
		})
	}
}

func testSuperseded(t *testing.T, store string, overSSH bool) {
	e := newEnv(t, envOptions{localStore: store})
	name, m := localMachine, localhost(t)
	if overSSH {
		name = "ssh1"
		m, _ = sshMachine(t, nil)
	} else if e.local == "" {
		m.Store = ""
	}
	d := e.drvs("slow", "dep")
	parsed, err := drv.NewReader(e.local).Read(d["slow"])
	require.NoError(t, err)
	out := parsed.Outputs["out"]
	c := e.dispatch(d["slow"], name, m, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type outcome struct {
		res builder.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := e.worker.Build(ctx, c)
		done <- outcome{res, err}
	}()
	env := "out=" + out
	require.Eventually(t, func() bool { return len(builderPids(t, env)) > 0 }, time.Minute, 50*time.Millisecond, "the builder runs")

	md := commands.NewMetadata(commands.ComponentActor("scheduler"), e.rt)
	now := time.Now().Unix()
	_, err = commands.NewHandlers(e.rt, nil, nil).FinishStep(ctx, md, events.StepFinished{DrvPath: c.DrvPath, BuildID: c.BuildID, StepNr: c.StepNr,
		Machine: c.Machine, Attempt: c.Attempt, Status: int(status.Cancelled), StartTime: now, StopTime: now})
	require.NoError(t, err)

	o := <-done
	require.ErrorIs(t, o.err, builder.ErrSuperseded)
	// Well before the builder's 30 s sleep would end by itself.
	require.Eventually(t, func() bool { return len(builderPids(t, env)) == 0 }, 15*time.Second, 50*time.Millisecond,
		"no builder process is left")
	_, err = os.Stat(filepath.Join(m.Store+"/", out))
	require.ErrorIs(t, err, os.ErrNotExist, "the output was not built")

	types, data := e.stepEvents(d["slow"])
	require.Equal(t, []string{"StepQueued", "StepDispatched", "StepStarted", "StepFinished", "StepLogStored"}, types)
	var fin events.StepFinished
	require.NoError(t, json.Unmarshal(data[3], &fin))
	require.Equal(t, int(status.Cancelled), fin.Status, "the scheduler's status stands")
	require.Contains(t, e.readLog(o.res.LogStore.Location), "sleeping", "the log up to the kill is kept")

	// The killed session is not reused: the next step on the machine
	// builds, with a log of its own.
	res := e.build(d["dep"], name, m, nil)
	require.Equal(t, int(status.Success), res.Finished.Status, res.Finished.ErrorMsg)
	log := e.readLog(res.LogStore.Location)
	require.Contains(t, log, "building dep")
	require.NotContains(t, log, "sleeping")
}
