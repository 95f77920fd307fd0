package web_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/domainerr"
	"buildledger/projections/insights"
	"buildledger/web"
)

// failingInsights answers every question with err.
type failingInsights struct{ err error }

func (f failingInsights) BuildBlockers(context.Context, int64) (insights.WhyNotRunning, error) {
	return insights.WhyNotRunning{}, f.err
}

func (f failingInsights) BuildFailureOrigin(context.Context, int64) (insights.FailureOrigin, error) {
	return insights.FailureOrigin{}, f.err
}

func (f failingInsights) StepBlastRadius(context.Context, string) (insights.BlastRadius, error) {
	return insights.BlastRadius{}, f.err
}

func (f failingInsights) StepAttempts(context.Context, string) ([]insights.Attempt, error) {
	return nil, f.err
}

func (f failingInsights) FlakySteps(context.Context) ([]insights.FlakyStep, error) { return nil, f.err }

func (f failingInsights) NonReproducibleOutputs(context.Context) ([]insights.NonReproducible, error) {
	return nil, f.err
}

func (f failingInsights) EvalLatencies(context.Context) ([]insights.EvalLatency, error) {
	return nil, f.err
}

func (f failingInsights) JobsetReproducibility(context.Context, string, string) (insights.Reproducibility, error) {
	return insights.Reproducibility{}, f.err
}

var _ web.InsightQueries = failingInsights{}

// TestInsightErrors: a build the insights do not know is 404, and a
// failing read model is a 5xx, not a 404 as every insight error was.
func TestInsightErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"unknown build", domainerr.NotFound("build", "7"), http.StatusNotFound},
		{"read model down", errors.New("read build 7: unexpected EOF"), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOpts{cfg: func(c *web.Config) { c.Insights = failingInsights{tt.err} }})
			res := e.anon().do("GET", "/build/7/why", nil)
			require.Equal(t, tt.want, res.code, res.body)
		})
	}
}
