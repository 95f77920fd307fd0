package eval

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"buildledger/commands/evaluation"
)

// InputKind is how an input's value is passed to the release function.
type InputKind int

// The kinds of input values.
const (
	// KindPath is a path: Hydra passes it as an attribute set
	// { outPath = <path>; rev = …; … } (builtins.storePath for store paths)
	// and adds it to the search path as <name>.
	KindPath InputKind = iota + 1
	// KindString is passed as a Nix string (--argstr).
	KindString
	// KindBool is passed as true or false; Value must be "true" or "false".
	KindBool
	// KindNix is a Nix expression passed verbatim (--arg).
	KindNix
)

// String returns the kind's name as Hydra spells the input type.
func (k InputKind) String() string {
	switch k {
	case KindPath:
		return "path"
	case KindString:
		return "string"
	case KindBool:
		return "boolean"
	case KindNix:
		return "nix"
	}
	return "InputKind(" + strconv.Itoa(int(k)) + ")"
}

// Input is one argument of the release function. It is not
// evaluation.Input, the fetched input, but how Nix receives one: InputOf
// turns the one into the other.
type Input struct {
	Kind InputKind
	// Value is the path, the string, "true"/"false" or the Nix expression.
	Value string
	// Reads are the store paths a KindNix expression refers to (through
	// builtins.storePath): restricted evaluation allows reading them.
	Reads []string
	// The attributes below are passed next to outPath for KindPath inputs,
	// each only when set, as Hydra does for fetched inputs.
	InputType string // e.g. "git", "path"
	URI       string
	Rev       string
	ShortRev  string
	RevCount  int // passed when > 0
	GitTag    string
	Version   string
}

// InputOf returns the argument a fetched input is passed as.
func InputOf(in evaluation.Input) Input {
	switch in.Arg {
	case evaluation.ArgString:
		return Input{Kind: KindString, Value: in.ArgValue}
	case evaluation.ArgBool:
		return Input{Kind: KindBool, Value: in.ArgValue}
	case evaluation.ArgNix:
		return Input{Kind: KindNix, Value: in.ArgValue, Reads: in.Reads}
	}
	e := Input{Kind: KindPath, Value: in.StorePath, InputType: in.Type, URI: in.URI, Rev: in.Revision,
		RevCount: in.RevCount}
	if in.ShortRevLength > 0 && len(in.Revision) >= in.ShortRevLength {
		e.ShortRev = in.Revision[:in.ShortRevLength]
	}
	return e
}

// Backend selects the program that evaluates.
type Backend int

// The backends.
const (
	// BackendAuto uses nix-eval-jobs when it is on PATH, else nix-instantiate.
	BackendAuto Backend = iota
	// BackendInstantiate walks the jobset with nix-instantiate and a walker
	// expression.
	BackendInstantiate
	// BackendNixEvalJobs runs nix-eval-jobs and reads its JSON lines.
	BackendNixEvalJobs
)

// Defaults applied to a zero Request field.
const (
	DefaultTimeout         = time.Hour
	DefaultMaxMemoryMB     = 4096
	DefaultMaxErrorDetails = 1000
	// DefaultNice is the nice value the evaluator's flags give Nix
	// (--eval-nice). An evaluation is batch work whose code the jobset's
	// authors control: it must not starve the web server, Postgres or the
	// builds. docs/performance.md has what it cost and gave.
	DefaultNice = 10
)

