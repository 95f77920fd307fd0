package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBuildActionConflicts: a build action the build's state refuses
// answers 409 with the domain's reason, whether the read model already
// shows that state or still lags behind the build's stream. Before, the
// web's own check on the read model gave the first answer and the domain
// the second (422).
func TestBuildActionConflicts(t *testing.T) {
	restart1 := func(e *env) {
		_, err := e.h.RestartBuild(e.ctx, e.md(), 1)
		require.NoError(e.t, err)
	}
	cancel3 := func(e *env) {
		_, err := e.h.CancelBuild(e.ctx, e.md(), 3)
		require.NoError(e.t, err)
	}
	tests := []struct {
		name string
		// behind, if set, changes the build's stream while the read
		// model stays as it was, which then shows readModel.
		behind    func(e *env)
		readModel string
		path      string
		want      string
	}{
		{"restart unfinished", nil, "", "/build/3/restart", "build 3 has not finished"},
		{"restart unfinished, read model behind", restart1, `"finished":1`, "/build/1/restart", "build 1 has not finished"},
		{"cancel finished", nil, "", "/build/1/cancel", "build 1 has already finished"},
		{"cancel finished, read model behind", cancel3, `"finished":0`, "/build/3/cancel", "build 3 has already finished"},
		{"bump finished", nil, "", "/build/1/bump", "build 1 has already finished"},
		{"bump finished, read model behind", cancel3, `"finished":0`, "/build/3/bump", "build 3 has already finished"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOpts{})
			admin := e.as("admin")
			if tt.behind != nil {
				e.stalled = true
				tt.behind(e)
				build := tt.path[:len("/build/1")]
				require.Contains(t, admin.do("GET", build, nil).body, tt.readModel, "the read model is behind")
			}
			res := admin.do("POST", tt.path, nil)
			require.Equal(t, http.StatusConflict, res.code, res.body)
			require.JSONEq(t, `{"error":"conflict: `+tt.want+`"}`, res.body, "the domain's answer")
		})
	}
}

// TestEvalActionSkipsConflicts: a build that left the state an eval
// action picked it for, after the read model saw it, is skipped instead
// of failing the whole action.
func TestEvalActionSkipsConflicts(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.as("admin")
	e.stalled = true
	_, err := e.h.CancelBuild(e.ctx, e.md(), 3)
	require.NoError(t, err)
	require.Contains(t, admin.do("GET", "/build/3", nil).body, `"finished":0`, "the read model is behind")

	res := admin.do("POST", "/eval/1/cancel", nil)
	require.Equal(t, http.StatusOK, res.code, res.body)
	require.JSONEq(t, `{"count":0,"redirect":"/eval/1"}`, res.body, "build 3, the only unfinished one, was cancelled meanwhile")
}
