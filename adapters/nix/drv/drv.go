// Package drv reads Nix store derivations (.drv files) and walks their input
// closures to find what still has to be built. It also wraps the nix-store
// command line for the store queries the evaluator and builders need.
package drv

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/nix-community/go-nix/pkg/derivation"
)

// Derivation is the part of a parsed .drv file that buildledger uses.
type Derivation struct {
	// Path is the store path of the .drv file (as named in the store, not the
	// file system location it was read from).
	Path string
	// Outputs maps each output name to its store path. The path is empty for
	// content-addressed floating or deferred outputs.
	Outputs map[string]string
	// FixedOutputs holds the hash algorithm and hash of fixed-output
	// (or content-addressed) outputs, keyed by output name.
	FixedOutputs map[string]FixedOutput
	// InputDrvs maps each input derivation path to the output names used.
	InputDrvs map[string][]string
	// InputSrcs are the input sources (plain store paths), sorted.
	InputSrcs []string
	// System is the platform the derivation builds on, e.g. "x86_64-linux".
	System string
	// Builder is the program run to build.
	Builder string
	// Args are the builder's arguments.
	Args []string
	// Env is the builder's environment.
	Env map[string]string
	// RequiredSystemFeatures come from the env attribute
	// requiredSystemFeatures (space separated), sorted.
	RequiredSystemFeatures []string
	// PreferLocalBuild is true when env preferLocalBuild is "1".
	PreferLocalBuild bool
}

// FixedOutput is the declared hash of a fixed-output derivation output.
type FixedOutput struct {
	// HashAlgo is the method and algorithm as in the .drv, e.g. "r:sha256".
	HashAlgo string
	// Hash is the hex digest; empty for floating content-addressed outputs.
	Hash string
}

// Read parses the .drv file at path. The file is read from the file system at
// exactly that path; use a Reader with a Root to read from a chroot store.
func Read(path string) (*Derivation, error) {
	return readFile(path, path)
}

func readFile(storePath, file string) (*Derivation, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read derivation %s: %w", storePath, err)
	}
	defer f.Close()
	d, err := derivation.ReadDerivation(f)
	if err != nil {
		return nil, fmt.Errorf("parse derivation %s: %w", storePath, err)
	}
	return fromGoNix(storePath, d), nil
}

// fromGoNix converts go-nix's derivation. go-nix's parser leaves the
// builder, arguments and environment names as they are written in the .drv
// file, with \n, \t, \r, \" and \\ still escaped (a builder script of
// several lines would reach the machine as one line with literal "\n"), so
// they are unescaped here; it unescapes environment values itself, which
// must not be unescaped again (a JSON value would lose its backslashes).
//
// Every string is copied: go-nix's point into the file's bytes, so keeping
// any one of them kept the whole file. An evaluation's planner, which keeps
// the path of every input it has seen, held the file of nearly every
// derivation it read: 67 MB of up's 303 MB live heap at 33,000 jobs.
func fromGoNix(path string, d *derivation.Derivation) *Derivation {
	own := strings.Clone
	out := &Derivation{
		Path:      path,
		Outputs:   make(map[string]string, len(d.Outputs)),
		InputDrvs: make(map[string][]string, len(d.InputDerivations)),
		InputSrcs: make([]string, len(d.InputSources)),
		System:    own(unescapeATerm(d.Platform)),
		Builder:   own(unescapeATerm(d.Builder)),
		Args:      make([]string, len(d.Arguments)),
		Env:       make(map[string]string, len(d.Env)),
	}
	for in, names := range d.InputDerivations {
		kept := make([]string, len(names))
		for i, n := range names {
			kept[i] = own(n)
		}
		out.InputDrvs[own(in)] = kept
	}
	for i, p := range d.InputSources {
		out.InputSrcs[i] = own(p)
	}
	for i, a := range d.Arguments {
		out.Args[i] = own(unescapeATerm(a))
	}
	for k, v := range d.Env {
		out.Env[own(unescapeATerm(k))] = own(v)
	}
	for name, o := range d.Outputs {
		out.Outputs[own(name)] = own(o.Path)
		if o.HashAlgorithm != "" {
			if out.FixedOutputs == nil {
				out.FixedOutputs = map[string]FixedOutput{}
			}
			out.FixedOutputs[name] = FixedOutput{HashAlgo: own(o.HashAlgorithm), Hash: own(o.Hash)}
		}
	}
	if f := strings.Fields(out.Env["requiredSystemFeatures"]); len(f) > 0 {
		sort.Strings(f)
		out.RequiredSystemFeatures = f
	}
	out.PreferLocalBuild = out.Env["preferLocalBuild"] == "1"
	return out
}

// OutputPaths returns the known output paths, sorted.
func (d *Derivation) OutputPaths() []string {
	paths := make([]string, 0, len(d.Outputs))
	for _, p := range d.Outputs {
		if p != "" {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	return paths
}

// OutputNames returns the output names, sorted.
func (d *Derivation) OutputNames() []string {
	names := make([]string, 0, len(d.Outputs))
	for n := range d.Outputs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// InputDrvPaths returns the input derivation paths, sorted.
func (d *Derivation) InputDrvPaths() []string {
	paths := make([]string, 0, len(d.InputDrvs))
	for p := range d.InputDrvs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// IsFixedOutput reports whether the derivation has a single fixed-output "out".
func (d *Derivation) IsFixedOutput() bool {
	f, ok := d.FixedOutputs["out"]
	return ok && len(d.Outputs) == 1 && f.Hash != ""
}

// unescapeATerm undoes the escaping of an ATerm string.
func unescapeATerm(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
