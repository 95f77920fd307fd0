package commands_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/domain/machinesfile"
	"buildledger/events"
)

// TestSyncMachines: a machines file's machines become the registered
// ones: new ones registered, changed ones updated, missing ones removed,
// and a second sync of the same file records nothing.
func TestSyncMachines(t *testing.T) {
	ctx := context.Background()
	rt, _ := newRuntime(t, commands.Options{})
	h := commands.NewHandlers(rt, nil, nil)
	md := events.Metadata{Actor: "component:test"}
	m := func(name string, jobs int) machinesfile.Machine {
		return machinesfile.Machine{Name: name, MachineConfig: events.MachineConfig{URI: "ssh://" + name,
			Systems: []string{"x86_64-linux"}, MaxJobs: jobs, SpeedFactor: 1, Enabled: true}}
	}
	for _, tt := range []struct {
		name string
		want []machinesfile.Machine
		n    int
	}{
		{"register", []machinesfile.Machine{m("a", 1), m("b", 1)}, 2},
		{"same again", []machinesfile.Machine{m("a", 1), m("b", 1)}, 0},
		{"update one, remove one, add one", []machinesfile.Machine{m("a", 4), m("c", 1)}, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n, err := h.SyncMachines(ctx, md, tt.want)
			require.NoError(t, err)
			require.Equal(t, tt.n, n)
			have, err := h.Machines(ctx)
			require.NoError(t, err)
			require.Equal(t, tt.want, have)
		})
	}
}
