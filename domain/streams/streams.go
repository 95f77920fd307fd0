// Package streams names the event streams of the ledger. Every writer and
// reader builds stream names through these functions so that the names
// stay one contract (ARCHITECTURE.md §3).
package streams

import (
	"path"
	"strconv"
	"strings"
)

// Prefixes of the stream families, for subscription filters.
const (
	ProjectPrefix = "project-"
	JobsetPrefix  = "jobset-"
	UserPrefix    = "user-"
	MachinePrefix = "machine-"
	IDsPrefix     = "ids-"
	EvalPrefix    = "eval-"
	BuildPrefix   = "build-"
	StepPrefix    = "step-"
	// NewsPrefix starts the streams of news items.
	NewsPrefix = "news-"
	// CachesPrefix starts the streams of the site-wide caches.
	CachesPrefix = "caches-"
	// APITokenPrefix starts the streams of API tokens.
	APITokenPrefix = "apitoken-"
	// VerifyPrefix starts the streams of reproducibility rebuilds.
	VerifyPrefix = "verify-"
	// NotificationPrefix starts the streams of the notification outbox.
	NotificationPrefix = "notification-"
	// RunCommandPrefix starts the streams of RunCommand runs.
	RunCommandPrefix = "runcommand-"
)

// Verify returns "verify-<drv hash>", the stream of the reproducibility
// rebuilds of a derivation.
func Verify(drvPath string) string { return VerifyPrefix + DrvHashPart(drvPath) }

// Project returns "project-<name>".
func Project(name string) string { return ProjectPrefix + name }

// Jobset returns "jobset-<project>.<jobset>". Project names cannot hold a
// dot, so the first dot separates the two parts.
func Jobset(project, jobset string) string { return JobsetPrefix + project + "." + jobset }

// User returns "user-<name>".
func User(name string) string { return UserPrefix + name }

// APIToken returns "apitoken-<id>".
func APIToken(id string) string { return APITokenPrefix + id }

// Notification returns "notification-<key>", the stream of one
// notification, key its idempotency key.
func Notification(key string) string { return NotificationPrefix + key }

// RunCommand returns "runcommand-<uuid>", the stream of one RunCommand
// run.
func RunCommand(uuid string) string { return RunCommandPrefix + uuid }

// News returns "news-<id>".
func News(id int64) string { return NewsPrefix + strconv.FormatInt(id, 10) }

// FailedPaths returns "caches-failed-paths", the stream of the clearings
// of the failed paths cache.
func FailedPaths() string { return CachesPrefix + "failed-paths" }

// VCSCaches returns "caches-vcs", the stream of the clearings of the
// fetched inputs' caches.
func VCSCaches() string { return CachesPrefix + "vcs" }

// Machine returns "machine-<name>".
func Machine(name string) string { return MachinePrefix + name }

// IDs returns "ids-<kind>", the stream of numeric id reservations of kind
// ("build", "eval", "jobset").
func IDs(kind string) string { return IDsPrefix + kind }

// Eval returns "eval-<id>".
func Eval(id int64) string { return EvalPrefix + strconv.FormatInt(id, 10) }

// Build returns "build-<id>".
func Build(id int64) string { return BuildPrefix + strconv.FormatInt(id, 10) }

// Step returns "step-<hash part>" for a derivation path such as
// /nix/store/<hash>-hello.drv. The hash part is the base name up to the
// first dash; a base name without a dash is used whole.
func Step(drvPath string) string { return StepPrefix + DrvHashPart(drvPath) }

// DrvHashPart returns the hash part of a store path: the base name up to
// the first dash.
func DrvHashPart(storePath string) string {
	base := path.Base(storePath)
	if i := strings.IndexByte(base, '-'); i >= 0 {
		return base[:i]
	}
	return base
}

// ParseJobset splits a jobset stream name into project and jobset names.
// ok is false if stream is not a jobset stream.
func ParseJobset(stream string) (project, jobset string, ok bool) {
	rest, found := strings.CutPrefix(stream, JobsetPrefix)
	if !found {
		return "", "", false
	}
	project, jobset, ok = strings.Cut(rest, ".")
	if !ok || project == "" || jobset == "" {
		return "", "", false
	}
	return project, jobset, true
}

// ParseID returns the numeric id of an "eval-<id>" or "build-<id>" stream
// with the given prefix; ok is false if stream does not have that form.
func ParseID(stream, prefix string) (id int64, ok bool) {
	rest, found := strings.CutPrefix(stream, prefix)
	if !found {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