// Request describes one evaluation: either a legacy expression (NixExprInput
// and NixExprPath with Inputs) or a flake (Flake). It is evaluation.Request
// with the inputs as Nix receives them (InputOf) and the operator's
// settings (limits, backend, confinement, identity) the port leaves to the
// adapter.
type Request struct {
	// NixExprInput names the input (of KindPath) holding the expression.
	NixExprInput string
	// NixExprPath is the expression's path relative to that input.
	NixExprPath string
	// Inputs are the release function's arguments by name.
	Inputs map[string]Input

	// Flake is a flake reference; when set the flake's hydraJobs (else
	// checks) are evaluated and Inputs are ignored.
	Flake string

	// Timeout bounds the whole evaluation; the process group is killed on
	// expiry. Zero means DefaultTimeout.
	Timeout time.Duration
	// MaxMemoryMB bounds the evaluator's garbage-collected heap
	// (GC_MAXIMUM_HEAP_SIZE) and, with headroom, its address space. Zero
	// means DefaultMaxMemoryMB.
	MaxMemoryMB int
	// Nice is the nice value Nix runs at (0: the usual priority; the
	// evaluator's flags give DefaultNice). A negative value speeds an
	// evaluation up (Nix is its critical path) at the expense of
	// everything else on the machine, for the time the jobset's authors
	// choose; lowering a nice value below the evaluator's own needs
	// privilege (root, or CAP_SYS_NICE), and without it Nix keeps the
	// evaluator's priority.
	Nice int
	// MaxErrorDetails caps how many failing jobs get Nix's own error message
	// (each costs one extra nix-instantiate run). Zero means
	// DefaultMaxErrorDetails; negative means none.
	MaxErrorDetails int
	// Workers is how many Nix processes evaluate at once: the walk is split
	// into Workers shards of the top-level attributes (each process
	// evaluates the release expression itself, so this trades CPU for wall
	// time), error messages are collected Workers at a time, and it is
	// nix-eval-jobs' --workers. Zero means 1, Hydra's default.
	Workers int
	// AllowIFD allows import-from-derivation.
	AllowIFD bool
	// GCRootsDir, when set, receives one symlink per job .drv so that a
	// garbage collection cannot delete them. It must lie under
	// /nix/var/nix/gcroots for Nix to honour the links.
	GCRootsDir string
	// Backend selects the evaluating program.
	Backend Backend
	// NixBinDir is where nix-instantiate and nix live; empty means PATH.
	NixBinDir string
	// AllowedURIs are the URI prefixes a restricted evaluation may fetch
	// (Nix's allowed-uris); empty means none.
	AllowedURIs []string
	// AllowedPaths are directories a legacy evaluation may read besides
	// its inputs, e.g. the one holding the store-less busybox the test
	// jobsets build with. Each must be absolute and hold no "=".
	AllowedPaths []string
	// Identity is whom Nix runs as; the zero value is the server. Its
	// user must be able to read the expression, which lies in the store,
	// and AllowedPaths.
	Identity Identity

	// OnJob, when set, is called with each job that is not an aggregate as soon
	// as Nix has written it out, in the form Result.Jobs has it, so that the
	// caller can record jobs while Nix goes on (nix-instantiate writes through a
	// 4 KiB buffer: a job may wait for the next few to be evaluated, or for the
	// end). Calls come from one goroutine of the evaluation's own, one at a
	// time, and all of them before Evaluate returns (also when it fails). Jobs
	// wait in a queue without bound meanwhile, so OnJob may block without
	// holding up Nix, but Evaluate waits for it to return. Each attribute path
	// is passed at most once; failed jobs, aggregates (their constituents are
	// known only at the end) and the top level are never passed. It is an early
	// notice: Result is what the evaluation found, and a job passed may be
	// missing from Result.Jobs when it turns out to share its name with another
	// attribute.
	OnJob func(evaluation.Job)
}

func (r Request) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultTimeout
}

func (r Request) maxMemoryMB() int {
	if r.MaxMemoryMB > 0 {
		return r.MaxMemoryMB
	}
	return DefaultMaxMemoryMB
}

func (r Request) maxErrorDetails() int {
	switch {
	case r.MaxErrorDetails < 0:
		return 0
	case r.MaxErrorDetails == 0:
		return DefaultMaxErrorDetails
	}
	return r.MaxErrorDetails
}

func (r Request) workers() int {
	if r.Workers > 0 {
		return r.Workers
	}
	return 1
}

func (r Request) bin(name string) string {
	if r.NixBinDir == "" {
		return name
	}
	return filepath.Join(r.NixBinDir, name)
}

