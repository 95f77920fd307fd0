package jobset

import (
	"reflect"
	"testing"
	"time"

	"buildledger/domain/domainerr"
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

func TestDecide(t *testing.T) {
	now := time.Unix(1700000000, 0)
	existing := created("j", 7, legacy(), 2)
	disabled := created("j", 7, with(func(c *events.JobsetConfig) { c.Enabled = Disabled }), 2)
	deleted := Evolve(existing, events.JobsetDeleted{Project: "p", Name: "j"})
	stale := created("j", 7, legacy(), 2)
	recreatedProject := project.State{Exists: true, Name: "p", CreatedAt: events.At(5)}
	changed := with(func(c *events.JobsetConfig) { c.Description = "nightly" })

	tests := []struct {
		name    string
		state   State
		proj    project.State
		cmd     Command
		want    []events.Payload
		wantErr error
		field   string
	}{
		{"create legacy", State{}, proj, Create{Project: "p", Name: "j", ID: 7, Config: legacy()},
			[]events.Payload{events.JobsetCreated{Project: "p", Name: "j", ID: 7, JobsetConfig: sorted(legacy())}}, nil, ""},
		{"create flake", State{}, proj, Create{Project: "p", Name: "j", ID: 7, Config: flake()},
			[]events.Payload{events.JobsetCreated{Project: "p", Name: "j", ID: 7, JobsetConfig: flake()}}, nil, ""},
		{"create renamed", State{}, proj, Create{Project: "p", Name: "j2", ID: 7, Config: legacy(), RenamedFrom: "j"},
			[]events.Payload{events.JobsetCreated{Project: "p", Name: "j2", ID: 7, RenamedFrom: "j", JobsetConfig: sorted(legacy())}}, nil, ""},
		{"create after delete", deleted, proj, Create{Project: "p", Name: "j", ID: 8, Config: legacy()},
			[]events.Payload{events.JobsetCreated{Project: "p", Name: "j", ID: 8, JobsetConfig: sorted(legacy())}}, nil, ""},
		{"create over jobset of deleted project incarnation", stale, recreatedProject, Create{Project: "p", Name: "j", ID: 8, Config: legacy()},
			[]events.Payload{events.JobsetCreated{Project: "p", Name: "j", ID: 8, JobsetConfig: sorted(legacy())}}, nil, ""},
		{"create existing", existing, proj, Create{Project: "p", Name: "j", ID: 8, Config: legacy()}, nil, domainerr.ErrAlreadyExists, ""},
		{"create without project", State{}, project.State{}, Create{Project: "p", Name: "j", ID: 7, Config: legacy()}, nil, domainerr.ErrNotFound, ""},
		{"create bad name", State{}, proj, Create{Project: "p", Name: "9j", ID: 7, Config: legacy()}, nil, domainerr.ErrInvalid, "name"},
		{"create no id", State{}, proj, Create{Project: "p", Name: "j", Config: legacy()}, nil, domainerr.ErrInvalid, "id"},
		{"create declarative generator", State{}, proj, Create{Project: "p", Name: ".jobsets", ID: 7,
			Config: events.JobsetConfig{Enabled: Enabled, SchedulingShares: 100}},
			[]events.Payload{events.JobsetCreated{Project: "p", Name: ".jobsets", ID: 7, JobsetConfig: events.JobsetConfig{Enabled: Enabled, SchedulingShares: 100}}}, nil, ""},

		{"legacy without expression input", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.NixExprInput = "" })}, nil, domainerr.ErrInvalid, "nixExprInput"},
		{"legacy expression input not an input", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.NixExprInput = "other" })}, nil, domainerr.ErrInvalid, "nixExprInput"},
		{"legacy absolute path", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.NixExprPath = "/etc/x.nix" })}, nil, domainerr.ErrInvalid, "nixExprPath"},
		{"legacy dotdot path", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.NixExprPath = "../x.nix" })}, nil, domainerr.ErrInvalid, "nixExprPath"},
		{"legacy with flake", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.Flake = "github:a/b" })}, nil, domainerr.ErrInvalid, "flake"},
		{"flake with expression input", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: func() events.JobsetConfig { c := flake(); c.NixExprInput = "src"; return c }()}, nil, domainerr.ErrInvalid, "nixExprInput"},
		{"flake with expression path", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: func() events.JobsetConfig { c := flake(); c.NixExprPath = "x.nix"; return c }()}, nil, domainerr.ErrInvalid, "nixExprPath"},
		{"flake with inputs", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: func() events.JobsetConfig { c := flake(); c.Inputs = legacy().Inputs; return c }()}, nil, domainerr.ErrInvalid, "inputs"},
		{"flake empty", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: func() events.JobsetConfig { c := flake(); c.Flake = ""; return c }()}, nil, domainerr.ErrInvalid, "flake"},
		{"flake not starting with letter", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: func() events.JobsetConfig { c := flake(); c.Flake = "/x"; return c }()}, nil, domainerr.ErrInvalid, "flake"},
		{"bad type", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.Type = 2 })}, nil, domainerr.ErrInvalid, "type"},
		{"zero shares", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.SchedulingShares = 0 })}, nil, domainerr.ErrInvalid, "schedulingShares"},
		{"negative check interval", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.CheckInterval = -1 })}, nil, domainerr.ErrInvalid, "checkInterval"},
		{"check interval of 1 s", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.CheckInterval = 1 })}, nil, domainerr.ErrInvalid, "checkInterval"},
		{"check interval just below the minimum", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.CheckInterval = MinCheckInterval - 1 })}, nil, domainerr.ErrInvalid, "checkInterval"},
		{"update to a check interval of 1 s", existing, proj, Update{Project: "p", Name: "j",
			Config: with(func(c *events.JobsetConfig) { c.CheckInterval = 1 })}, nil, domainerr.ErrInvalid, "checkInterval"},
		{"negative keepnr", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.KeepNr = -1 })}, nil, domainerr.ErrInvalid, "keepNr"},
		{"enabled 4", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.Enabled = 4 })}, nil, domainerr.ErrInvalid, "enabled"},
		{"enabled -1", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) { c.Enabled = -1 })}, nil, domainerr.ErrInvalid, "enabled"},
		{"bad input name", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) {
				c.Inputs = append(c.Inputs, events.JobsetInput{Name: "1x", Type: "string"})
			})}, nil, domainerr.ErrInvalid, "inputs"},
		{"duplicate input", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) {
				c.Inputs = append(c.Inputs, events.JobsetInput{Name: "src", Type: "string"})
			})}, nil, domainerr.ErrInvalid, "inputs.src"},
		{"unknown input type", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) {
				c.Inputs = append(c.Inputs, events.JobsetInput{Name: "t", Type: "tarball"})
			})}, nil, domainerr.ErrInvalid, "inputs.t.type"},
		{"bad boolean", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) {
				c.Inputs = append(c.Inputs, events.JobsetInput{Name: "b", Type: "boolean", Value: "yes"})
			})}, nil, domainerr.ErrInvalid, "inputs.b.value"},
		{"bad eval ref", State{}, proj, Create{Project: "p", Name: "j", ID: 7,
			Config: with(func(c *events.JobsetConfig) {
				c.Inputs = append(c.Inputs, events.JobsetInput{Name: "e", Type: "eval", Value: "p/j"})
			})}, nil, domainerr.ErrInvalid, "inputs.e.value"},

		{"update", existing, proj, Update{Project: "p", Name: "j", Config: changed},
			[]events.Payload{events.JobsetUpdated{Project: "p", Name: "j", JobsetConfig: sorted(changed)}}, nil, ""},
		{"update inputs", existing, proj, Update{Project: "p", Name: "j",
			Config: with(func(c *events.JobsetConfig) { c.Inputs = c.Inputs[:1] })},
			[]events.Payload{events.JobsetUpdated{Project: "p", Name: "j", JobsetConfig: with(func(c *events.JobsetConfig) { c.Inputs = c.Inputs[:1] })}}, nil, ""},
		{"update unchanged in other input order", existing, proj, Update{Project: "p", Name: "j", Config: legacy()}, nil, nil, ""},
		{"update missing", State{}, proj, Update{Project: "p", Name: "j", Config: legacy()}, nil, domainerr.ErrNotFound, ""},
		{"update of deleted project's jobset", stale, recreatedProject, Update{Project: "p", Name: "j", Config: changed}, nil, domainerr.ErrNotFound, ""},
		{"update invalid", existing, proj, Update{Project: "p", Name: "j",
			Config: with(func(c *events.JobsetConfig) { c.SchedulingShares = -5 })}, nil, domainerr.ErrInvalid, "schedulingShares"},

		{"delete", existing, proj, Delete{Project: "p", Name: "j"}, []events.Payload{events.JobsetDeleted{Project: "p", Name: "j"}}, nil, ""},
		{"delete by rename", existing, proj, Delete{Project: "p", Name: "j", RenamedTo: "k"},
			[]events.Payload{events.JobsetDeleted{Project: "p", Name: "j", RenamedTo: "k"}}, nil, ""},
		{"delete missing", deleted, proj, Delete{Project: "p", Name: "j"}, nil, domainerr.ErrNotFound, ""},
		{"delete with project gone", existing, project.State{}, Delete{Project: "p", Name: "j"}, nil, domainerr.ErrNotFound, ""},

		{"request evaluation", existing, proj, RequestEvaluation{Project: "p", Name: "j", Reason: "push", Force: true},
			[]events.Payload{events.EvaluationRequested{Project: "p", Jobset: "j", Reason: "push", Force: true, At: 1700000000}}, nil, ""},
		{"request evaluation of disabled", disabled, proj, RequestEvaluation{Project: "p", Name: "j", Reason: "ui"}, nil, domainerr.ErrConflict, ""},
		{"request evaluation of missing", State{}, proj, RequestEvaluation{Project: "p", Name: "j", Reason: "ui"}, nil, domainerr.ErrNotFound, ""},
		{"request evaluation bad reason", existing, proj, RequestEvaluation{Project: "p", Name: "j", Reason: "whim"}, nil, domainerr.ErrInvalid, "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decide(tt.state, tt.proj, tt.cmd, now)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				if tt.field != "" {
					var fe *domainerr.FieldError
					require.ErrorAs(t, err, &fe)
					require.Equal(t, tt.field, fe.Field)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
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

func TestEvolve(t *testing.T) {
	s := created("j", 7, legacy(), 4)
	require.True(t, s.Exists)
	require.Equal(t, int64(7), s.ID)
	require.Equal(t, events.At(4), s.CreatedAt)
	s = Evolve(s, &events.EvaluationRequested{Project: "p", Jobset: "j", At: 99})
	require.Equal(t, int64(99), s.LastRequest)
	s = Evolve(s, events.JobsetUpdated{Project: "p", Name: "j", JobsetConfig: flake()})
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
	require.True(t, Live(Evolve(State{}, events.JobsetCreated{Name: "j"}), project.State{Exists: true, CreatedAt: events.At(9)}), "positions unknown")
}

// TestEqualConfigCoversAllFields fails when JobsetConfig grows a field
// that EqualConfig does not compare.
func TestEqualConfigCoversAllFields(t *testing.T) {
	require.Equal(t, 13, reflect.TypeFor[events.JobsetConfig]().NumField(), "update EqualConfig for the new field")
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
