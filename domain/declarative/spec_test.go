package declarative_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"buildledger/domain/declarative"
	"buildledger/domain/domainerr"
	"buildledger/domain/jobset"
	"buildledger/domain/project"
	"buildledger/events"
)

const staticSpec = `{
  "main": {"enabled": 1, "hidden": false, "description": "Main", "nixexprinput": "src", "nixexprpath": "release.nix",
    "checkinterval": 300, "schedulingshares": 100, "enableemail": false, "enable_dynamic_run_command": false,
    "emailoverride": "", "keepnr": 3,
    "inputs": {"src": {"type": "git", "value": "https://example.org/r.git main", "emailresponsible": false}}},
  "flaky": {"type": 1, "flake": "github:o/r", "enabled": "0", "hidden": 1, "nixexprinput": "ignored"}
}`

func TestParseStatic(t *testing.T) {
	s, err := declarative.Parse([]byte(staticSpec))
	require.NoError(t, err)
	require.Len(t, s.Static, 2)
	assert.Equal(t, events.JobsetConfig{Description: "Main", NixExprInput: "src", NixExprPath: "release.nix",
		Enabled: jobset.Enabled, KeepNr: 3, CheckInterval: 300, SchedulingShares: 100,
		Inputs: []events.JobsetInput{{Name: "src", Type: "git", Value: "https://example.org/r.git main"}}}, s.Static["main"])
	assert.Equal(t, events.JobsetConfig{Type: jobset.TypeFlake, Flake: "github:o/r", Hidden: true, EnableEmail: true,
		KeepNr: 3, CheckInterval: 300, SchedulingShares: 100}, s.Static["flaky"], "Hydra's defaults, the other type's fields cleared")
}

