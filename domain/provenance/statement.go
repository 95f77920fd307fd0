package provenance

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The URIs that name what a statement is.
const (
	// StatementType is in-toto's Statement v1.
	StatementType = "https://in-toto.io/Statement/v1"
	// PredicateType is SLSA Provenance v1.
	PredicateType = "https://slsa.dev/provenance/v1"
	// BuildType names buildledger's build of a Nix derivation, whose
	// parameters docs/provenance.md describes. Its version changes with
	// their meaning.
	BuildType = "https://buildledger.dev/provenance/nix-build/v1"
)

// Output is one output path of the build with its recorded NAR hash.
type Output struct {
	Name    string
	Path    string
	NarHash string
}

// Input is one input of the evaluation that queued the build.
type Input struct {
	Name      string
	AltNr     int
	Type      string
	URI       string
	Revision  string
	Value     string
	StorePath string
	SHA256    string
}

// Dependency is a store path the derivation needs: an input source, or an
// output of an input derivation. NarHash is "" when the log does not
// record one.
type Dependency struct {
	Kind    string // "source", or "output" of the derivation Drv
	Path    string
	Drv     string
	Output  string
	NarHash string
}

// Run is the step attempt that built the derivation.
type Run struct {
	Machine   string
	BuildID   int64
	StepNr    int
	Attempt   int
	StartTime int64
	StopTime  int64
}

// Build is everything a statement says about one build, as the log
// recorded it.
type Build struct {
	BuildID  int64
	EvalID   int64
	Project  string
	Jobset   string
	Job      string
	DrvPath  string
	System   string
	Outputs  []Output
	Inputs   []Input
	Deps     []Dependency
	Run      Run
	Finished int64 // BuildFinished.StopTime
	// Positions are the log positions of the events the statement
	// summarises.
	Positions []uint64
}

// The statement's JSON shape. Structs, not maps, keep the field order
// fixed; the only map (a digest) has one key.
type (
	statement struct {
		Type          string    `json:"_type"`
		Subject       []subject `json:"subject"`
		PredicateType string    `json:"predicateType"`
		Predicate     predicate `json:"predicate"`
	}
	subject struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	}
	predicate struct {
		BuildDefinition buildDefinition `json:"buildDefinition"`
		RunDetails      runDetails      `json:"runDetails"`
	}
	buildDefinition struct {
		BuildType            string               `json:"buildType"`
		ExternalParameters   externalParameters   `json:"externalParameters"`
		InternalParameters   internalParameters   `json:"internalParameters"`
		ResolvedDependencies []resourceDescriptor `json:"resolvedDependencies"`
	}
	externalParameters struct {
		Project    string      `json:"project"`
		Jobset     string      `json:"jobset"`
		Job        string      `json:"job"`
		Evaluation int64       `json:"evaluation"`
		Inputs     []inputJSON `json:"inputs"`
	}
	inputJSON struct {
		Name      string `json:"name"`
		AltNr     int    `json:"altNr,omitempty"`
		Type      string `json:"type"`
		URI       string `json:"uri,omitempty"`
		Revision  string `json:"revision,omitempty"`
		Value     string `json:"value,omitempty"`
		StorePath string `json:"storePath,omitempty"`
		SHA256    string `json:"sha256,omitempty"`
	}
	internalParameters struct {
		System string `json:"system"`
	}
	resourceDescriptor struct {
		Name        string            `json:"name"`
		URI         string            `json:"uri"`
		Digest      map[string]string `json:"digest,omitempty"`
		Annotations *annotations      `json:"annotations,omitempty"`
	}
	annotations struct {
		Kind   string `json:"kind"`
		Drv    string `json:"drv,omitempty"`
		Output string `json:"output,omitempty"`
	}
	runDetails struct {
		Builder    builder     `json:"builder"`
		Metadata   metadata    `json:"metadata"`
		Byproducts []byproduct `json:"byproducts"`
	}
	builder struct {
		ID string `json:"id"`
	}
	metadata struct {
		InvocationID string `json:"invocationId"`
		StartedOn    string `json:"startedOn"`
		FinishedOn   string `json:"finishedOn"`
	}
	// byproduct is a ResourceDescriptor naming the ledger events the
	// statement summarises, by their log positions.
	byproduct struct {
		Name        string            `json:"name"`
		URI         string            `json:"uri"`
		Annotations ledgerAnnotations `json:"annotations"`
	}
	ledgerAnnotations struct {
		Positions []uint64 `json:"positions"`
	}
)

