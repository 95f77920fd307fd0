package commands_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/events"
)

// TestDynamicRunCommandNeedsServerAndProject: as Hydra, a project may
// enable dynamic RunCommand hooks only when hydra.conf's
// dynamicruncommand does, and a jobset only when its project does too.
func TestDynamicRunCommandNeedsServerAndProject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, server := range []bool{false, true} {
		_, _, h, admin := withAlice(t, commands.Options{DynamicRunCommand: server})
		plain := events.ProjectConfig{DisplayName: "P", Owner: "alice", Enabled: true}
		enabled := plain
		enabled.EnableDynamicRunCommand = true
		js := legacyJobset()
		js.EnableDynamicRunCommand = true

		_, err := h.CreateProject(ctx, admin, commands.CreateProject{Name: "p", Config: enabled})
		if !server {
			require.ErrorIs(t, err, domainerr.ErrInvalid)
			require.ErrorContains(t, err, "Dynamic RunCommand is not enabled by the server.")
			_, err = h.CreateProject(ctx, admin, commands.CreateProject{Name: "p", Config: plain})
			require.NoError(t, err)
			_, err = h.UpdateProject(ctx, admin, commands.UpdateProject{Name: "p", Config: enabled})
			require.ErrorIs(t, err, domainerr.ErrInvalid)
			_, err = h.CreateJobset(ctx, admin, commands.CreateJobset{Project: "p", Name: "j", Config: js})
			require.ErrorContains(t, err, "not enabled by the server or the parent project")
			continue
		}
		require.NoError(t, err)
		_, err = h.CreateProject(ctx, admin, commands.CreateProject{Name: "q", Config: plain})
		require.NoError(t, err)
		_, err = h.CreateJobset(ctx, admin, commands.CreateJobset{Project: "q", Name: "j", Config: js})
		require.ErrorContains(t, err, "not enabled by the server or the parent project", "the project does not enable it")
		_, err = h.CreateJobset(ctx, admin, commands.CreateJobset{Project: "p", Name: "j", Config: js})
		require.NoError(t, err)
		_, err = h.UpdateJobset(ctx, admin, commands.UpdateJobset{Project: "p", Name: "j", Config: js})
		require.NoError(t, err)
	}
}
