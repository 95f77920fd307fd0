package workloads

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGenerateShape checks the graph has nixpkgs' shape at several sizes:
// about three derivations a job, a bootstrap chain into stdenv that every
// package reaches, a long-tailed out-degree, multi-output derivations,
// 1% failing leaves and a few timing out, and aggregates of a fortieth
// of the jobs that hold no failing constituent.
func TestGenerateShape(t *testing.T) {
	for _, jobs := range []int{10, 1_000, 20_000} {
		t.Run(strconv.Itoa(jobs), func(t *testing.T) {
			w, err := Generate(Params{Jobs: jobs, Seed: 7})
			require.NoError(t, err)
			n, failing, timingOut := w.Count()
			assert.Equal(t, jobs, n)
			assert.InDelta(t, 3*jobs, len(w.Nodes), float64(jobs)/10+10)
			assert.Equal(t, max(1, jobs/100), failing)
			assert.Equal(t, max(1, jobs/30000), timingOut)
			outDegree := map[int]int{}
			multi := 0
			for i, nd := range w.Nodes {
				for _, d := range nd.Deps {
					require.Less(t, d.Node, i, "dependencies come first: a DAG")
					require.Contains(t, w.Nodes[d.Node].Outputs, d.Output)
					outDegree[d.Node]++
				}
				if len(nd.Outputs) > 1 {
					multi++
				}
				switch nd.Kind {
				case Package:
					require.Contains(t, nd.Deps, Ref{bootstrapStages, "out"}, "%s uses stdenv", nd.Name)
					if nd.Mode != Succeeds {
						require.Zero(t, outDegree[i], "a failure is a leaf")
					}
				case Aggregate:
					assert.Len(t, nd.Constituents, min(jobs-4-failing-timingOut, max(10, jobs/40)))
					for _, c := range nd.Constituents {
						assert.Equal(t, Succeeds, w.Nodes[c].Mode)
					}
				}
			}
			assert.Positive(t, multi)
			if jobs >= 1_000 {
				// The most used package is an input of a large share of
				// all packages, the median one of almost none.
				var pkgDeg []int
				for i, nd := range w.Nodes {
					if nd.Kind == Package {
						pkgDeg = append(pkgDeg, outDegree[i])
					}
				}
				top, median := 0, 0
				for _, d := range pkgDeg {
					top = max(top, d)
				}
				cnt := 0
				for _, d := range pkgDeg {
					if d == 0 {
						cnt++
					}
				}
				if cnt < len(pkgDeg)/2 {
					median = 1
				}
				assert.Greater(t, top, jobs/10, "a package many depend on")
				assert.Zero(t, median, "most packages are no one's input")
			}
		})
	}
}

// TestGenerateRefusesTiny: a workload too small for its shape is an error.
func TestGenerateRefusesTiny(t *testing.T) {
	_, err := Generate(Params{Jobs: 9})
	require.ErrorContains(t, err, "at least 10 jobs")
}
