// Package hydra projects the ledger into Hydra's own tables (Projects,
// Jobsets, JobsetEvals, Builds, BuildSteps, …) with Hydra's names, columns
// and status numbers, so SQL written for Hydra runs on them unchanged.
//
// Hot events (new builds, outputs, steps, products) are buffered per batch
// and written with COPY; a build or step created and finished in the same
// batch is written once, already finished. Finishing builds created in an
// earlier batch is one set-based UPDATE per batch. Every other event is a
// plain statement, run after the buffers are flushed, so the order of
// effects is the order of the log.
package hydra
