package jobset

import (
	"math"
	"reflect"
	"testing"
	"time"

	"buildledger/domain/domainerr"
	"buildledger/domain/domaintest"
	"buildledger/domain/project"
	"buildledger/events"

	"github.com/stretchr/testify/require"
)

func legacy() events.JobsetConfig {
	return events.JobsetConfig{
		Type: TypeLegacy, NixExprInput: "src", NixExprPath: "release.nix",
		Enabled: Enabled, KeepNr: 3, CheckInterval: 300, SchedulingShares: 100,
		Inputs: []events.JobsetInput{
			{Name: "src", Type: "git", Value: "https://example.org/src.git main"},
			{Name: "nixpkgs", Type: "path", Value: "/tmp/nixpkgs"},
		},
	}
}

func flake() events.JobsetConfig {
	return events.JobsetConfig{Type: TypeFlake, Flake: "github:NixOS/hydra", Enabled: Enabled, SchedulingShares: 1}
}

// sorted returns cfg with the inputs in name order, as Normalize makes them.
func sorted(cfg events.JobsetConfig) events.JobsetConfig {
	c, err := Normalize("x", cfg)
	if err != nil {
		panic(err)
	}
	return c
}

func with(f func(*events.JobsetConfig)) events.JobsetConfig {
	c := legacy()
	f(&c)
	return c
}

var proj = project.State{Exists: true, Name: "p", CreatedAt: events.At(1)}

func created(name string, id int64, cfg events.JobsetConfig, pos uint64) State {
	return EvolveAt(State{}, &events.JobsetCreated{Project: "p", Name: name, ID: id, JobsetConfig: sorted(cfg)}, events.At(pos))
}

// at is a jobset and its project, the state a jobset decision reads.
type at struct {
	s State
	p project.State
}

