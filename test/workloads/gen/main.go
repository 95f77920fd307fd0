// Command gen writes a nixpkgs-shaped jobset (package workloads) into a
// directory: gen -jobs N -out DIR [-seed S] [-nonce X].
package main

import (
	"flag"
	"fmt"
	"os"

	"buildledger/test/workloads"
)

func main() {
	var p workloads.Params
	var out string
	flag.IntVar(&p.Jobs, "jobs", 100_000, "number of jobs (about three derivations each)")
	flag.Uint64Var(&p.Seed, "seed", 1, "seed of the graph")
	flag.StringVar(&p.Nonce, "nonce", "", "string in every derivation, to make them new")
	flag.IntVar(&p.TimeoutSeconds, "timeout", 10, "meta.timeout of the jobs that time out, in seconds")
	flag.StringVar(&out, "out", "", "directory to write release.nix and busybox.nix into")
	flag.Parse()
	if out == "" {
		fmt.Fprintln(os.Stderr, "usage: gen -jobs N -out DIR [-seed S] [-nonce X]")
		os.Exit(2)
	}
	w, err := workloads.Generate(p)
	if err == nil {
		err = w.WriteNix(out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	jobs, failing, timingOut := w.Count()
	fmt.Printf("%d jobs, %d derivations, %d failing, %d timing out\n", jobs, len(w.Nodes), failing, timingOut)
}
