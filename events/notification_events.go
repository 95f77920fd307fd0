package events

// The notification outbox (#22). A reactor that wants to tell the outside
// world something records NotificationQueued in notification-<key>; the
// delivery worker sends it and records each attempt. The request itself
// (a commit status body, a mail with its recipients) is kept outside the
// log, in the command side's outbox table, and named here by its digest:
// tokens and personal data never enter the log.

// NotificationQueued records that a reactor intends to send one
// notification. Key is its idempotency key (also the stream's name and the
// key given to APIs that take one); Plugin is the notifier's Hydra name
// (githubstatus, gitea, gitlab, bitbucket, email, webhook); Channel the
// Hydra notification the cause was (build_queued, build_started,
// build_finished, cached_build_finished, eval_failed). Target names where
// it goes without a secret or an address (a forge URL, "mail: 2
// recipients"). Digest is the SHA-256 of the payload kept outside the log.
type NotificationQueued struct {
	Key     string `json:"key"`
	Plugin  string `json:"plugin"`
	Channel string `json:"channel"`
	Target  string `json:"target"`
	Digest  string `json:"digest"`
	// Cause is the id of the event the notification reacts to.
	Cause    string `json:"cause"`
	BuildID  int64  `json:"buildId,omitempty"`
	EvalID   int64  `json:"evalId,omitempty"`
	Project  string `json:"project,omitempty"`
	Jobset   string `json:"jobset,omitempty"`
	QueuedAt int64  `json:"queuedAt"`
}

// NotificationDelivered records the attempt that delivered a notification;
// Response is what the receiver answered ("201 Created", "250 OK").
type NotificationDelivered struct {
	Key         string `json:"key"`
	Attempt     int    `json:"attempt"`
	Response    string `json:"response,omitempty"`
	DeliveredAt int64  `json:"deliveredAt"`
}

// NotificationFailed records a failed attempt. RetryAt is when the worker
// tries again (Unix seconds, Hydra's TaskRetries backoff); 0 means it
// gave up.
type NotificationFailed struct {
	Key      string `json:"key"`
	Attempt  int    `json:"attempt"`
	Error    string `json:"error"`
	RetryAt  int64  `json:"retryAt"`
	FailedAt int64  `json:"failedAt"`
}

func (NotificationQueued) EventType() string    { return "NotificationQueued" }
func (NotificationDelivered) EventType() string { return "NotificationDelivered" }
func (NotificationFailed) EventType() string    { return "NotificationFailed" }