func TestDecide(t *testing.T) {
	now := time.Unix(1700000000, 0)
	existing := created("j", 7, legacy(), 2)
	disabled := created("j", 7, with(func(c *events.JobsetConfig) { c.Enabled = Disabled }), 2)
	deleted := Evolve(existing, &events.JobsetDeleted{Project: "p", Name: "j"})
	stale := created("j", 7, legacy(), 2)
	recreatedProject := project.State{Exists: true, Name: "p", CreatedAt: events.At(5)}
	changed := with(func(c *events.JobsetConfig) { c.Description = "nightly" })

	domaintest.Decide(t, func(s at, c Command) ([]events.Payload, error) { return Decide(s.s, s.p, c, now) }, []domaintest.Case[at, Command]{
		{Name: "create legacy", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7, Config: legacy()},
			Want: []events.Payload{&events.JobsetCreated{Project: "p", Name: "j", ID: 7, JobsetConfig: sorted(legacy())}}},
		{Name: "create flake", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7, Config: flake()},
			Want: []events.Payload{&events.JobsetCreated{Project: "p", Name: "j", ID: 7, JobsetConfig: flake()}}},
		{Name: "create renamed", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j2", ID: 7, Config: legacy(), RenamedFrom: "j"},
			Want: []events.Payload{&events.JobsetCreated{Project: "p", Name: "j2", ID: 7, RenamedFrom: "j", JobsetConfig: sorted(legacy())}}},
		{Name: "create after delete", State: at{deleted, proj}, Cmd: Create{Project: "p", Name: "j", ID: 8, Config: legacy()},
			Want: []events.Payload{&events.JobsetCreated{Project: "p", Name: "j", ID: 8, JobsetConfig: sorted(legacy())}}},
		{Name: "create over jobset of deleted project incarnation", State: at{stale, recreatedProject}, Cmd: Create{Project: "p", Name: "j", ID: 8, Config: legacy()},
			Want: []events.Payload{&events.JobsetCreated{Project: "p", Name: "j", ID: 8, JobsetConfig: sorted(legacy())}}},
		{Name: "create existing", State: at{existing, proj}, Cmd: Create{Project: "p", Name: "j", ID: 8, Config: legacy()}, Err: domainerr.ErrAlreadyExists},
		{Name: "create without project", State: at{State{}, project.State{}}, Cmd: Create{Project: "p", Name: "j", ID: 7, Config: legacy()}, Err: domainerr.ErrNotFound},
		{Name: "create bad name", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "9j", ID: 7, Config: legacy()}, Err: domainerr.ErrInvalid, Field: "name"},
		{Name: "create no id", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", Config: legacy()}, Err: domainerr.ErrInvalid, Field: "id"},
		{Name: "create declarative generator", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: ".jobsets", ID: 7,
			Config: events.JobsetConfig{Enabled: Enabled, SchedulingShares: 100}},
			Want: []events.Payload{&events.JobsetCreated{Project: "p", Name: ".jobsets", ID: 7, JobsetConfig: events.JobsetConfig{Enabled: Enabled, SchedulingShares: 100}}}},

		{Name: "legacy without expression input", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.NixExprInput = "" })}, Err: domainerr.ErrInvalid, Field: "nixExprInput"},
		{Name: "legacy expression input not an input", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.NixExprInput = "other" })}, Err: domainerr.ErrInvalid, Field: "nixExprInput"},
		{Name: "legacy absolute path", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.NixExprPath = "/etc/x.nix" })}, Err: domainerr.ErrInvalid, Field: "nixExprPath"},
		{Name: "legacy dotdot path", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.NixExprPath = "../x.nix" })}, Err: domainerr.ErrInvalid, Field: "nixExprPath"},
		{Name: "legacy with flake", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.Flake = "github:a/b" })}, Err: domainerr.ErrInvalid, Field: "flake"},
		{Name: "flake with expression input", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: func() events.JobsetConfig { c := flake(); c.NixExprInput = "src"; return c }()}, Err: domainerr.ErrInvalid, Field: "nixExprInput"},
		{Name: "flake with expression path", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: func() events.JobsetConfig { c := flake(); c.NixExprPath = "x.nix"; return c }()}, Err: domainerr.ErrInvalid, Field: "nixExprPath"},
		{Name: "flake with inputs", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: func() events.JobsetConfig { c := flake(); c.Inputs = legacy().Inputs; return c }()}, Err: domainerr.ErrInvalid, Field: "inputs"},
		{Name: "flake empty", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: func() events.JobsetConfig { c := flake(); c.Flake = ""; return c }()}, Err: domainerr.ErrInvalid, Field: "flake"},
		{Name: "flake not starting with letter", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: func() events.JobsetConfig { c := flake(); c.Flake = "/x"; return c }()}, Err: domainerr.ErrInvalid, Field: "flake"},
		{Name: "bad type", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.Type = 2 })}, Err: domainerr.ErrInvalid, Field: "type"},
		{Name: "zero shares", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.SchedulingShares = 0 })}, Err: domainerr.ErrInvalid, Field: "schedulingShares"},
		{Name: "negative check interval", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.CheckInterval = -1 })}, Err: domainerr.ErrInvalid, Field: "checkInterval"},
		{Name: "check interval of 1 s", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.CheckInterval = 1 })}, Err: domainerr.ErrInvalid, Field: "checkInterval"},
		{Name: "check interval just below the minimum", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.CheckInterval = MinCheckInterval - 1 })}, Err: domainerr.ErrInvalid, Field: "checkInterval"},
		{Name: "update to a check interval of 1 s", State: at{existing, proj}, Cmd: Update{Project: "p", Name: "j",
			Config: with(func(c *events.JobsetConfig) { c.CheckInterval = 1 })}, Err: domainerr.ErrInvalid, Field: "checkInterval"},
		{Name: "negative keepnr", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.KeepNr = -1 })}, Err: domainerr.ErrInvalid, Field: "keepNr"},
		{Name: "enabled 4", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.Enabled = 4 })}, Err: domainerr.ErrInvalid, Field: "enabled"},
		{Name: "enabled -1", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.Enabled = -1 })}, Err: domainerr.ErrInvalid, Field: "enabled"},
		{Name: "bad input name", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) {
				c.Inputs = append(c.Inputs, events.JobsetInput{Name: "1x", Type: "string"})
			})}, Err: domainerr.ErrInvalid, Field: "inputs"},
		{Name: "duplicate input", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) {
				c.Inputs = append(c.Inputs, events.JobsetInput{Name: "src", Type: "string"})
			})}, Err: domainerr.ErrInvalid, Field: "inputs.src"},
		{Name: "unknown input type", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) {
				c.Inputs = append(c.Inputs, events.JobsetInput{Name: "t", Type: "tarball"})
			})}, Err: domainerr.ErrInvalid, Field: "inputs.t.type"},
		{Name: "known but unsupported input type", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) {
				c.Inputs = append(c.Inputs, events.JobsetInput{Name: "pr", Type: "bitbucketpulls", Value: "o r"})
			})}, Err: domainerr.ErrInvalid, Field: "inputs.pr.type"},
		{Name: "forge input whose names would leave the API path", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) {
				c.Inputs = append(c.Inputs, events.JobsetInput{Name: "pr", Type: "githubpulls", Value: "o ../../user"})
			})}, Err: domainerr.ErrInvalid, Field: "inputs.pr.value"},
		{Name: "gitlab input without a number", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) {
				c.Inputs = append(c.Inputs, events.JobsetInput{Name: "pr", Type: "gitlabpulls", Value: "https://gitlab.example"})
			})}, Err: domainerr.ErrInvalid, Field: "inputs.pr.value"},
		{Name: "update to an unsupported input type", State: at{existing, proj}, Cmd: Update{Project: "p", Name: "j",
			Config: with(func(c *events.JobsetConfig) {
				c.Inputs = append(c.Inputs, events.JobsetInput{Name: "h", Type: "bzr", Value: "https://example.org/r"})
			})}, Err: domainerr.ErrInvalid, Field: "inputs.h.type"},
		{Name: "bad boolean", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) {
				c.Inputs = append(c.Inputs, events.JobsetInput{Name: "b", Type: "boolean", Value: "yes"})
			})}, Err: domainerr.ErrInvalid, Field: "inputs.b.value"},
		{Name: "bad eval ref", State: at{State{}, proj}, Cmd: Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) {
				c.Inputs = append(c.Inputs, events.JobsetInput{Name: "e", Type: "eval", Value: "p/j"})
			})}, Err: domainerr.ErrInvalid, Field: "inputs.e.value"},

		{Name: "update", State: at{existing, proj}, Cmd: Update{Project: "p", Name: "j", Config: changed},
			Want: []events.Payload{&events.JobsetUpdated{Project: "p", Name: "j", JobsetConfig: sorted(changed)}}},
		{Name: "update inputs", State: at{existing, proj}, Cmd: Update{Project: "p", Name: "j",
			Config: with(func(c *events.JobsetConfig) { c.Inputs = c.Inputs[:1] })},
			Want: []events.Payload{&events.JobsetUpdated{Project: "p", Name: "j", JobsetConfig: with(func(c *events.JobsetConfig) { c.Inputs = c.Inputs[:1] })}}},
		{Name: "update unchanged in other input order", State: at{existing, proj}, Cmd: Update{Project: "p", Name: "j", Config: legacy()}},
		{Name: "update missing", State: at{State{}, proj}, Cmd: Update{Project: "p", Name: "j", Config: legacy()}, Err: domainerr.ErrNotFound},
		{Name: "update of deleted project's jobset", State: at{stale, recreatedProject}, Cmd: Update{Project: "p", Name: "j", Config: changed}, Err: domainerr.ErrNotFound},
		{Name: "update invalid", State: at{existing, proj}, Cmd: Update{Project: "p", Name: "j",
			Config: with(func(c *events.JobsetConfig) { c.SchedulingShares = -5 })}, Err: domainerr.ErrInvalid, Field: "schedulingShares"},

		{Name: "delete", State: at{existing, proj}, Cmd: Delete{Project: "p", Name: "j"}, Want: []events.Payload{&events.JobsetDeleted{Project: "p", Name: "j"}}},
		{Name: "delete by rename", State: at{existing, proj}, Cmd: Delete{Project: "p", Name: "j", RenamedTo: "k"},
			Want: []events.Payload{&events.JobsetDeleted{Project: "p", Name: "j", RenamedTo: "k"}}},
		{Name: "delete missing", State: at{deleted, proj}, Cmd: Delete{Project: "p", Name: "j"}, Err: domainerr.ErrNotFound},
		{Name: "delete with project gone", State: at{existing, project.State{}}, Cmd: Delete{Project: "p", Name: "j"}, Err: domainerr.ErrNotFound},

		{Name: "request evaluation", State: at{existing, proj}, Cmd: RequestEvaluation{Project: "p", Name: "j", Reason: "push", Force: true},
			Want: []events.Payload{&events.EvaluationRequested{Project: "p", Jobset: "j", Reason: "push", Force: true, At: 1700000000}}},
		{Name: "request evaluation of disabled", State: at{disabled, proj}, Cmd: RequestEvaluation{Project: "p", Name: "j", Reason: "ui"}, Err: domainerr.ErrConflict},
		{Name: "request evaluation of missing", State: at{State{}, proj}, Cmd: RequestEvaluation{Project: "p", Name: "j", Reason: "ui"}, Err: domainerr.ErrNotFound},
		{Name: "request evaluation bad reason", State: at{existing, proj}, Cmd: RequestEvaluation{Project: "p", Name: "j", Reason: "whim"}, Err: domainerr.ErrInvalid, Field: "reason"},
	})
}

