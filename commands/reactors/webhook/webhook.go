// Package webhook is buildledger's generic JSON webhook (#22), which
// Hydra does not have: per project, each finished build and each failed
// evaluation is POSTed as JSON to the project's URLs, signed with
// HMAC-SHA256 over the body (X-Hub-Signature-256: sha256=<hex>, as GitHub
// signs its webhooks). The body's "text" field is what Slack's incoming
// webhooks and Matrix's hookshot show; the other fields are for programs.
package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	neturl "net/url"
	"strconv"
	"strings"

	"buildledger/commands"
	"buildledger/commands/reactors/email"
	"buildledger/commands/reactors/outbox"
	"buildledger/events"
)

// Hook is one webhook of a project. Secret names the signing key the
// sender holds ("webhook/<project>/<n>"); the key itself never reaches
// the notifier.
type Hook struct {
	Project string
	URL     string
	Secret  string
}

// Body is what a webhook receives.
type Body struct {
	Text    string `json:"text"`
	Event   string `json:"event"`
	Project string `json:"project"`
	Jobset  string `json:"jobset"`
	Job     string `json:"job,omitempty"`
	Build   int64  `json:"build,omitempty"`
	Eval    int64  `json:"eval,omitempty"`
	Status  *int   `json:"buildStatus,omitempty"`
	// StatusName is Hydra's name of the status ("Success", "Failed", …).
	StatusName string `json:"buildStatusName,omitempty"`
	URL        string `json:"url"`
	Error      string `json:"error,omitempty"`
}

// Reactor queues webhook deliveries.
type Reactor struct {
	rt      *commands.Runtime
	box     *outbox.Outbox
	hooks   []Hook
	baseURL string
	md      events.Metadata
}

var _ outbox.Reactor = (*Reactor)(nil)

// New returns the webhook notifier of hooks.
func New(rt *commands.Runtime, box *outbox.Outbox, hooks []Hook, baseURL string, _ *slog.Logger) *Reactor {
	if baseURL == "" {
		baseURL = "http://localhost:3000"
	}
	return &Reactor{rt: rt, box: box, hooks: hooks, baseURL: strings.TrimRight(baseURL, "/"),
		md: events.Metadata{Actor: commands.ComponentActor("webhook")}}
}

// Name implements outbox.Reactor.
func (*Reactor) Name() string { return "webhook" }

// Filter implements outbox.Reactor.
func (*Reactor) Filter() events.Filter {
	return events.Filter{Types: []string{"BuildFinished", "EvaluationFailed"}}
}

// React implements outbox.Reactor.
func (r *Reactor) React(ctx context.Context, rec events.Recorded, p events.Payload) error {
	var body Body
	var build int64
	switch e := p.(type) {
	case *events.BuildFinished:
		b, err := outbox.LoadBuild(ctx, r.rt, e.BuildID, rec.Position)
		if err != nil {
			return err
		}
		st := e.Status
		url := r.baseURL + "/build/" + strconv.FormatInt(b.BuildID, 10)
		body = Body{Event: "build_finished", Project: b.Project, Jobset: b.Jobset, Job: b.Job, Build: b.BuildID, Eval: b.EvalID,
			Status: &st, StatusName: email.StatusName(st), URL: url,
			Text: fmt.Sprintf("%s: Hydra job %s, build %d: %s", email.StatusName(st), b.JobName(), b.BuildID, url)}
		build = b.BuildID
	case *events.EvaluationFailed:
		url := r.baseURL + "/jobset/" + e.Project + "/" + e.Jobset
		body = Body{Event: "eval_failed", Project: e.Project, Jobset: e.Jobset, Eval: e.EvalID, URL: url, Error: e.Error,
			Text: fmt.Sprintf("Evaluation of %s:%s failed: %s", e.Project, e.Jobset, url)}
	default:
		return nil
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	for i, h := range r.hooks {
		if h.Project != body.Project {
			continue
		}
		payload, err := json.Marshal(outbox.HTTPRequest{Method: "POST", URL: h.URL, HMACKey: h.Secret,
			Header: map[string]string{"X-Buildledger-Event": body.Event}, Body: raw})
		if err != nil {
			return err
		}
		// The target names the host only: a webhook URL is often a
		// credential itself (Slack's), and the log keeps no secret.
		target := fmt.Sprintf("webhook %d at %s", i+1, host(h.URL))
		q := events.NotificationQueued{Plugin: "webhook", Channel: body.Event, Target: target, Cause: rec.ID,
			BuildID: build, EvalID: body.Eval, Project: body.Project, Jobset: body.Jobset}
		if err := r.box.Queue(ctx, r.md, q, payload); err != nil {
			return err
		}
	}
	return nil
}

// host is the host of a URL, or "?" for one that does not parse.
func host(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil || u.Host == "" {
		return "?"
	}
	return u.Host
}
