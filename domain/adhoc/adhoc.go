// Package adhoc holds the rules of builds submitted at runtime (issue 25):
// who may submit, where the builds go, and the caps on a submission.
//
// Ad-hoc builds of user U are builds of jobset U of project "adhoc"
// (shown as adhoc:U). User names are valid jobset names, so the jobset is
// named after the user exactly. The project is created on first use owned
// by the configured owner (DefaultOwner unless the server is told
// another), never by a submitting user: its owner may change every
// user's shares, so CheckOwner wants an enabled administrator. An
// administrator may also create it beforehand with any owner; then no
// owner is needed at all. Each jobset is disabled: it is never evaluated,
// it only holds builds and its scheduling shares.
package adhoc

import (
	"fmt"

	"buildledger/domain/domainerr"
	"buildledger/domain/user"
	"buildledger/events"
)

// Project is the project of every ad-hoc jobset.
const Project = "adhoc"

// DefaultOwner is the owner the ad-hoc project gets when the first
// submission creates it and the server names no other: the
// administrator account up creates at its first start.
const DefaultOwner = "admin"

// DefaultShares are a new ad-hoc jobset's scheduling shares, Hydra's
// default for a jobset.
const DefaultShares = 100

// Caps on one submission.
const (
	// MaxClosurePaths caps the store paths a submitted closure may have.
	MaxClosurePaths = 20000
	// MaxSteps caps the derivations one submission may queue.
	MaxSteps = 5000
)

// Default per-user caps; the server's flags change them.
const (
	// DefaultMaxQueued caps the unfinished ad-hoc builds one user may
	// have: more waits in the client until some finish.
	DefaultMaxQueued = 100
	// DefaultMaxSessionBytes caps the NAR bytes one remote-builder
	// session may copy into the server's store.
	DefaultMaxSessionBytes = 4 << 30
)

// Via values of AdhocBuildSubmitted.
const (
	ViaSSH = "ssh"
	ViaAPI = "api"
)

// Jobset is the name of a user's ad-hoc jobset.
func Jobset(userName string) string { return userName }

// ProjectConfig is the ad-hoc project's configuration, owned by owner.
func ProjectConfig(owner string) events.ProjectConfig {
	return events.ProjectConfig{DisplayName: "Ad-hoc builds", Owner: owner, Enabled: true,
		Description: "builds submitted at runtime through the remote-builder port or POST /api/build, one jobset per user"}
}

// JobsetConfig is a new ad-hoc jobset's configuration: a disabled legacy
// jobset (never evaluated) whose one input names where builds come from.
func JobsetConfig(userName string) events.JobsetConfig {
	return events.JobsetConfig{Description: fmt.Sprintf("builds %s submitted at runtime", userName),
		Enabled: 0, NixExprInput: "submitted", NixExprPath: "default.nix", SchedulingShares: DefaultShares,
		Inputs: []events.JobsetInput{{Name: "submitted", Type: "string", Value: "at runtime"}}}
}

// MaySubmit checks that u may submit builds: they exist, are not
// disabled, and have the submit-builds role (admins may too).
func MaySubmit(u user.State) error {
	switch {
	case !u.Exists:
		return domainerr.Forbidden("no such user")
	case !u.MayAuthenticate():
		return domainerr.Forbidden("user %s is disabled", u.UserName)
	case !u.HasRole(user.RoleSubmitBuilds) && !u.HasRole(user.RoleAdmin):
		return domainerr.Forbidden("user %s lacks the %s role", u.UserName, user.RoleSubmitBuilds)
	}
	return nil
}

// CheckOwner checks that u, the user named name, may own the ad-hoc project a submission
// creates: an enabled administrator, since the owner may change every
// user's shares. The error says how to pick another owner.
func CheckOwner(name string, u user.State) error {
	why := ""
	switch {
	case !u.Exists:
		why = "does not exist"
	case !u.MayAuthenticate():
		why = "is disabled"
	case !u.HasRole(user.RoleAdmin):
		why = "is not an administrator"
	default:
		return nil
	}
	return domainerr.Invalid("owner", "the ad-hoc project %q does not exist yet and its owner %q %s: "+
		"start the server with --adhoc-owner NAME (an administrator), or create the project first (project create %s --owner NAME)",
		Project, name, why, Project)
}

// CheckQueued refuses a submission of user when they already have
// queued unfinished ad-hoc builds and max is the cap (0: none).
func CheckQueued(userName string, queued, max int) error {
	if max > 0 && queued >= max {
		return domainerr.Busy("user %s has %d ad-hoc builds queued, the most one user may have: submit again once some finish", userName, queued)
	}
	return nil
}

// CheckSessionBytes refuses a copy that brings a session's bytes
// copied in over max (0: no cap).
func CheckSessionBytes(copied, max int64) error {
	if max > 0 && copied > max {
		return domainerr.Busy("this session copied in more than %d bytes, the most one session may: copy the rest in a new session "+
			"(nix-copy-closure --to), or have buildledger build it", max)
	}
	return nil
}

// CheckSize refuses a submission over the caps.
func CheckSize(paths, steps int) error {
	switch {
	case paths > MaxClosurePaths:
		return domainerr.Invalid("closure", "%d store paths, more than the %d one submission may have", paths, MaxClosurePaths)
	case steps > MaxSteps:
		return domainerr.Invalid("closure", "%d derivations to build, more than the %d one submission may queue", steps, MaxSteps)
	}
	return nil
}
