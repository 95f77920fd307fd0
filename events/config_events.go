package events

// Configuration events: projects, jobsets, users, machines. Streams:
// project-<name>, jobset-<project>.<jobset>, user-<name>, machine-<name>.

// ProjectConfig is the whole editable configuration of a project.
type ProjectConfig struct {
	DisplayName string `json:"displayName"`
	Description string `json:"description,omitempty"`
	Homepage    string `json:"homepage,omitempty"`
	Owner       string `json:"owner"`
	Enabled     bool   `json:"enabled"`
	Hidden      bool   `json:"hidden"`
	// DeclFile, DeclType and DeclValue describe a declarative project's
	// spec input (Hydra's declarative jobsets).
	DeclFile  string `json:"declFile,omitempty"`
	DeclType  string `json:"declType,omitempty"`
	DeclValue string `json:"declValue,omitempty"`
	// EnableDynamicRunCommand lets the project's jobsets that enable it
	// too run their runCommandHook.* jobs (Hydra's
	// enable_dynamic_run_command).
	EnableDynamicRunCommand bool `json:"enableDynamicRunCommand,omitempty"`
}

// ProjectCreated records a new project. RenamedFrom is set when the
// project is an existing one under a new name (RenameProject): its
// jobsets, builds and evaluations move with it.
type ProjectCreated struct {
	Name        string `json:"name"`
	RenamedFrom string `json:"renamedFrom,omitempty"`
	ProjectConfig
}

// ProjectUpdated records a project's new configuration, whole.
type ProjectUpdated struct {
	Name string `json:"name"`
	ProjectConfig
}

// ProjectDeleted records the removal of a project and, with it, its
// jobsets. RenamedTo is set when the project lives on under that name:
// nothing is removed.
type ProjectDeleted struct {
	Name      string `json:"name"`
	RenamedTo string `json:"renamedTo,omitempty"`
}

// ProjectMembersChanged records the new list of a project's members, who
// count as its owners for permissions.
type ProjectMembersChanged struct {
	Project string   `json:"project"`
	Members []string `json:"members"`
}

// JobsetInput is one input of a jobset: a name, a type (git, path, string,
// boolean, nix, build, eval, …) and its value.
type JobsetInput struct {
	Name             string `json:"name"`
	Type             string `json:"type"`
	Value            string `json:"value"`
	EmailResponsible bool   `json:"emailResponsible,omitempty"`
}

// JobsetConfig is the whole editable configuration of a jobset. Type 0 is
// a legacy jobset (NixExprInput and NixExprPath set), type 1 a flake.
type JobsetConfig struct {
	Description      string `json:"description,omitempty"`
	Type             int    `json:"type"`
	NixExprInput     string `json:"nixExprInput,omitempty"`
	NixExprPath      string `json:"nixExprPath,omitempty"`
	Flake            string `json:"flake,omitempty"`
	Enabled          int    `json:"enabled"`
	Hidden           bool   `json:"hidden"`
	EnableEmail      bool   `json:"enableEmail"`
	EmailOverride    string `json:"emailOverride,omitempty"`
	KeepNr           int    `json:"keepNr"`
	CheckInterval    int    `json:"checkInterval"`
	SchedulingShares int    `json:"schedulingShares"`
	// VerifyFraction is the share (0 to 1) of the jobset's built
	// derivations the scheduler rebuilds on another machine to check that
	// their outputs are reproducible (added field, optional).
	VerifyFraction float64       `json:"verifyFraction,omitempty"`
	Inputs         []JobsetInput `json:"inputs,omitempty"`
	// EnableDynamicRunCommand runs the jobset's runCommandHook.* jobs
	// when its project and the server enable them too (Hydra's
	// enable_dynamic_run_command).
	EnableDynamicRunCommand bool `json:"enableDynamicRunCommand,omitempty"`
}

// JobsetCreated records a new jobset. ID is its numeric id (Hydra's
// Jobsets.id). RenamedFrom is set when the jobset is the new name of an
// existing one. RenamedFromProject is also set when the jobset moved with
// its renamed project (RenamedFrom is then its name, unchanged).
type JobsetCreated struct {
	Project            string `json:"project"`
	Name               string `json:"name"`
	ID                 int64  `json:"id"`
	RenamedFrom        string `json:"renamedFrom,omitempty"`
	RenamedFromProject string `json:"renamedFromProject,omitempty"`
	JobsetConfig
}

// JobsetUpdated records a jobset's new configuration, whole.
type JobsetUpdated struct {
	Project string `json:"project"`
	Name    string `json:"name"`
	JobsetConfig
}

// JobsetDeleted records the removal of a jobset. RenamedTo is set when it
// lives on under another name; RenamedToProject when it moved with its
// renamed project (RenamedTo is then its name, unchanged).
type JobsetDeleted struct {
	Project          string `json:"project"`
	Name             string `json:"name"`
	RenamedTo        string `json:"renamedTo,omitempty"`
	RenamedToProject string `json:"renamedToProject,omitempty"`
}

