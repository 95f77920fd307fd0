package drv

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nix-community/go-nix/pkg/derivation"
)

// atermEscaper escapes a string as Nix writes it in a .drv file.
var atermEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`, "\t", `\t`, `"`, `\"`)

// toGoNix is fromGoNix's inverse. go-nix writes the platform, builder
// and environment values escaped but the arguments and environment names
// as they are, so those two are escaped here. It refuses what go-nix
// cannot render: structured attributes (the name is inside __json) and
// outputs without a path (floating content-addressed ones).
func (d *Derivation) toGoNix() (*derivation.Derivation, error) {
	if _, ok := d.Env["__json"]; ok {
		return nil, errors.New("structured attributes are not supported")
	}
	g := &derivation.Derivation{
		Outputs:          make(map[string]*derivation.Output, len(d.Outputs)),
		InputSources:     slices.Sorted(slices.Values(d.InputSrcs)),
		InputDerivations: make(map[string][]string, len(d.InputDrvs)),
		Platform:         d.System,
		Builder:          d.Builder,
		Arguments:        make([]string, len(d.Args)),
		Env:              make(map[string]string, len(d.Env)),
	}
	if g.InputSources == nil {
		g.InputSources = []string{}
	}
	for name, p := range d.Outputs {
		f := d.FixedOutputs[name]
		g.Outputs[name] = &derivation.Output{Path: p, HashAlgorithm: f.HashAlgo, Hash: f.Hash}
	}
	for p, outs := range d.InputDrvs {
		g.InputDerivations[p] = slices.Sorted(slices.Values(outs))
	}
	for i, a := range d.Args {
		g.Arguments[i] = atermEscaper.Replace(a)
	}
	for k, v := range d.Env {
		g.Env[atermEscaper.Replace(k)] = v
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("derivation: %w", err)
	}
	return g, nil
}

// ATerm renders d as the contents of its .drv file, byte for byte as Nix
// writes it, and returns the store path those contents make.
func (d *Derivation) ATerm() ([]byte, string, error) {
	g, err := d.toGoNix()
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	if err := g.WriteDerivation(&buf); err != nil {
		return nil, "", fmt.Errorf("render derivation: %w", err)
	}
	p, err := g.DrvPath()
	if err != nil {
		return nil, "", fmt.Errorf("derivation path: %w", err)
	}
	return buf.Bytes(), p, nil
}

// ExpectedOutputs computes the output paths Nix gives d (input-addressed
// outputs from d's hash modulo its input derivations, which r reads, and
// fixed outputs from their hash), so a derivation whose outputs claim
// other paths can be told apart.
func (r *Reader) ExpectedOutputs(d *Derivation) (map[string]string, error) {
	g, err := d.toGoNix()
	if err != nil {
		return nil, err
	}
	repl, err := r.replacements(d, map[string]string{})
	if err != nil {
		return nil, err
	}
	return g.CalculateOutputPaths(repl)
}

// replacements returns the hashes modulo of d's input derivations, by
// path; memo holds those computed so far, as a closure shares inputs.
func (r *Reader) replacements(d *Derivation, memo map[string]string) (map[string]string, error) {
	repl := make(map[string]string, len(d.InputDrvs))
	for p := range d.InputDrvs {
		h, err := r.hashModulo(p, memo)
		if err != nil {
			return nil, err
		}
		repl[p] = h
	}
	return repl, nil
}

// hashModulo is Nix's hashDerivationModulo of the derivation at p.
func (r *Reader) hashModulo(p string, memo map[string]string) (string, error) {
	if h, ok := memo[p]; ok {
		return h, nil
	}
	d, err := r.Read(p)
	if err != nil {
		return "", err
	}
	g, err := d.toGoNix()
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	repl, err := r.replacements(d, memo)
	if err != nil {
		return "", err
	}
	h, err := g.CalculateDrvReplacement(repl)
	if err != nil {
		return "", fmt.Errorf("hash of %s: %w", p, err)
	}
	memo[p] = h
	return h, nil
}
