// Package runcommand holds the rules of Hydra's RunCommand plugin (#22):
// which <runcommand> blocks of hydra.conf and which dynamic
// runCommandHook.* jobs a finished build runs, the uuid and log name of
// each run, and the run aggregate (runcommand-<uuid>: started, then
// finished) that makes a command run at most once.
package runcommand

import (
	"fmt"
	"strings"

	"buildledger/domain/domainerr"
	"buildledger/events"
)

// DefaultMatcher is the job of a <runcommand> block that names none.
const DefaultMatcher = "*:*:*"

// Matcher is Hydra's job matcher, project:jobset:job, where each part is
// a name or "*" for any; missing trailing parts are "*". It is not a
// pattern: "foo*" matches only a job called "foo*".
type Matcher struct {
	text  string
	parts [3]string
}

// ParseMatcher reads a matcher; more than three parts is an error, as
// Hydra's configSectionMatches dies on them.
func ParseMatcher(s string) (Matcher, error) {
	if s == "" {
		s = DefaultMatcher
	}
	elems := strings.Split(s, ":")
	if len(elems) > 3 {
		return Matcher{}, domainerr.Invalid("job", "%q has more than three parts (project:jobset:job)", s)
	}
	m := Matcher{text: s, parts: [3]string{"*", "*", "*"}}
	copy(m.parts[:], elems)
	return m, nil
}

// String is the matcher as written, what RunCommandLogs.job_matcher
// records.
func (m Matcher) String() string { return m.text }

// Match reports whether the job project:jobset:job is matched.
func (m Matcher) Match(project, jobset, job string) bool {
	for i, v := range [3]string{project, jobset, job} {
		if m.parts[i] != "*" && m.parts[i] != v {
			return false
		}
	}
	return true
}

// HookPrefix starts the names of dynamic RunCommand jobs.
const HookPrefix = "runCommandHook."

// IsHook reports whether job is a dynamic RunCommand hook: a job
// runCommandHook.NAME with a non-empty NAME.
func IsHook(job string) bool { return len(job) > len(HookPrefix) && strings.HasPrefix(job, HookPrefix) }

// HookMatcher is the job_matcher Hydra records for a dynamic hook.
func HookMatcher(job string) string { return "DynamicRunCommand(" + job + ")" }

// UUID turns a notification key (32 hex digits) into the run's uuid, a
// version 4 uuid as Hydra's RunCommandLogs.uuid is: the same intention
// always has the same uuid, so its log and its row are found again.
func UUID(key string) (string, error) {
	if len(key) != 32 || strings.Trim(strings.ToLower(key), "0123456789abcdef") != "" {
		return "", domainerr.Invalid("key", "%q is not 32 hex digits", key)
	}
	b := []byte(strings.ToLower(key))
	b[12] = '4'
	b[16] = "89ab"[hexVal(b[16])&3]
	s := string(b)
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:], nil
}

func hexVal(c byte) byte {
	if c >= 'a' {
		return c - 'a' + 10
	}
	return c - '0'
}

// ValidUUID reports whether s is a uuid as UUID writes them (lower-case
// hex, version 4): the only names the log routes accept.
func ValidUUID(s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' || s[14] != '4' {
		return false
	}
	hex := s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	return strings.Trim(hex, "0123456789abcdef") == "" && strings.ContainsRune("89ab", rune(s[19]))
}

// LogName is the name the run's output is stored under in the log store
// (in place of a derivation's: it gives the bucket, the uuid's first two
// characters, as Hydra's runcommand-logs/<2>/<uuid>).
func LogName(uuid string) string { return uuid + ".runcommand" }

// State is a run as its stream tells it.
type State struct {
	Started  bool
	Finished bool
	UUID     string
}

// Evolve folds one event of a runcommand-<uuid> stream into s.
func Evolve(s State, p events.Payload) State {
	switch e := p.(type) {
	case *events.RunCommandStarted:
		s.Started, s.UUID = true, e.UUID
	case *events.RunCommandFinished:
		s.Finished = true
	}
	return s
}

// Start records that a run begins. A run already started is a conflict:
// a second worker, or the same one after a crash, must not run it again.
func Start(s State, e events.RunCommandStarted) ([]events.Payload, error) {
	switch {
	case s.Started:
		return nil, domainerr.Conflict("RunCommand %s has already started", e.UUID)
	case e.UUID == "" || e.Key == "" || e.Command == "" || e.JobMatcher == "" || e.BuildID <= 0:
		return nil, domainerr.Invalid("runcommand", "a run needs a uuid, a key, a job matcher, a build and a command")
	}
	return []events.Payload{&e}, nil
}

// Finish records how a started run ended; only once.
func Finish(s State, e events.RunCommandFinished) ([]events.Payload, error) {
	switch {
	case !s.Started:
		return nil, domainerr.NotFound("RunCommand", e.UUID)
	case s.Finished:
		return nil, domainerr.Conflict("RunCommand %s has already finished", e.UUID)
	case e.UUID != s.UUID:
		return nil, domainerr.Invalid("uuid", "%q is not the run's uuid %q", e.UUID, s.UUID)
	}
	return []events.Payload{&e}, nil
}

// Summary says in a few words how a run ended, as Hydra's build page does.
func Summary(e events.RunCommandFinished) string {
	switch {
	case e.Interrupted:
		return "interrupted"
	case e.Signal != nil:
		s := fmt.Sprintf("killed by signal %d", *e.Signal)
		if e.TimedOut {
			s += " (timed out)"
		}
		return s
	case e.ErrorNumber != nil:
		return fmt.Sprintf("exec error %d", *e.ErrorNumber)
	case e.ExitCode != nil:
		return fmt.Sprintf("exit code %d", *e.ExitCode)
	}
	return "ended"
}

// CheckProject refuses a project configuration that enables dynamic
// hooks on a server that does not (hydra.conf's dynamicruncommand), with
// Hydra's message.
func CheckProject(server bool, c events.ProjectConfig) error {
	if c.EnableDynamicRunCommand && !server {
		return domainerr.Invalid("enable_dynamic_run_command", "Dynamic RunCommand is not enabled by the server.")
	}
	return nil
}

// CheckJobset refuses a jobset configuration that enables dynamic hooks
// when the server or the jobset's project does not, with Hydra's message.
func CheckJobset(server bool, project events.ProjectConfig, c events.JobsetConfig) error {
	if c.EnableDynamicRunCommand && !(server && project.EnableDynamicRunCommand) {
		return domainerr.Invalid("enable_dynamic_run_command", "Dynamic RunCommand is not enabled by the server or the parent project.")
	}
	return nil
}

// HooksEnabled reports whether a jobset's runCommandHook.* jobs run: the
// server, the project and the jobset must all enable them.
func HooksEnabled(server bool, project events.ProjectConfig, jobset events.JobsetConfig) bool {
	return server && project.EnableDynamicRunCommand && jobset.EnableDynamicRunCommand
}