// UserCreated records a new user (version 2). It carries no credential
// and no personal data in clear: the password hash lives in the
// credential table of the command side, and the full name and email
// address are sealed (Profile) with the user's own key, which lives
// outside the log and is destroyed when the user is forgotten.
//
// Version 1 carried passwordHash, fullName and emailAddress in clear; its
// upcaster drops the hash and keeps the clear fields, which only such
// old events set.
type UserCreated struct {
	UserName string   `json:"userName"`
	Type     string   `json:"type"`
	Roles    []string `json:"roles,omitempty"`
	// KeyID names the key that sealed Profile.
	KeyID string `json:"keyId,omitempty"`
	// Profile is the sealed full name and email address (domain/user).
	Profile []byte `json:"profile,omitempty"`
	// FullName and EmailAddress are set by version 1 events only.
	FullName     string `json:"fullName,omitempty"`
	EmailAddress string `json:"emailAddress,omitempty"`
	// EmailOnError and PublicDashboard are a user's settings as created,
	// set by an import from Hydra; events recorded before they existed
	// decode to false, what every new user had, so they need no version.
	EmailOnError    bool `json:"emailOnError,omitempty"`
	PublicDashboard bool `json:"publicDashboard,omitempty"`
}

// UserUpdated records a user's new profile (version 2), sealed as in
// UserCreated. PasswordChanged says a new password hash was stored in
// the credential table; the hash itself is never recorded.
// PublicDashboard (Hydra's Users.publicDashboard) lets anyone see the
// user's dashboard; events recorded before it existed decode to false,
// which is what every user had then, so it needs no new version.
type UserUpdated struct {
	UserName        string `json:"userName"`
	KeyID           string `json:"keyId,omitempty"`
	Profile         []byte `json:"profile,omitempty"`
	EmailOnError    bool   `json:"emailOnError,omitempty"`
	PublicDashboard bool   `json:"publicDashboard,omitempty"`
	PasswordChanged bool   `json:"passwordChanged,omitempty"`
	// FullName and EmailAddress are set by version 1 events only.
	FullName     string `json:"fullName,omitempty"`
	EmailAddress string `json:"emailAddress,omitempty"`
}

// UserForgotten records that a user's personal data was erased: the key
// that sealed their profiles was destroyed, and their credential and
// roles removed. It carries nothing personal. The user name stays, as
// every actor in the log names it.
type UserForgotten struct {
	UserName string `json:"userName"`
}

// UserDeleted records the removal of a user.
type UserDeleted struct {
	UserName string `json:"userName"`
}

// UserDisabled records that a user may no longer sign in: their sessions
// end and their tokens are refused until UserEnabled.
type UserDisabled struct {
	UserName string `json:"userName"`
}

// UserEnabled records that a disabled user may sign in again.
type UserEnabled struct {
	UserName string `json:"userName"`
}

// UserSessionsRevoked records that every session of a user was ended
// ("log out everywhere"). API tokens are not sessions and stay valid.
type UserSessionsRevoked struct {
	UserName string `json:"userName"`
}

// UserRolesChanged records a user's new set of roles, whole.
type UserRolesChanged struct {
	UserName string   `json:"userName"`
	Roles    []string `json:"roles"`
}

// MachineConfig is a build machine as a Nix machines-file line describes it.
type MachineConfig struct {
	// URI is ssh://user@host[:port] or "localhost".
	URI               string   `json:"uri"`
	Systems           []string `json:"systems"`
	SSHKey            string   `json:"sshKey,omitempty"`
	MaxJobs           int      `json:"maxJobs"`
	SpeedFactor       float64  `json:"speedFactor"`
	SupportedFeatures []string `json:"supportedFeatures,omitempty"`
	MandatoryFeatures []string `json:"mandatoryFeatures,omitempty"`
	// PublicHostKey pins the builder's SSH host key (base64, as in the
	// machines file); empty means known_hosts decides.
	PublicHostKey string `json:"publicHostKey,omitempty"`
	// Store is the --store argument for the builder's nix, if any.
	Store   string `json:"store,omitempty"`
	Enabled bool   `json:"enabled"`
}

// MachineRegistered records a new build machine.
type MachineRegistered struct {
	Name string `json:"name"`
	MachineConfig
}

// MachineUpdated records a machine's new configuration, whole.
type MachineUpdated struct {
	Name string `json:"name"`
	MachineConfig
}

// MachineRemoved records that a machine no longer takes steps.
type MachineRemoved struct {
	Name string `json:"name"`
}

// IDsReserved records a block of numeric ids (builds, evals, jobsets) taken
// by one allocator; stream ids-<kind>.
type IDsReserved struct {
	Kind  string `json:"kind"`
	First int64  `json:"first"`
	Count int64  `json:"count"`
}

func (ProjectCreated) EventType() string        { return "ProjectCreated" }
func (ProjectUpdated) EventType() string        { return "ProjectUpdated" }
func (ProjectDeleted) EventType() string        { return "ProjectDeleted" }
func (ProjectMembersChanged) EventType() string { return "ProjectMembersChanged" }
func (JobsetCreated) EventType() string         { return "JobsetCreated" }
func (JobsetUpdated) EventType() string         { return "JobsetUpdated" }
func (JobsetDeleted) EventType() string         { return "JobsetDeleted" }
func (UserCreated) EventType() string           { return "UserCreated" }
func (UserUpdated) EventType() string           { return "UserUpdated" }
func (UserDeleted) EventType() string           { return "UserDeleted" }
func (UserForgotten) EventType() string         { return "UserForgotten" }
func (UserRolesChanged) EventType() string      { return "UserRolesChanged" }
func (UserDisabled) EventType() string          { return "UserDisabled" }
func (UserEnabled) EventType() string           { return "UserEnabled" }
func (UserSessionsRevoked) EventType() string   { return "UserSessionsRevoked" }
func (MachineRegistered) EventType() string     { return "MachineRegistered" }
func (MachineUpdated) EventType() string        { return "MachineUpdated" }
func (MachineRemoved) EventType() string        { return "MachineRemoved" }
func (IDsReserved) EventType() string           { return "IDsReserved" }
