// Package declarative holds the rules of Hydra's declarative projects: how
// a project's spec file (spec.json, or the output of a `jobsets` job) is
// read into jobset configurations, and what a spec changes in the
// project's jobsets.
//
// A spec is a JSON object. When every value is an object it is static:
// each key names a jobset and its value is that jobset's specification.
// Otherwise the object is itself a jobset specification: the
// configuration of the generator jobset ".jobsets", whose single job
// `jobsets` builds the static spec (Hydra's "generated" declarative
// projects).
package declarative

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"buildledger/domain/domainerr"
	"buildledger/domain/jobset"
	"buildledger/domain/names"
	"buildledger/events"
)

// MaxSpecBytes bounds a spec file: it is read whole into memory, and its
// author is a project owner, not the operator.
const MaxSpecBytes = 4 << 20

// DefaultMaxJobsets is the default cap on the jobsets one spec may
// declare. Every jobset adds streams to a log that is never trimmed and
// is polled by the evaluator; a spec generated from a forge's open pull
// requests grows with them.
const DefaultMaxJobsets = 500

// Actor returns the actor of the events a project's declarative source
// causes: "declarative:<project>". No user or token name holds a colon,
// so no person acts under it.
func Actor(project string) string { return "declarative:" + project }

// Spec is a parsed spec file: Static when it declares the project's
// jobsets, else Generator, the configuration of ".jobsets".
type Spec struct {
	// Static maps jobset names to their configurations; nil for a
	// generator spec.
	Static map[string]events.JobsetConfig
	// Generator is the configuration of ".jobsets" for a generated
	// project, not yet checked by the jobset rules: that is done once
	// the inputs Hydra adds are there (jobset.Normalize).
	Generator events.JobsetConfig
}

// Parse reads a spec file. It fails on JSON that is not an object, on
// unknown keys, and on a jobset configuration Hydra's rules refuse
// (jobset.Normalize), with an ErrInvalid error naming the jobset.
func Parse(data []byte) (Spec, error) {
	if len(data) > MaxSpecBytes {
		return Spec{}, domainerr.Invalid("spec", "the spec is %d bytes, more than the %d allowed", len(data), MaxSpecBytes)
	}
	var top map[string]json.RawMessage
	if err := strictDecode(data, &top); err != nil || top == nil {
		return Spec{}, domainerr.Invalid("spec", "the spec is not a JSON object: %v", err)
	}
	static := true
	for _, v := range top {
		if b := bytes.TrimSpace(v); len(b) == 0 || b[0] != '{' {
			static = false
			break
		}
	}
	if !static {
		// The generator's configuration is checked once it has the
		// inputs declInput and projectName, which it may name as its
		// Nix expression's input.
		cfg, err := jobsetFields(names.DeclarativeJobset, top)
		return Spec{Generator: cfg}, err
	}
	out := make(map[string]events.JobsetConfig, len(top))
	for _, name := range sortedKeys(top) {
		var fields map[string]json.RawMessage
		if err := strictDecode(top[name], &fields); err != nil {
			return Spec{}, domainerr.Invalid("spec."+name, "%v", err)
		}
		if name == names.DeclarativeJobset {
			return Spec{}, domainerr.Invalid("spec."+name, "a spec cannot declare the generator jobset %q", name)
		}
		if err := jobset.ValidateName(name); err != nil {
			return Spec{}, err
		}
		cfg, err := Jobset(name, fields)
		if err != nil {
			return Spec{}, err
		}
		out[name] = cfg
	}
	return Spec{Static: out}, nil
}

// ParseJobsets reads the output of a generator's `jobsets` job, which
// must be a static spec.
func ParseJobsets(data []byte) (map[string]events.JobsetConfig, error) {
	s, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if s.Static == nil {
		return nil, domainerr.Invalid("spec", "the jobsets job's output is not an object of jobset specifications")
	}
	return s.Static, nil
}

// Jobset turns one jobset specification, with Hydra's keys, into the
// configuration of jobset name. Missing keys take the defaults of
// Hydra's Jobsets table.
func Jobset(name string, fields map[string]json.RawMessage) (events.JobsetConfig, error) {
	cfg, err := jobsetFields(name, fields)
	if err != nil {
		return cfg, err
	}
	norm, err := jobset.Normalize(name, cfg)
	if err != nil {
		return cfg, fmt.Errorf("spec.%s: %w", name, err)
	}
	return norm, nil
}

