package insights

import (
	"context"

	"buildledger/projections"
)

// Reader asks the insight questions of one read-model database; its
// methods are the functions of this package bound to DB.
type Reader struct {
	DB projections.DB
}

// BuildBlockers is the package function BuildBlockers on r.DB.
func (r Reader) BuildBlockers(ctx context.Context, id int64) (WhyNotRunning, error) {
	return BuildBlockers(ctx, r.DB, id)
}

// BuildFailureOrigin is the package function BuildFailureOrigin on r.DB.
func (r Reader) BuildFailureOrigin(ctx context.Context, id int64) (FailureOrigin, error) {
	return BuildFailureOrigin(ctx, r.DB, id)
}

// StepBlastRadius is the package function StepBlastRadius on r.DB,
// listing at most MaxBlastRadiusBuilds builds.
func (r Reader) StepBlastRadius(ctx context.Context, drv string) (BlastRadius, error) {
	return StepBlastRadius(ctx, r.DB, drv, MaxBlastRadiusBuilds)
}

// StepAttempts is the package function StepAttempts on r.DB.
func (r Reader) StepAttempts(ctx context.Context, drv string) ([]Attempt, error) {
	return StepAttempts(ctx, r.DB, drv)
}

// FlakySteps is the package function FlakySteps on r.DB.
func (r Reader) FlakySteps(ctx context.Context) ([]FlakyStep, error) { return FlakySteps(ctx, r.DB) }

// NonReproducibleOutputs is the package function NonReproducibleOutputs on r.DB.
func (r Reader) NonReproducibleOutputs(ctx context.Context) ([]NonReproducible, error) {
	return NonReproducibleOutputs(ctx, r.DB)
}

// EvalLatencies is the package function EvalLatencies on r.DB.
func (r Reader) EvalLatencies(ctx context.Context) ([]EvalLatency, error) {
	return EvalLatencies(ctx, r.DB)
}

// JobsetReproducibility implements web.InsightQueries.
func (r Reader) JobsetReproducibility(ctx context.Context, project, jobset string) (Reproducibility, error) {
	return JobsetReproducibility(ctx, r.DB, project, jobset)
}