func TestCheckRename(t *testing.T) {
	from := created("j", 7, legacy(), 2)
	c, d, err := CheckRename(from, State{}, proj, "k")
	require.NoError(t, err)
	require.Equal(t, Create{Project: "p", Name: "k", ID: 7, Config: from.Config, RenamedFrom: "j"}, c)
	require.Equal(t, Delete{Project: "p", Name: "j", RenamedTo: "k"}, d)

	_, _, err = CheckRename(from, created("k", 8, legacy(), 3), proj, "k")
	require.ErrorIs(t, err, domainerr.ErrAlreadyExists)
	_, _, err = CheckRename(from, State{}, proj, "j")
	require.ErrorIs(t, err, domainerr.ErrInvalid)
	_, _, err = CheckRename(from, State{}, proj, "bad/name")
	require.ErrorIs(t, err, domainerr.ErrInvalid)
	_, _, err = CheckRename(State{}, State{}, proj, "k")
	require.ErrorIs(t, err, domainerr.ErrNotFound)
	_, _, err = CheckRename(from, State{}, project.State{}, "k")
	require.ErrorIs(t, err, domainerr.ErrNotFound)
}

func TestMove(t *testing.T) {
	from := created("j", 7, legacy(), 2)
	c, d, err := Move(from, proj, "q")
	require.NoError(t, err)
	require.Equal(t, &events.JobsetCreated{Project: "q", Name: "j", ID: 7, RenamedFrom: "j", RenamedFromProject: "p", JobsetConfig: from.Config}, c)
	require.Equal(t, &events.JobsetDeleted{Project: "p", Name: "j", RenamedTo: "j", RenamedToProject: "q"}, d)

	_, _, err = Move(from, project.State{Exists: true, Name: "p", CreatedAt: events.At(9)}, "q")
	require.ErrorIs(t, err, domainerr.ErrNotFound, "a jobset of an earlier incarnation stays behind")

	// The new stream may hold a jobset of the new name's earlier
	// incarnation: the moved jobset does not inherit its evaluations.
	stale := Evolve(created("j", 3, legacy(), 1), &events.EvaluationOpened{EvalID: 5})
	require.NotNil(t, stale.Open)
	moved := EvolveAt(stale, c, events.At(10))
	require.True(t, moved.Exists)
	require.Equal(t, int64(7), moved.ID)
	require.Nil(t, moved.Open)
}

