package web

import "context"

// The query interfaces the web layer reads through. Package
// adapters/postgres/queries implements them over Hydra's tables. A missing
// row is an error wrapping domainerr.ErrNotFound.

// Page selects a window of a long list.
type Page struct {
	Offset int
	Limit  int
}

// ProjectQueries reads projects and jobsets.
type ProjectQueries interface {
	// Projects lists every project by name.
	Projects(ctx context.Context) ([]Project, error)
	// Project returns one project with its jobset names and members.
	Project(ctx context.Context, name string) (Project, error)
	// Jobset returns one jobset with its inputs.
	Jobset(ctx context.Context, project, name string) (Jobset, error)
	// JobsetRenamedTo returns the name the jobset once called old has
	// now (JobsetRenames), or domainerr.ErrNotFound.
	JobsetRenamedTo(ctx context.Context, project, old string) (string, error)
	// ProjectRenamedTo returns the name the project once called old has
	// now (ProjectRenames), or domainerr.ErrNotFound.
	ProjectRenamedTo(ctx context.Context, old string) (string, error)
	// JobsetOverviews lists the jobsets of a project with counts over
	// their current builds.
	JobsetOverviews(ctx context.Context, project string) ([]JobsetOverview, error)
	// JobsetsByRepo lists the jobsets with an input value or flake URI
	// naming the repository repo names, compared by jobset.RepoKey (for
	// push notifications).
	JobsetsByRepo(ctx context.Context, repo string) ([]Jobset, error)
}

// EvalQueries reads evaluations.
type EvalQueries interface {
	// Evals lists the evaluations with new builds of a jobset (all
	// jobsets when project is empty), newest first, and their total
	// count, as Hydra lists them; with members, each with the ids of
	// its member builds (Builds is nil otherwise).
	Evals(ctx context.Context, project, jobset string, p Page, members bool) ([]Eval, int, error)
	// Eval returns one evaluation with its builds and inputs.
	Eval(ctx context.Context, id int64) (Eval, error)
	// PreviousEval returns the id of the evaluation with new builds of
	// the same jobset before id, or 0.
	PreviousEval(ctx context.Context, id int64) (int64, error)
	// LatestFinishedEval returns the id of the jobset's newest evaluation
	// with new builds whose members have all finished, or 0.
	LatestFinishedEval(ctx context.Context, project, jobset string) (int64, error)
	// EvalErrors returns the evaluation's error text ("" for none).
	EvalErrors(ctx context.Context, id int64) (string, error)
}

// BuildFilter selects builds. Zero fields select everything.
type BuildFilter struct {
	Project, Jobset, Job, System string
	EvalID                       int64
	// Finished, when not nil, selects finished or unfinished builds.
	Finished *bool
	// Status, when not nil, selects finished builds with that status.
	Status *int
	// Current selects builds of the jobsets' latest evaluations.
	Current bool
	// BeforeID, when not 0, selects builds with a smaller id: the cursor
	// that pages through a long list (eachBuild).
	BeforeID int64
	// Maintainer, if set, selects builds whose meta.maintainers contain
	// it (case-insensitively, as Hydra's ILIKE).
	Maintainer string
	// Enabled selects builds of enabled jobsets of enabled projects.
	Enabled bool
	Page
}

// BuildQueries reads builds and steps.
type BuildQueries interface {
	// Build returns one build with outputs, products, metrics and evals.
	Build(ctx context.Context, id int64) (Build, error)
	// Builds lists builds by id descending.
	Builds(ctx context.Context, f BuildFilter) ([]Build, error)
	// BuildSteps lists a build's steps by number.
	BuildSteps(ctx context.Context, id int64) ([]BuildStep, error)
	// JobMatrix returns the newest evaluations with new builds (at most
	// 20, newest first) of project:jobset with their member builds of
	// channel jobs or of other jobs, and jobs whose name contains filter
	// (case-insensitive); it stops after the evaluation that brings the
	// builds to maxBuilds (0: no limit).
	JobMatrix(ctx context.Context, project, jobset, filter string, channels bool, maxBuilds int) ([]MatrixEval, error)
	// JobMatrixHead returns the evaluations JobMatrix returns for the
	// jobs (not channels) without a filter, but with the builds of only
	// the first maxJobs jobs in byte order, and how many jobs they have
	// in all: what the jobs tab's HTML shows, read without reading every
	// build.
	JobMatrixHead(ctx context.Context, project, jobset string, maxBuilds, maxJobs int) ([]MatrixEval, int, error)
	// InputRepository reports whether a jobset input of type typ names
	// the repository uri (the first word of its value).
	InputRepository(ctx context.Context, typ, uri string) (bool, error)
	// LastSuccessfulChannel returns the successful build of job in the
	// newest evaluation with new builds of project:jobset that has one
	// (domainerr.ErrNotFound if none).
	LastSuccessfulChannel(ctx context.Context, project, jobset, job string) (int64, error)
	// Constituents lists the builds an aggregate build consists of.
	Constituents(ctx context.Context, id int64) ([]Build, error)
	// Submission returns who submitted an ad-hoc build and how; nil for
	// an evaluated build.
	Submission(ctx context.Context, buildID int64) (*AdhocSubmission, error)
	// Queue lists unfinished builds by global priority (descending) and
	// id, as Hydra's /queue.
	Queue(ctx context.Context, p Page) ([]Build, error)
	// QueueByPriority lists unfinished builds by priority (descending)
	// and id, as Hydra's /api/queue.
	QueueByPriority(ctx context.Context, p Page) ([]Build, error)
	// QueuedNotCurrent lists the unfinished builds that are not members
	// of their jobset's latest evaluation with new builds, by id.
	QueuedNotCurrent(ctx context.Context) ([]int64, error)
	// QueueSize counts unfinished builds.
	QueueSize(ctx context.Context) (int, error)
	// RunningCount counts unfinished builds with a busy step.
	RunningCount(ctx context.Context) (int, error)
	// QueueSummary counts unfinished builds per jobset and system.
	QueueSummary(ctx context.Context) ([]QueueSummary, error)
	// LatestSteps lists finished steps, newest first.
	LatestSteps(ctx context.Context, p Page) ([]BuildStep, error)
	// Machines lists the machines that ran steps with their running steps.
	Machines(ctx context.Context) ([]Machine, error)
	// Search finds projects, jobsets and builds by name, output or drv.
	Search(ctx context.Context, query string, limit int) (SearchResult, error)
	// IsOutput reports whether storePath is an output of a build or of a
	// build step the ledger records: the only store paths the web dumps.
	IsOutput(ctx context.Context, storePath string) (bool, error)
	// StepsByOutput returns, for those of storePaths a finished step
	// built, that step: the succeeded one if any, else the one that
	// stopped first, as Hydra's dependency pages link them.
	StepsByOutput(ctx context.Context, storePaths []string) (map[string]StepRef, error)
	// MetricHistory returns every value of one metric of a job, oldest
	// first.
	MetricHistory(ctx context.Context, project, jobset, job, name string) ([]MetricPoint, error)
}

