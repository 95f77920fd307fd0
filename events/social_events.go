package events

// News and starred jobs, Hydra's NewsItems and StarredJobs. News items go
// to news-<id>; a user's stars to the user's stream.

// NewsItemAdded records a news item an admin posted on the front page.
// ID is Hydra's NewsItems.id; CreateTime a Unix time.
type NewsItemAdded struct {
	ID         int64  `json:"id"`
	Contents   string `json:"contents"`
	CreateTime int64  `json:"createTime"`
	Author     string `json:"author"`
}

// NewsItemRemoved records that a news item was taken down.
type NewsItemRemoved struct {
	ID int64 `json:"id"`
}

// JobStarred records that a user starred a job, which then shows on
// their dashboard.
type JobStarred struct {
	UserName string `json:"userName"`
	Project  string `json:"project"`
	Jobset   string `json:"jobset"`
	Job      string `json:"job"`
}

// JobUnstarred records that a user took a star back.
type JobUnstarred struct {
	UserName string `json:"userName"`
	Project  string `json:"project"`
	Jobset   string `json:"jobset"`
	Job      string `json:"job"`
}

// FailedPathsCleared records that an admin emptied the cache of failed
// output paths (Hydra's FailedPaths, /admin/clear-failed-cache): builds
// whose outputs failed before are built again instead of failing at once.
type FailedPathsCleared struct{}

// VCSCachesCleared records that an admin cleared the caches of fetched
// inputs (Hydra's Cached*Inputs, /admin/clear-vcs-cache): the evaluator
// forgets the deep clones and URL downloads it remembered from before
// Timestamp (Unix seconds) and fetches them again.
type VCSCachesCleared struct {
	Timestamp int64 `json:"timestamp"`
}

func (FailedPathsCleared) EventType() string { return "FailedPathsCleared" }
func (VCSCachesCleared) EventType() string   { return "VCSCachesCleared" }
func (NewsItemAdded) EventType() string      { return "NewsItemAdded" }
func (NewsItemRemoved) EventType() string    { return "NewsItemRemoved" }
func (JobStarred) EventType() string         { return "JobStarred" }
func (JobUnstarred) EventType() string       { return "JobUnstarred" }
