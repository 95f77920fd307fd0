// Package builder is the builder worker: it carries out the BuildStep
// commands the scheduler sends. For each step it records StepStarted on
// the step's stream (refused for a duplicate delivery, which then builds
// nothing), connects to the machine (ssh:// through adapters/ssh, or a
// local `nix-store --serve --write` child for "localhost", reused from
// step to step), copies the
// input closure the machine lacks, builds the derivation with the step's
// timeout, max-silent time and log limit while its log streams into the log
// store (its derivation closure going to the binary cache meanwhile),
// copies the outputs back into the local store, uploads them to the
// binary cache, scrapes nix-support and records StepLogStored,
// OutputUploaded, ProductScraped, MetricScraped (for a dependency of the
// build the step runs for, they go in StepFinished instead, as no build's)
// and StepFinished in one append. The closures and path infos of the local store come from one
// kept `nix-store --serve` on it (see localQueries), not a nix process per
// query.
//
// Statuses are Hydra's: 0 built, 1 failed, 3 aborted (transient: connection
// lost, copy errors, a machine without nix; the scheduler retries), 6 built
// with nix-support/failed, 7 timed out, 10 log limit, 11 output limit,
// 12 non-deterministic.
//
// While a step runs, the worker reads its step stream every
// Config.WatchInterval: once the attempt is no longer running there (the
// scheduler recorded status 4 because no unfinished build needs the step
// after a cancellation, or gave the attempt up), the step's context is
// cancelled, the build is killed and only StepLogStored is recorded. A
// local serve command gets SIGTERM first, so nix-store kills its builder
// (which runs in a session of its own), and SIGKILL after a grace. On
// ssh:// machines the session is closed: sshd closes the remote
// nix-store's stdin, and nix-store, which watches it for hang-up while it
// builds, kills the build (TestSupersededStepIsKilled shows it for a
// silent one). A connection that is lost without closing reaches nobody;
// the build then runs until its own limits.
//
// Build logs arrive on the serve command's stderr. A local serve command
// serves one step after another (see sessionPool): nix-store writes a
// build's log before its result, so once the step's last call returned,
// its log is complete when the stderr pipe has been drained (see
// logPipe); the session then goes back to the pool unless a call failed,
// the step was cancelled or the log stopped mid-line. adapters/ssh keeps
// only the tail of a remote command's stderr, so on ssh:// machines the
// serve command redirects its stderr into a named pipe that a second
// session on the same connection reads (see openSSH). That stream is not
// ordered with the protocol's, so an ssh:// session serves one step: its
// log is complete when the stream ends, after the serve command exited.
package builder