func TestEvolve(t *testing.T) {
	s := created("j", 7, legacy(), 4)
	require.True(t, s.Exists)
	require.Equal(t, int64(7), s.ID)
	require.Equal(t, events.At(4), s.CreatedAt)
	s = Evolve(s, &events.EvaluationRequested{Project: "p", Jobset: "j", At: 99})
	require.Equal(t, int64(99), s.LastRequest)
	s = Evolve(s, &events.JobsetUpdated{Project: "p", Name: "j", JobsetConfig: flake()})
	require.Equal(t, flake(), s.Config)
	s = Evolve(s, &events.JobsetDeleted{Project: "p", Name: "j", RenamedTo: "k"})
	require.False(t, s.Exists)
	require.Equal(t, "k", s.RenamedTo)
}

func TestLive(t *testing.T) {
	j := created("j", 7, legacy(), 4)
	require.True(t, Live(j, project.State{Exists: true, CreatedAt: events.At(1)}))
	require.False(t, Live(j, project.State{Exists: true, CreatedAt: events.At(9)}), "project recreated after the jobset")
	require.False(t, Live(j, project.State{}))
	require.True(t, Live(Evolve(State{}, &events.JobsetCreated{Name: "j"}), project.State{Exists: true, CreatedAt: events.At(9)}), "positions unknown")
}

