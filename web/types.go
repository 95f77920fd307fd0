package web

import "fmt"

// The read-side types: what the query interfaces return and what the JSON
// API sends. Field names in JSON follow Hydra's API (lowercase column
// names); fields Hydra does not send carry `json:"-"` or are marked as
// buildledger extensions.

// Flag is a yes/no that Hydra stores in an integer column and sends as
// the number 0 or 1 (Builds.finished, JobsetEvals.hasNewBuilds): clients
// compare it with 1, so it must not become a JSON boolean. It reads
// either form.
type Flag bool

// MarshalJSON sends 1 or 0.
func (f Flag) MarshalJSON() ([]byte, error) {
	if f {
		return []byte("1"), nil
	}
	return []byte("0"), nil
}

// UnmarshalJSON reads 0/1 or false/true.
func (f *Flag) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "1", "true":
		*f = true
	case "0", "false", "null":
		*f = false
	default:
		return fmt.Errorf("flag %s: want 0 or 1", b)
	}
	return nil
}

// Declarative is a declarative project's spec input.
type Declarative struct {
	File  string `json:"file"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Project is a row of Projects with its jobset names.
type Project struct {
	Name                    string       `json:"name"`
	DisplayName             string       `json:"displayname"`
	Description             string       `json:"description"`
	Homepage                string       `json:"homepage"`
	Owner                   string       `json:"owner"`
	Enabled                 bool         `json:"enabled"`
	Hidden                  bool         `json:"hidden"`
	EnableDynamicRunCommand bool         `json:"enable_dynamic_run_command"`
	Declarative             *Declarative `json:"declarative,omitempty"`
	Jobsets                 []string     `json:"jobsets"`
	// Members are the users in ProjectMembers (buildledger extension).
	Members []string `json:"members"`
}

// JobsetInput is one input of a jobset, as Hydra's API shows it.
type JobsetInput struct {
	Name             string `json:"name"`
	Type             string `json:"type"`
	Value            string `json:"value"`
	EmailResponsible bool   `json:"emailresponsible"`
}

// Jobset is a row of Jobsets with its inputs. Its text columns are ""
// when NULL, as Hydra's Jobsets as_json sends them.
type Jobset struct {
	ID                      int64                  `json:"-"`
	Name                    string                 `json:"name"`
	Project                 string                 `json:"project"`
	Description             string                 `json:"description"`
	NixExprInput            string                 `json:"nixexprinput"`
	NixExprPath             string                 `json:"nixexprpath"`
	ErrorMsg                string                 `json:"errormsg"`
	ErrorTime               *int64                 `json:"errortime"`
	LastCheckedTime         *int64                 `json:"lastcheckedtime"`
	TriggerTime             *int64                 `json:"triggertime"`
	Enabled                 int                    `json:"enabled"`
	EnableEmail             bool                   `json:"enableemail"`
	EnableDynamicRunCommand bool                   `json:"enable_dynamic_run_command"`
	Visible                 bool                   `json:"visible"`
	EmailOverride           string                 `json:"emailoverride"`
	KeepNr                  int                    `json:"keepnr"`
	CheckInterval           int                    `json:"checkinterval"`
	SchedulingShares        int                    `json:"schedulingshares"`
	VerifyFraction          float64                `json:"verifyfraction,omitempty"`
	FetchErrorMsg           string                 `json:"fetcherrormsg"`
	StartTime               *int64                 `json:"starttime"`
	Type                    int                    `json:"type"`
	Flake                   string                 `json:"flake"`
	Inputs                  map[string]JobsetInput `json:"inputs"`
}

// JobsetOverview is one row of /api/jobsets and of a project's jobset
// table: counts over the jobset's current builds.
type JobsetOverview struct {
	Name            string  `json:"name"`
	Project         string  `json:"project"`
	Description     *string `json:"description"`
	NrTotal         int     `json:"nrtotal"`
	NrScheduled     int     `json:"nrscheduled"`
	NrSucceeded     int     `json:"nrsucceeded"`
	NrFailed        int     `json:"nrfailed"`
	CheckInterval   int     `json:"checkinterval"`
	HasErrorMsg     bool    `json:"haserrormsg"`
	ErrorTime       *int64  `json:"errortime"`
	FetchErrorMsg   *string `json:"fetcherrormsg"`
	StartTime       *int64  `json:"starttime"`
	LastCheckedTime *int64  `json:"lastcheckedtime"`
	TriggerTime     *int64  `json:"triggertime"`
	Enabled         int     `json:"enabled"`
}

// EvalInput is one row of JobsetEvalInputs.
type EvalInput struct {
	URI        *string `json:"uri"`
	Type       string  `json:"type"`
	Revision   *string `json:"revision"`
	Value      *string `json:"value"`
	Dependency *int64  `json:"dependency"`
}

// Eval is a row of JobsetEvals with its member builds and inputs.
type Eval struct {
	ID           int64                `json:"id"`
	Project      string               `json:"project"`
	Jobset       string               `json:"jobset"`
	Timestamp    int64                `json:"timestamp"`
	CheckoutTime int64                `json:"checkouttime"`
	EvalTime     int64                `json:"evaltime"`
	HasNewBuilds Flag                 `json:"hasnewbuilds"`
	Flake        *string              `json:"flake"`
	Builds       []int64              `json:"builds"`
	Inputs       map[string]EvalInput `json:"jobsetevalinputs"`
	// HasErrors is true when the evaluation recorded per-job errors.
	HasErrors bool `json:"-"`
	// Counts over the member builds (for lists).
	NrBuilds    int `json:"-"`
	NrSucceeded int `json:"-"`
	NrFailed    int `json:"-"`
	NrQueued    int `json:"-"`
}

// BuildOutput is one output of a build.
type BuildOutput struct {
	Path string `json:"path"`
}

// BuildProduct is one row of BuildProducts.
type BuildProduct struct {
	Nr          int     `json:"-"`
	Type        string  `json:"type"`
	Subtype     string  `json:"subtype"`
	Name        string  `json:"name"`
	Path        string  `json:"path"`
	DefaultPath string  `json:"defaultpath"`
	FileSize    *int64  `json:"filesize"`
	SHA256Hash  *string `json:"sha256hash"`
}

// BuildMetric is one row of BuildMetrics.
type BuildMetric struct {
	Name  string  `json:"name"`
	Unit  string  `json:"unit"`
	Value float64 `json:"value"`
}

// Build is a row of Builds with what the build page shows.
type Build struct {
	ID             int64                   `json:"id"`
	Finished       Flag                    `json:"finished"`
	Timestamp      int64                   `json:"timestamp"`
	StartTime      *int64                  `json:"starttime"`
	StopTime       *int64                  `json:"stoptime"`
	Project        string                  `json:"project"`
	Jobset         string                  `json:"jobset"`
	Job            string                  `json:"job"`
	NixName        *string                 `json:"nixname"`
	System         string                  `json:"system"`
	Priority       int                     `json:"priority"`
	GlobalPriority int                     `json:"globalpriority"`
	BuildStatus    *int                    `json:"buildstatus"`
	ReleaseName    *string                 `json:"releasename"`
	DrvPath        string                  `json:"drvpath"`
	IsCachedBuild  bool                    `json:"iscachedbuild"`
	Keep           bool                    `json:"keep"`
	Size           *int64                  `json:"size"`
	ClosureSize    *int64                  `json:"closuresize"`
	JobsetEvals    []int64                 `json:"jobsetevals"`
	Outputs        map[string]BuildOutput  `json:"buildoutputs"`
	Products       map[string]BuildProduct `json:"buildproducts"`
	Metrics        map[string]BuildMetric  `json:"buildmetrics"`
	// Busy is true while a step of the build runs.
	Busy bool `json:"-"`
	// Meta is the job's meta as evaluated, which a channel's
	// expression carries (Hydra's build JSON has none of it).
	Meta BuildMeta `json:"-"`
}

// BuildMeta is the part of a job's meta a build keeps.
type BuildMeta struct {
	Description, License, Maintainers *string
}

// BuildStep is a row of BuildSteps.
type BuildStep struct {
	Build              int64   `json:"build"`
	StepNr             int     `json:"stepnr"`
	Type               int     `json:"type"`
	DrvPath            string  `json:"drvpath"`
	Busy               int     `json:"busy"`
	Status             *int    `json:"status"`
	ErrorMsg           *string `json:"errormsg"`
	StartTime          *int64  `json:"starttime"`
	StopTime           *int64  `json:"stoptime"`
	Machine            string  `json:"machine"`
	System             *string `json:"system"`
	PropagatedFrom     *int64  `json:"propagatedfrom"`
	TimesBuilt         *int    `json:"timesbuilt"`
	IsNonDeterministic *bool   `json:"isnondeterministic"`
	// Job and Project/Jobset of the build, for lists of steps.
	Project string `json:"project,omitempty"`
	Jobset  string `json:"jobset,omitempty"`
	Job     string `json:"job,omitempty"`
}

// QueueSummary is one row of /queue-summary.
type QueueSummary struct {
	Project string `json:"project"`
	Jobset  string `json:"jobset"`
	System  string `json:"system"`
	Queued  int    `json:"queued"`
	Running int    `json:"running"`
}

// Machine is a build machine seen in step attempts with its running steps.
type Machine struct {
	Name         string      `json:"name"`
	LastActive   *int64      `json:"lastactive"`
	Running      []BuildStep `json:"running"`
	NrStepsDone  int         `json:"nrstepsdone"`
	NrStepsTotal int         `json:"nrsteps"`
}

// BuildMachine is a build machine as the log configures it.
type BuildMachine struct {
	Name              string
	Systems           []string
	SupportedFeatures []string
	MandatoryFeatures []string
	MaxJobs           int
	SpeedFactor       float64
}

// SearchResult is the answer of /search.
type SearchResult struct {
	Projects  []Project `json:"projects"`
	Jobsets   []Jobset  `json:"jobsets"`
	Builds    []Build   `json:"builds"`
	BuildsDrv []Build   `json:"buildsdrv"`
}

// User is a row of Users with its roles. Password is the stored hash
// (from the command side's credential table) and is never sent. A
// forgotten user has no profile, password or roles, and FullName says
// "forgotten user".
type User struct {
	UserName     string   `json:"username"`
	FullName     string   `json:"fullname"`
	EmailAddress string   `json:"emailaddress"`
	Type         string   `json:"type"`
	Roles        []string `json:"userroles"`
	Forgotten    bool     `json:"forgotten,omitempty"`
	// Disabled users cannot sign in; their sessions and tokens are refused.
	Disabled bool `json:"disabled,omitempty"`
	// PublicDashboard shows /dashboard/<user> to everyone, as in Hydra.
	PublicDashboard bool   `json:"publicdashboard,omitempty"`
	Password        string `json:"-"`
}

// LogRef tells where the log of a step attempt is.
type LogRef struct {
	DrvPath string
	// Location is the log's place in the log store (Logs).
	Location string
	// Running is true while the attempt has not finished.
	Running bool
}

// GraphNode is a derivation of a build graph with its step's state.
type GraphNode struct {
	DrvPath string `json:"drvpath"`
	// Status is the step's Hydra status, nil while queued or running or
	// when no step was needed.
	Status *int `json:"status"`
	Busy   int  `json:"busy"`
	// Known is false for derivations with no step (already built).
	Known   bool   `json:"known"`
	Machine string `json:"machine,omitempty"`
}

// GraphEdge says DrvPath needs InputDrv.
type GraphEdge struct {
	DrvPath  string `json:"drvpath"`
	InputDrv string `json:"inputdrv"`
}

// APIToken is a row of api_tokens without its hash.
type APIToken struct {
	ID       string `json:"id"`
	UserName string `json:"username"`
	Name     string `json:"name"`
	Scope    string `json:"scope"`
	// MintedBy names the admin who minted the token for its user.
	MintedBy   string `json:"mintedby,omitempty"`
	CreatedAt  int64  `json:"created"`
	LastUsedAt *int64 `json:"lastused"`
	RevokedAt  *int64 `json:"revoked"`
}

// MetricPoint is one value of a job's metric, from one build.
type MetricPoint struct {
	Build     int64   `json:"id"`
	Timestamp int64   `json:"timestamp"`
	Value     float64 `json:"value"`
	Unit      string  `json:"unit"`
}

// NewsItem is a news item of the front page, as Hydra's NewsItems row.
type NewsItem struct {
	ID         int64  `json:"id"`
	Contents   string `json:"contents"`
	CreateTime int64  `json:"createtime"`
	Author     string `json:"author"`
}

// StarredJob is a job a user starred, with its newest builds on the
// dashboard.
type StarredJob struct {
	Project string  `json:"project"`
	Jobset  string  `json:"jobset"`
	Job     string  `json:"job"`
	Builds  []Build `json:"builds"`
}

// MatrixBuild is one cell of a jobset's jobs or channels tab.
type MatrixBuild struct {
	ID          int64 `json:"id"`
	Finished    Flag  `json:"finished"`
	BuildStatus *int  `json:"buildstatus"`
}

// MatrixEval is one column of a jobset's jobs or channels tab: an
// evaluation with new builds and its builds by job.
type MatrixEval struct {
	ID        int64                  `json:"-"`
	Timestamp int64                  `json:"timestamp"`
	Builds    map[string]MatrixBuild `json:"builds"`
}