func TestParseGenerator(t *testing.T) {
	s, err := declarative.Parse([]byte(`{"enabled": 1, "nixexprinput": "src", "nixexprpath": "jobsets.nix",
		"checkinterval": 60, "inputs": {"src": {"type": "path", "value": "/srv/x"}, "name": {"type": "string", "value": "o r"}}}`))
	require.NoError(t, err)
	assert.Nil(t, s.Static)
	assert.Equal(t, "jobsets.nix", s.Generator.NixExprPath)
	assert.Len(t, s.Generator.Inputs, 2)
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct{ name, spec string }{
		{"not an object", `[1, 2]`},
		{"not JSON", `{"a": `},
		{"trailing data", `{} {}`},
		{"unknown key", `{"j": {"nixexprinput": "s", "nixexprpath": "r.nix", "inputs": {"s": {"type": "git", "value": "x"}}, "colour": "red"}}`},
		{"unknown input key", `{"j": {"nixexprinput": "s", "nixexprpath": "r.nix", "inputs": {"s": {"type": "git", "value": "x", "alt": 1}}}}`},
		{"bad jobset name", `{"-j": {"nixexprinput": "s", "nixexprpath": "r.nix", "inputs": {"s": {"type": "git", "value": "x"}}}}`},
		{"declares the generator", `{".jobsets": {"nixexprinput": "s", "nixexprpath": "r.nix", "inputs": {"s": {"type": "git", "value": "x"}}}}`},
		{"path escapes", `{"j": {"nixexprinput": "s", "nixexprpath": "../../etc/x.nix", "inputs": {"s": {"type": "git", "value": "x"}}}}`},
		{"expr input missing", `{"j": {"nixexprinput": "t", "nixexprpath": "r.nix", "inputs": {"s": {"type": "git", "value": "x"}}}}`},
		{"unknown input type", `{"j": {"nixexprinput": "s", "nixexprpath": "r.nix", "inputs": {"s": {"type": "cvs", "value": "x"}}}}`},
		{"dynamic run command", `{"j": {"enable_dynamic_run_command": true, "nixexprinput": "s", "nixexprpath": "r.nix", "inputs": {"s": {"type": "git", "value": "x"}}}}`},
		{"fractional number", `{"j": {"keepnr": 1.5, "nixexprinput": "s", "nixexprpath": "r.nix", "inputs": {"s": {"type": "git", "value": "x"}}}}`},
		{"check interval too short", `{"j": {"checkinterval": 1, "nixexprinput": "s", "nixexprpath": "r.nix", "inputs": {"s": {"type": "git", "value": "x"}}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := declarative.Parse([]byte(tc.spec))
			require.ErrorIs(t, err, domainerr.ErrInvalid)
		})
	}
	_, err := declarative.ParseJobsets([]byte(`{"enabled": 1, "nixexprinput": "s", "nixexprpath": "r.nix", "inputs": {"s": {"type": "git", "value": "x"}}}`))
	require.ErrorIs(t, err, domainerr.ErrInvalid, "a jobsets job must output a static spec")
}

func TestPlan(t *testing.T) {
	cfg := func(desc string) events.JobsetConfig {
		return events.JobsetConfig{Description: desc, Enabled: jobset.Enabled, SchedulingShares: 100}
	}
	gone := cfg("old")
	gone.Enabled, gone.Hidden = jobset.Disabled, true
	current := map[string]events.JobsetConfig{"same": cfg("s"), "changed": cfg("before"), "dropped": cfg("d"), "gone": gone, ".jobsets": {}}
	want := map[string]events.JobsetConfig{"same": cfg("s"), "changed": cfg("after"), "new": cfg("n")}
	dropped := cfg("d")
	dropped.Enabled, dropped.Hidden = jobset.Disabled, true
	got, err := declarative.Plan(current, want, 10)
	require.NoError(t, err)
	assert.Equal(t, []declarative.Action{
		{Kind: declarative.Update, Name: "changed", Config: cfg("after")},
		{Kind: declarative.Disable, Name: "dropped", Config: dropped},
		{Kind: declarative.Create, Name: "new", Config: cfg("n")},
	}, got, "the generator and a jobset already disabled and hidden are left alone")

	_, err = declarative.Plan(nil, want, 2)
	require.ErrorIs(t, err, domainerr.ErrInvalid, "more jobsets than the cap")
}

func TestMayEdit(t *testing.T) {
	decl := project.State{Exists: true, Name: "p", Config: events.ProjectConfig{DeclFile: "spec.json", DeclType: "git", DeclValue: "x"}}
	require.ErrorIs(t, declarative.MayEdit(decl, "user:alice"), domainerr.ErrForbidden)
	require.ErrorIs(t, declarative.MayEdit(decl, declarative.Actor("q")), domainerr.ErrForbidden, "another project's source")
	require.NoError(t, declarative.MayEdit(decl, declarative.Actor("p")))
	require.NoError(t, declarative.MayEdit(project.State{Exists: true, Name: "p"}, "user:alice"))
}

// FuzzParse: any bytes either parse into configurations jobset.Normalize
// accepts unchanged, or fail with ErrInvalid; never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(staticSpec))
	f.Add([]byte(`{"enabled": 1, "nixexprinput": "s", "nixexprpath": "r.nix", "inputs": {"s": {"type": "git", "value": "x"}}}`))
	f.Add([]byte(`{"a": {}, "b": 1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := declarative.Parse(data)
		if err != nil {
			require.ErrorIs(t, err, domainerr.ErrInvalid)
			return
		}
		for name, c := range s.Static {
			n, err := jobset.Normalize(name, c)
			require.NoError(t, err)
			require.True(t, jobset.EqualConfig(n, c))
		}
	})
}

// TestParseGeneratorNamesDeclInput: a generator may evaluate the spec's
// own input, declInput, which Hydra adds to it: the spec is not refused
// for naming an input it does not list.
func TestParseGeneratorNamesDeclInput(t *testing.T) {
	s, err := declarative.Parse([]byte(`{"enabled": 1, "nixexprinput": "declInput", "nixexprpath": "jobsets.nix"}`))
	require.NoError(t, err)
	assert.Equal(t, "declInput", s.Generator.NixExprInput)
}