// TestEqualConfigCoversAllFields fails when JobsetConfig grows a field
// that EqualConfig does not compare.
func TestEqualConfigCoversAllFields(t *testing.T) {
	require.Equal(t, 15, reflect.TypeFor[events.JobsetConfig]().NumField(), "update EqualConfig for the new field")
	a := sorted(legacy())
	v := reflect.ValueOf(&a).Elem()
	for i := range v.NumField() {
		b := sorted(legacy())
		f := reflect.ValueOf(&b).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Int:
			f.SetInt(f.Int() + 1)
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.Float64:
			f.SetFloat(f.Float() + 0.5)
		case reflect.Slice:
			f.Set(reflect.Zero(f.Type()))
		}
		require.False(t, EqualConfig(a, b), "field %s", v.Type().Field(i).Name)
	}
	require.True(t, EqualConfig(a, sorted(legacy())))
}

func TestCheckIntervalMinimum(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval int
		ok       bool
		polled   int
	}{
		{"no polling", 0, true, 0},
		{"the minimum", MinCheckInterval, true, MinCheckInterval},
		{"Hydra's default", 300, true, 300},
		{"one second", 1, false, MinCheckInterval},
		{"just below", MinCheckInterval - 1, false, MinCheckInterval},
		{"negative", -5, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := legacy()
			cfg.CheckInterval = tc.interval
			_, err := Normalize("j", cfg)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, domainerr.ErrInvalid)
				require.ErrorContains(t, err, "at least 60 seconds")
			}
			// An old event may hold any of them: it is polled at this
			// interval.
			require.Equal(t, tc.polled, EffectiveCheckInterval(tc.interval))
		})
	}
}

func TestVerifyFractionRange(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    float64
		ok   bool
	}{
		{"off", 0, true},
		{"a tenth", 0.1, true},
		{"all", 1, true},
		{"negative", -0.1, false},
		{"above one", 1.5, false},
		{"not a number", math.NaN(), false},
		{"infinite", math.Inf(1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := legacy()
			cfg.VerifyFraction = tc.f
			_, err := Normalize("j", cfg)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, domainerr.ErrInvalid)
			require.ErrorContains(t, err, "between 0 and 1")
		})
	}
}