// jobsetFields is Jobset without the jobset rules' check.
func jobsetFields(name string, fields map[string]json.RawMessage) (events.JobsetConfig, error) {
	cfg := events.JobsetConfig{Enabled: jobset.Enabled, EnableEmail: true, KeepNr: 3, CheckInterval: 300, SchedulingShares: 100}
	field := "spec." + name
	for _, k := range sortedKeys(fields) {
		v := fields[k]
		var err error
		switch k {
		case "enabled":
			cfg.Enabled, err = integer(v)
		case "hidden":
			cfg.Hidden, err = boolean(v)
		case "type":
			cfg.Type, err = integer(v)
		case "flake":
			cfg.Flake, err = text(v)
		case "description":
			cfg.Description, err = text(v)
		case "nixexprinput":
			cfg.NixExprInput, err = text(v)
		case "nixexprpath":
			cfg.NixExprPath, err = text(v)
		case "checkinterval":
			cfg.CheckInterval, err = integer(v)
		case "schedulingshares":
			cfg.SchedulingShares, err = integer(v)
		case "enableemail":
			cfg.EnableEmail, err = boolean(v)
		case "emailoverride":
			cfg.EmailOverride, err = text(v)
		case "keepnr":
			cfg.KeepNr, err = integer(v)
		case "enable_dynamic_run_command":
			var on bool
			if on, err = boolean(v); err == nil && on {
				err = fmt.Errorf("dynamic RunCommand is not supported")
			}
		case "inputs":
			cfg.Inputs, err = inputs(v)
		default:
			err = fmt.Errorf("unknown key %q", k)
		}
		if err != nil {
			return cfg, domainerr.Invalid(field+"."+k, "%v", err)
		}
	}
	// Hydra clears the other type's fields.
	if cfg.Type == jobset.TypeFlake {
		cfg.NixExprInput, cfg.NixExprPath, cfg.Inputs = "", "", nil
	} else {
		cfg.Flake = ""
	}
	return cfg, nil
}

func inputs(v json.RawMessage) ([]events.JobsetInput, error) {
	var m map[string]json.RawMessage
	if err := strictDecode(v, &m); err != nil {
		return nil, fmt.Errorf("inputs: %w", err)
	}
	out := make([]events.JobsetInput, 0, len(m))
	for _, name := range sortedKeys(m) {
		var in struct {
			Type             json.RawMessage `json:"type"`
			Value            json.RawMessage `json:"value"`
			EmailResponsible json.RawMessage `json:"emailresponsible"`
		}
		dec := json.NewDecoder(bytes.NewReader(m[name]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			return nil, fmt.Errorf("input %q: %w", name, err)
		}
		x := events.JobsetInput{Name: name}
		var err error
		if x.Type, err = text(in.Type); err != nil {
			return nil, fmt.Errorf("input %q type: %w", name, err)
		}
		if x.Value, err = text(in.Value); err != nil {
			return nil, fmt.Errorf("input %q value: %w", name, err)
		}
		if len(in.EmailResponsible) > 0 {
			if x.EmailResponsible, err = boolean(in.EmailResponsible); err != nil {
				return nil, fmt.Errorf("input %q emailresponsible: %w", name, err)
			}
		}
		out = append(out, x)
	}
	return out, nil
}

// strictDecode decodes one JSON value and refuses trailing data.
func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("data after the JSON value")
	}
	return nil
}

// text reads a string; null is "" (Perl's undef), and a number is its
// decimal form, as Perl would stringify it.
func text(v json.RawMessage) (string, error) {
	var x any
	if err := json.Unmarshal(v, &x); err != nil {
		return "", err
	}
	switch t := x.(type) {
	case nil:
		return "", nil
	case string:
		return t, nil
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("want a string, not %s", strings.TrimSpace(string(v)))
}

// integer reads a whole number, given as a number, a numeric string or a
// Boolean (Perl's JSON reads true as 1).
func integer(v json.RawMessage) (int, error) {
	var x any
	if err := json.Unmarshal(v, &x); err != nil {
		return 0, err
	}
	switch t := x.(type) {
	case float64:
		if t != math.Trunc(t) || math.Abs(t) > math.MaxInt32 {
			return 0, fmt.Errorf("%v is not a whole number", t)
		}
		return int(t), nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number", t)
		}
		return int(n), nil
	case bool:
		if t {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("want a number, not %s", strings.TrimSpace(string(v)))
}

// boolean reads a Boolean, given as true/false, 0/1 or "0"/"1"/"true"/
// "false", the forms Hydra's Perl accepts as such.
func boolean(v json.RawMessage) (bool, error) {
	var x any
	if err := json.Unmarshal(v, &x); err != nil {
		return false, err
	}
	switch t := x.(type) {
	case bool:
		return t, nil
	case float64:
		if t == 0 || t == 1 {
			return t == 1, nil
		}
	case string:
		switch t {
		case "0", "false", "":
			return false, nil
		case "1", "true":
			return true, nil
		}
	}
	return false, fmt.Errorf("want a Boolean, not %s", strings.TrimSpace(string(v)))
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
