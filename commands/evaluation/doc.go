// Package evaluation is the evaluator's application service: it turns a
// real Nix evaluation of a jobset into ledger events, and its Trigger
// starts evaluations when jobsets are due.
//
// Service.Evaluate first fetches the inputs and hashes them. When nothing
// changed and the evaluation is not forced, it is a check (Hydra's cached
// evaluation) and opens no evaluation: it appends EvaluationCached to
// jobset-<p>.<j> only when it answers a pending request or follows a
// failed evaluation, and otherwise only counts itself outside the log
// (the Checks port), so that polling does not grow the log. Otherwise one
// evaluation appends, in this order:
//
//   - EvaluationOpened to jobset-<p>.<j> at the revision it loaded: the
//     jobset's lock, refused while another evaluation is open (or when the
//     configuration changed during the fetch: the fetch is done again);
//   - EvaluationStarted to eval-<id>;
//   - EvaluationFailed (phase "fetch") when the fetch failed; otherwise
//   - InputFetched per input (eval-<id>);
//   - while Nix evaluates, a chunk of jobs at a time as Nix reports them
//     (Request.OnJob; the first chunk is the first job, each next twice
//     the last, up to Options.RecordChunk): JobEvaluated (eval-<id>) for
//     the chunk's new builds, then, appended at the same time and so
//     interleaved in the log in no fixed order, BuildQueued (and
//     BuildCached when every output is already valid) to build-<id> for
//     each new build, and StepQueued to step-<hash> for each derivation
//     of the new builds' closures that still has to be built and was not
//     queued by an earlier chunk, each after those of the inputs it names
//     (the scheduler may run a step before the evaluation ends);
//   - when Nix has finished: BuildWithdrawn (build-<id>) for a build
//     whose job Nix's final result does not hold (its name turned out to
//     collide with another attribute's), the same events for the jobs not
//     reported early (aggregates among them), JobEvaluated for the jobs of
//     earlier builds and the rest, JobEvaluationFailed, and
//     EvaluationFinished last, after all of them; or, when the evaluation
//     fails, BuildWithdrawn for every build it had queued, then
//     EvaluationFailed (phase "fetch" or "eval") instead;
//   - EvaluationClosed to the jobset's stream, which releases the lock and
//     records the outcome and hash the next evaluation compares with.
//
// The rules of the jobset's stream (open, close, check, the one-shot
// jobset disabled after its evaluation) are domain/jobset's, and the
// stream has one fold, commands.JobsetAggregate.
//
// Appends to one stream are split so that none exceeds MaxAppendBytes.
// The package opens no file, socket or process: fetching, evaluating and
// reading derivations are ports (InputFetcher, Evaluator, BuildGraph,
// BuildStatus) implemented by adapters.
package evaluation
