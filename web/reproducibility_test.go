package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/events"
	"buildledger/projections/insights"
)

// TestJobsetReproducibility: the jobset's Reproducibility tab and its JSON
// show what the recorded rebuilds found: the rate, per day, and the
// output that rebuilt to other bits with both NAR hashes.
func TestJobsetReproducibility(t *testing.T) {
	e := newEnv(t, envOpts{insights: true})
	verified := func(name string, same bool) {
		hash := "sha256:" + name + "-original"
		got := hash
		if !same {
			got = "sha256:" + name + "-rebuilt"
		}
		outs := []events.VerifiedOutput{{Name: "out", Path: out(name), NarHash: hash}}
		_, err := e.h.DispatchVerification(e.ctx, e.md(), events.VerificationDispatched{DrvPath: drv(name), Machine: "m2",
			OriginalMachine: "m1", Attempt: 1, Outputs: outs, Reason: events.DispatchReason{Verification: true}})
		require.NoError(t, err)
		diff := ""
		if !same {
			diff = "share/stamp"
		}
		_, err = e.h.EndVerification(e.ctx, e.md(), []events.OutputVerified{{DrvPath: drv(name), Output: "out", Path: out(name),
			Machine: "m2", OriginalMachine: "m1", NarHash: got, OriginalNarHash: hash, Matches: same, FirstDifference: diff}},
			events.VerificationEnded{DrvPath: drv(name), Machine: "m2", Attempt: 1})
		require.NoError(t, err)
	}
	verified("hello-1", true)
	verified("broken-2", false)
	e.catchUp()

	var rep insights.Reproducibility
	res := e.anon().do("GET", "/jobset/p/j/reproducibility", nil)
	require.Equal(t, http.StatusOK, res.code, res.body)
	res.json(t, &rep)
	require.Equal(t, 2, rep.Verified)
	require.Equal(t, 1, rep.Matching)
	require.NotNil(t, rep.Rate)
	require.InDelta(t, 0.5, *rep.Rate, 1e-9)
	require.Len(t, rep.Days, 1)
	require.Len(t, rep.Mismatches, 1)
	m := rep.Mismatches[0]
	require.Equal(t, drv("broken-2"), m.DrvPath)
	require.Equal(t, "sha256:broken-2-original", m.OriginalNarHash)
	require.Equal(t, "sha256:broken-2-rebuilt", m.NarHash)
	require.Equal(t, "share/stamp", m.FirstDifference)

	page := e.anon().do("GET", "/jobset/p/j/reproducibility", nil, "Accept", "text/html")
	require.Equal(t, http.StatusOK, page.code)
	for _, want := range []string{"1 of 2 outputs", "50.0%", "sha256:broken-2-original", "sha256:broken-2-rebuilt", "share/stamp"} {
		require.Contains(t, page.body, want)
	}
	overview := e.anon().do("GET", "/jobset/p/j", nil, "Accept", "text/html")
	require.Contains(t, overview.body, `href="/jobset/p/j/reproducibility"`, "the jobset has the tab")

	require.Equal(t, http.StatusNotFound, e.anon().do("GET", "/jobset/p/nope/reproducibility", nil).code)
}