// ErrIncomplete is returned for a build the log does not describe well
// enough for a statement: no output with a NAR hash, or no step run.
var ErrIncomplete = errors.New("provenance: build not fully recorded")

// Statement returns the in-toto statement of b as JSON. The same b gives
// the same bytes: lists are sorted here, whatever order b has them in.
func Statement(b Build) ([]byte, error) {
	if len(b.Outputs) == 0 || b.Run.Machine == "" {
		return nil, fmt.Errorf("build %d: %w", b.BuildID, ErrIncomplete)
	}
	outs := slices.Clone(b.Outputs)
	slices.SortFunc(outs, func(x, y Output) int { return strings.Compare(x.Path, y.Path) })
	st := statement{Type: StatementType, PredicateType: PredicateType}
	for _, o := range outs {
		d, err := SHA256Hex(o.NarHash)
		if err != nil {
			return nil, fmt.Errorf("build %d: output %s: %w", b.BuildID, o.Name, err)
		}
		st.Subject = append(st.Subject, subject{Name: o.Path, Digest: map[string]string{"sha256": d}})
	}
	def := &st.Predicate.BuildDefinition
	def.BuildType = BuildType
	def.ExternalParameters = externalParameters{Project: b.Project, Jobset: b.Jobset, Job: b.Job, Evaluation: b.EvalID,
		Inputs: []inputJSON{}}
	ins := slices.Clone(b.Inputs)
	slices.SortFunc(ins, func(x, y Input) int {
		if c := strings.Compare(x.Name, y.Name); c != 0 {
			return c
		}
		return cmp.Compare(x.AltNr, y.AltNr)
	})
	for _, in := range ins {
		def.ExternalParameters.Inputs = append(def.ExternalParameters.Inputs, inputJSON(in))
	}
	def.InternalParameters.System = b.System
	def.ResolvedDependencies = []resourceDescriptor{{Name: b.DrvPath, URI: b.DrvPath, Annotations: &annotations{Kind: "derivation"}}}
	for _, o := range outs {
		def.ResolvedDependencies = append(def.ResolvedDependencies, resourceDescriptor{Name: o.Path, URI: o.Path,
			Annotations: &annotations{Kind: "output", Drv: b.DrvPath, Output: o.Name}})
	}
	deps := slices.Clone(b.Deps)
	slices.SortFunc(deps, func(x, y Dependency) int { return strings.Compare(x.Path, y.Path) })
	deps = slices.CompactFunc(deps, func(x, y Dependency) bool { return x.Path == y.Path })
	for _, d := range deps {
		rd := resourceDescriptor{Name: d.Path, URI: d.Path, Annotations: &annotations{Kind: d.Kind, Drv: d.Drv, Output: d.Output}}
		if d.NarHash != "" {
			h, err := SHA256Hex(d.NarHash)
			if err != nil {
				return nil, fmt.Errorf("build %d: dependency %s: %w", b.BuildID, d.Path, err)
			}
			rd.Digest = map[string]string{"sha256": h}
		}
		def.ResolvedDependencies = append(def.ResolvedDependencies, rd)
	}
	pos := slices.Clone(b.Positions)
	slices.Sort(pos)
	st.Predicate.RunDetails = runDetails{
		Builder: builder{ID: b.Run.Machine},
		Metadata: metadata{
			InvocationID: fmt.Sprintf("build/%d/step/%d/attempt/%d", b.Run.BuildID, b.Run.StepNr, b.Run.Attempt),
			StartedOn:    rfc3339(b.Run.StartTime),
			FinishedOn:   rfc3339(b.Run.StopTime),
		},
	}
	st.Predicate.RunDetails.Byproducts = []byproduct{{Name: "ledger", URI: "buildledger:build/" + strconv.FormatInt(b.BuildID, 10) + "/events",
		Annotations: ledgerAnnotations{Positions: slices.Compact(pos)}}}
	out, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("build %d: encode statement: %w", b.BuildID, err)
	}
	return out, nil
}

// rfc3339 formats Unix seconds as UTC RFC 3339, as SLSA's timestamps are.
func rfc3339(sec int64) string { return time.Unix(sec, 0).UTC().Format(time.RFC3339) }
