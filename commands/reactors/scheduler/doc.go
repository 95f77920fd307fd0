// Package scheduler is the queue runner's scheduler: a reactor (see
// package reactors) that folds the event log into an in-memory Model (queued
// builds, steps and their edges from StepQueued.InputDrvs, runnable steps
// per system, machines and their slots, jobset share usage over 24 h) and
// turns the model's decisions into commands.
//
// Order and fit are Hydra's: higher global priority, then lower jobset
// share used (build seconds in the last 24 h / scheduling shares, the
// lowest over the step's jobsets), then longer critical path, more direct
// dependents, higher local priority, lower build id. A machine takes a
// step if it builds the system ("builtin" fits any machine), supports
// every required feature, has every mandatory feature required, and has
// a free slot; among those the one with the fewest jobs per speed factor
// wins.
//
// Who writes what:
//
//   - evaluator: BuildQueued, StepQueued (inputs before dependents; a
//     late input is linked while its dependent is still queued),
//     BuildCached for builds with valid outputs, BuildWithdrawn for a
//     build its evaluation will not have after all (the model forgets it).
//     A step runs before its evaluation ends once every input it names
//     is a step in the model and has succeeded; one naming an input the
//     model does not hold waits for EvaluationFinished (or Failed, or
//     Closed), as that input may still come. A job recorded after its
//     derivation ran as another job's input in the same evaluation is
//     credited with that run (built, not cached), and one recorded after
//     a step it needs failed so fails with that run (not a cached
//     failure), as Hydra, which queues an evaluation's builds together,
//     would show them.
//   - scheduler: StepDispatched (with reason, attempt, lease), then a
//     BuildStep command on the bus; StepRetryScheduled (transient failure
//     with Hydra's backoff, expired dispatch lease, failed step a
//     restarted build needs again); StepFinished status 3 for a running
//     step whose builder stayed silent past its timeout plus a grace, and
//     status 9 for a step no machine supports after the unsupported
//     timeout; StepFinished status 4 for a dispatched or running step no
//     unfinished build needs once a build was cancelled (Hydra aborts
//     those; the builder worker, watching the step's stream, kills the
//     build, and a build that needs the step again gets a fresh attempt);
//     and every BuildFinished: status 0 (6 when the top-level
//     step finished with 6) with Size summed from OutputUploaded when the
//     top-level step succeeds (and ProductsOf naming the build the step
//     ran for, when it ran as that build's top-level step too; for a
//     build finished by a run as a dependency, credited with it or not,
//     the ProductScraped and MetricScraped that run's StepFinished
//     carried, as the build's, in the same append before it), and
//     failures: the build's own top-level
//     step gives its status, a dependency gives 2 (or its status when it
//     is not 1) with PropagatedFrom and FailedDrv, appended after the
//     finish of the build the step ran for, which lists them
//     (Dependents) so that notifiers mail them with it; cached failures
//     (outputs of a permanently failed step, Hydra's FailedPaths) give 1
//     or 2 with IsCachedBuild.
//   - builder worker: StepStarted (commands.StartStep; refused for a
//     duplicate BuildStep), StepLogStored, OutputUploaded, ProductScraped
//     and MetricScraped (only when the step is its build's top-level
//     one: Decision.Dependency), then StepFinished (commands.FinishStep) with status 6
//     when nix-support/failed exists. Outputs must be recorded before
//     StepFinished so the scheduler's BuildFinished carries the size.
//   - web: BuildCancelled, BuildRestarted, BuildBumped, BuildKept.
//
// BuildSteps numbers: the scheduler gives each BuildStep a StepNr under
// its representative build, counted from the log (StepDispatched of that
// build, StepFinished of never-dispatched steps, BuildFinished rows with
// PropagatedFrom), which the worker must use in StepStarted/StepFinished.
//
// Cold start: Run first folds the log (CatchUp), then follows it live.
// Nothing is decided before the model caught up, and every command is
// checked against its stream's revision, so a decision repeated after a
// crash is refused rather than recorded twice. With Options.Snapshots,
// the fold starts from the latest snapshot of the model (snapshot.go,
// persist.go) and reads only the log after it; Run saves one every
// SnapshotEvery events (100,000) or SnapshotInterval (5 min) when events
// came, and when it stops. A snapshot is a cache: one missing, spoilt, of
// another format or configuration, or whose last event this log does not
// hold at its position (another event store or database) is logged and
// the whole log folded. It keeps what the fold gave; what Decide and
// Actions keep for themselves (reservations, when to ask again for a
// follow-up, since when a step is unsupported) starts again as after a
// full fold, and pointers are rebuilt.
//
// Memory: a finished build is evicted Config.EvictAfter (1 h) after the
// time its finishing event carries, with the steps no build or step left
// in memory needs (Model.Evict, run by every pass and every 5,000 events
// of a catch-up). What an event needs back is read from the streams
// before it (restore.go): a step queued again (StepQueued at a revision
// above 0 for a step the model does not hold) is restored with its
// attempts; a restarted build is restored with the steps of its closure
// and the BuildSteps numbers its history used. A succeeded step that was
// evicted is, like an input never queued, nothing to wait for. A step is
// not evicted while its evaluation is open; one that succeeded meanwhile
// is evicted when the evaluation closes, if nothing in memory needs it.
// Kept for good: jobsets, machines, the ids of closed evaluations and the
// output paths of steps that failed for good (Hydra's failed paths).
package scheduler
