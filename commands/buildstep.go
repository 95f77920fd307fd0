package commands

import (
	"context"

	"buildledger/events"
)

// BuildStep is the command the scheduler sends a builder worker over the
// command bus after recording StepDispatched: build DrvPath on Machine
// for build BuildID as attempt Attempt.
//
// The worker handles it idempotently: it records StepStarted with
// Handlers.StartStep, which is refused (ErrAttemptRefused) when the step
// moved on since the dispatch (a duplicate delivery, a later attempt, a
// lease the scheduler gave up on); then it must not build. It reports the
// end with Handlers.CompleteStep: the log, OutputUploaded (and
// ProductScraped, MetricScraped) of the attempt's outputs, then
// StepFinished, or only the log (RecordStepLog) when the attempt was
// ended elsewhere.
type BuildStep struct {
	// ID is the id of the StepDispatched event: the command's identity,
	// also usable as a message id for de-duplication on the bus.
	ID      string          `json:"id"`
	DrvPath string          `json:"drvPath"`
	System  string          `json:"system"`
	Outputs []events.Output `json:"outputs,omitempty"`
	// BuildID is the representative build the step runs for; StepNr the
	// BuildSteps row number to use under it in StepStarted/StepFinished.
	BuildID int64 `json:"buildId"`
	StepNr  int   `json:"stepNr"`
	// Dependency tells that the step is not BuildID's top-level
	// derivation but one it needs: the products and metrics its outputs
	// declare in nix-support are not BuildID's: the worker records them
	// in StepFinished, for a job of the derivation the scheduler credits
	// with the run (Hydra keeps them for the builds of the derivation only).
	Dependency bool `json:"dependency,omitempty"`
	Attempt    int  `json:"attempt"`
	// StepRevision is the step stream's revision after StepDispatched.
	StepRevision  uint64               `json:"stepRevision"`
	Machine       string               `json:"machine"`
	MachineConfig events.MachineConfig `json:"machineConfig"`
	// LeaseUntil (Unix seconds) is when the scheduler requeues the step
	// if no StepStarted was recorded by then.
	LeaseUntil int64 `json:"leaseUntil"`
	// Timeout and MaxSilent are in seconds; MaxLogSize and MaxOutputSize
	// in bytes (0 MaxOutputSize: no limit).
	Timeout       int   `json:"timeout"`
	MaxSilent     int   `json:"maxSilent"`
	MaxLogSize    int64 `json:"maxLogSize"`
	MaxOutputSize int64 `json:"maxOutputSize,omitempty"`
	// CorrelationID is the dispatch's correlation id, to be carried into
	// the metadata of the events the worker records.
	CorrelationID string `json:"correlationId,omitempty"`
	// Verify, when set, makes the command a reproducibility rebuild
	// (VerificationDispatched, whose id is ID): the worker rebuilds the
	// derivation apart from the outputs it has, compares NAR hashes and
	// records EndVerification on the verify-<hash> stream at StepRevision
	// instead of the step's events.
	Verify *Verification `json:"verify,omitempty"`
}

// Verification is what a reproducibility rebuild checks.
type Verification struct {
	OriginalMachine string                  `json:"originalMachine"`
	Outputs         []events.VerifiedOutput `json:"outputs"`
}

// BuildStepHandler is what a builder worker registers on the command bus.
// Returning an error asks the bus to redeliver; return nil for commands
// refused as duplicates. Keep it short: record StepStarted and hand the
// build to a worker pool.
type BuildStepHandler func(ctx context.Context, c BuildStep) error

// BuildStepSender is the scheduler's side of the command bus.
type BuildStepSender interface {
	// SendBuildStep publishes c for a builder worker.
	SendBuildStep(ctx context.Context, c BuildStep) error
}