// LogQueries finds build logs.
type LogQueries interface {
	// StepLog returns where the log of a build's step is (its latest
	// attempt). The top-level step of the build is stepNr 0 ("the build
	// log"): the step building the build's own derivation.
	StepLog(ctx context.Context, buildID int64, stepNr int) (LogRef, error)
	// DrvLog returns where the log of the newest attempt at building
	// drvPath is.
	DrvLog(ctx context.Context, drvPath string) (LogRef, error)
	// RunCommandLog returns the RunCommand run uuid (Hydra's
	// RunCommandLogs row) and where its output is.
	RunCommandLog(ctx context.Context, uuid string) (RunCommandLog, error)
	// RunCommandLogs returns the RunCommand runs of a build, newest
	// first.
	RunCommandLogs(ctx context.Context, buildID int64) ([]RunCommandLog, error)
}

// GraphQueries reads the build graph Hydra never stored.
type GraphQueries interface {
	// EvalGraph returns the edges and nodes of an evaluation's graph.
	EvalGraph(ctx context.Context, evalID int64) ([]GraphNode, []GraphEdge, error)
}

// UserQueries reads users and API tokens.
type UserQueries interface {
	// User returns one user with roles and password hash.
	User(ctx context.Context, name string) (User, error)
	// Users lists every user by name.
	Users(ctx context.Context) ([]User, error)
	// APITokens lists a user's tokens, newest first.
	APITokens(ctx context.Context, user string) ([]APIToken, error)
	// APITokenByHash returns the live (not revoked) token with that hash.
	APITokenByHash(ctx context.Context, hash string) (APIToken, error)
}

// StatsQueries reads the status pages, channels and counts.
type StatsQueries interface {
	// CountBuilds counts the builds f selects (its Page is ignored).
	CountBuilds(ctx context.Context, f BuildFilter) (int, error)
	// LatestSucceeded lists, per job and system, the newest successful
	// build of the scope f selects (project, jobset, job, system).
	LatestSucceeded(ctx context.Context, f BuildFilter) ([]Build, error)
	// FinishedPerPeriod counts the finished builds f selects per period of
	// step seconds since the epoch that they were queued in, for the n
	// newest periods that have any, oldest first.
	FinishedPerPeriod(ctx context.Context, f BuildFilter, step int64, n int) ([]int, error)
	// RunningSteps lists the steps building now.
	RunningSteps(ctx context.Context) ([]BuildStep, error)
	// RunningBuilds lists the builds with a step building now, by global
	// priority (descending) and id, as Hydra's /status.
	RunningBuilds(ctx context.Context) ([]Build, error)
	// BuildMachines lists the enabled build machines configured now, by
	// name.
	BuildMachines(ctx context.Context) ([]BuildMachine, error)
	// OwnedJobsets lists the enabled jobsets of the enabled projects user
	// owns, by project and name.
	OwnedJobsets(ctx context.Context, user string) ([]JobsetOverview, error)
	// UserJobsets lists the jobsets of the projects user owns or is a
	// member of.
	UserJobsets(ctx context.Context, user string) ([]JobsetOverview, error)
}

// SocialQueries reads news items and starred jobs.
type SocialQueries interface {
	// News lists the news items, newest first.
	News(ctx context.Context) ([]NewsItem, error)
	// StarredJobs lists the jobs user starred, by project, jobset, job.
	StarredJobs(ctx context.Context, user string) ([]StarredJob, error)
}

// Queries is every read the web layer makes.
type Queries interface {
	SocialQueries
	StatsQueries
	ProjectQueries
	EvalQueries
	BuildQueries
	LogQueries
	GraphQueries
	UserQueries
	JobQueries
}