// validate checks the request and returns the absolute path of the legacy
// expression file ("" for flakes).
func (r Request) validate() (string, error) {
	for _, p := range r.AllowedPaths {
		if !filepath.IsAbs(p) || strings.Contains(p, "=") {
			return "", fmt.Errorf("allowed path %q must be absolute and hold no \"=\"", p)
		}
	}
	if r.Flake != "" {
		if r.NixExprInput != "" || r.NixExprPath != "" {
			return "", fmt.Errorf("request has both a flake and a Nix expression")
		}
		return "", nil
	}
	for _, name := range sortedNames(r.Inputs) {
		in := r.Inputs[name]
		if !isNixIdentifier(name) {
			return "", fmt.Errorf("input name %q is not a Nix identifier (letters, digits, _, ' and -, not starting with a digit)", name)
		}
		switch in.Kind {
		case KindPath:
			if !filepath.IsAbs(in.Value) {
				return "", fmt.Errorf("input %s: path %q is not absolute", name, in.Value)
			}
		case KindBool:
			if in.Value != "true" && in.Value != "false" {
				return "", fmt.Errorf("input %s: boolean value %q is neither true nor false", name, in.Value)
			}
		case KindString, KindNix:
		default:
			return "", fmt.Errorf("input %s: unknown kind %v", name, in.Kind)
		}
	}
	if r.NixExprInput == "" {
		return "", fmt.Errorf("request has neither a flake nor a Nix expression input")
	}
	in, ok := r.Inputs[r.NixExprInput]
	if !ok {
		return "", fmt.Errorf("nix expression input %q is not among the inputs", r.NixExprInput)
	}
	if in.Kind != KindPath {
		return "", fmt.Errorf("nix expression input %q is a %v, not a path", r.NixExprInput, in.Kind)
	}
	rel := filepath.Clean(r.NixExprPath)
	if r.NixExprPath == "" || filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("nix expression path %q must be relative and inside input %s", r.NixExprPath, r.NixExprInput)
	}
	return filepath.Join(in.Value, rel), nil
}

// sandboxArgs are the options that confine Nix. A legacy evaluation runs
// in restricted mode, as Hydra's: it reads only its inputs (each passed
// with -I), the AllowedPaths and the store paths in their closures, sees
// no environment variable and fetches only AllowedURIs. A flake is
// evaluated in pure mode, which also needs every fetch locked. readable
// are further directories Nix must read (the walker's). Each directory is
// passed as "-I dir=dir": a name starting with "/" can appear in no
// <...> lookup, so the entry only widens what may be read.
func (r Request) sandboxArgs(readable ...string) []string {
	args := []string{"--option", "restrict-eval", "true", "--option", "allowed-uris", strings.Join(r.AllowedURIs, " ")}
	if r.Flake != "" {
		return append(args, "--option", "pure-eval", "true")
	}
	for _, d := range append(readable, r.AllowedPaths...) {
		args = append(args, "-I", d+"="+d)
	}
	return args
}

// nixArgs renders the inputs as nix-instantiate / nix-eval-jobs arguments:
// -I for paths and --arg/--argstr for every input, in name order.
func (r Request) nixArgs(storeDir string) []string {
	var args []string
	for _, name := range sortedNames(r.Inputs) {
		in := r.Inputs[name]
		switch in.Kind {
		case KindPath:
			args = append(args, "-I", name+"="+in.Value, "--arg", name, pathArg(in, storeDir))
		case KindString:
			args = append(args, "--argstr", name, in.Value)
		case KindBool:
			args = append(args, "--arg", name, in.Value)
		case KindNix:
			// An entry whose name is a path allows reading it, and no
			// <…> lookup can name it.
			for _, p := range in.Reads {
				args = append(args, "-I", p+"="+p)
			}
			args = append(args, "--arg", name, "(\n"+in.Value+"\n)")
		}
	}
	return args
}

// pathArg renders a path input as Hydra's attribute set.
func pathArg(in Input, storeDir string) string {
	var b strings.Builder
	b.WriteString("{ outPath = ")
	if strings.HasPrefix(in.Value, storeDir+"/") {
		b.WriteString("builtins.storePath " + nixString(in.Value))
	} else {
		b.WriteString("/. + " + nixString(in.Value))
	}
	b.WriteString(";")
	attr := func(k, v string) {
		if v != "" {
			b.WriteString(" " + k + " = " + nixString(v) + ";")
		}
	}
	attr("inputType", in.InputType)
	attr("uri", in.URI)
	attr("rev", in.Rev)
	if in.RevCount > 0 {
		b.WriteString(" revCount = " + strconv.Itoa(in.RevCount) + ";")
	}
	attr("shortRev", in.ShortRev)
	attr("gitTag", in.GitTag)
	attr("version", in.Version)
	b.WriteString(" }")
	return b.String()
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
