// Package email is Hydra's e-mail notifier (#22): the build-finished mail
// of its EmailNotification plugin and the evaluation-error mail of
// hydra-eval-jobset, queued in the outbox (package outbox) and sent over
// SMTP by the delivery worker.
//
// Build mail, as Hydra decides it: email_notification is on, the jobset
// has enableemail, the build was neither aborted nor cancelled (3, 4),
// and the previous finished build of the same job, jobset and system
// (not aborted or cancelled) had another status, or there is none. The
// recipients are the jobset's emailoverride, else the job's maintainers,
// split at commas. The subject is Hydra's: "<status>: Hydra job
// <project:jobset:job>", with " on <system>" when the job's name does
// not hold its system.
//
// Evaluation-error mail: email_notification is on, the project's owner
// has emailonerror, and the error differs from the jobset's last one (a
// successful evaluation forgets it). The subject is Hydra's: "Hydra
// <project>:<jobset> evaluation error".
//
// Recipients are personal data: they are in the outbox's payload, which
// the worker forgets once the mail is delivered, and never in an event.
package email

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"buildledger/commands"
	"buildledger/commands/reactors/outbox"
	"buildledger/events"
)

// Mail is the payload of an e-mail notification.
type Mail struct {
	To      []string          `json:"to"`
	Subject string            `json:"subject"`
	Body    string            `json:"body"`
	Headers map[string]string `json:"headers,omitempty"`
}

// Lookup answers from the read models what the log does not say at hand:
// the previous build of a job and a project owner's address. Wait blocks
// until the read models hold the events up to pos.
type Lookup interface {
	Wait(ctx context.Context, pos events.Position) error
	// PreviousStatus is Hydra's getPreviousBuild: the status of the last
	// finished build before build id of the same jobset, job and system
	// that was not aborted or cancelled.
	PreviousStatus(ctx context.Context, jobsetID int64, job, system string, before int64) (status int, ok bool, err error)
	// Owner returns the e-mail address of a project's owner and whether
	// they want evaluation errors mailed.
	Owner(ctx context.Context, project string) (address string, onError bool, err error)
}

// Config is what hydra.conf says about mail.
type Config struct {
	// BaseURL is base_uri.
	BaseURL string
}

// Reactor queues Hydra's mails.
type Reactor struct {
	rt     *commands.Runtime
	box    *outbox.Outbox
	lookup Lookup
	cfg    Config
	log    *slog.Logger
	md     events.Metadata

	mu sync.Mutex
	// lastError is each jobset's last evaluation error since this
	// process started (Hydra's Jobsets.errormsg).
	lastError map[string]string
}

var _ outbox.Reactor = (*Reactor)(nil)

// New returns the e-mail notifier.
func New(rt *commands.Runtime, box *outbox.Outbox, lookup Lookup, cfg Config, log *slog.Logger) *Reactor {
	if log == nil {
		log = slog.Default()
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://localhost:3000"
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Reactor{rt: rt, box: box, lookup: lookup, cfg: cfg, log: log, md: events.Metadata{Actor: commands.ComponentActor("email")},
		lastError: map[string]string{}}
}

// Name implements outbox.Reactor.
func (*Reactor) Name() string { return "email" }

// Filter implements outbox.Reactor.
func (*Reactor) Filter() events.Filter {
	return events.Filter{Types: []string{"BuildFinished", "EvaluationFailed", "EvaluationFinished"}}
}

// React implements outbox.Reactor.
func (r *Reactor) React(ctx context.Context, rec events.Recorded, p events.Payload) error {
	switch e := p.(type) {
	case *events.BuildFinished:
		return r.buildFinished(ctx, rec, e)
	case *events.EvaluationFinished:
		r.mu.Lock()
		delete(r.lastError, e.Project+":"+e.Jobset)
		r.mu.Unlock()
	case *events.EvaluationFailed:
		return r.evalFailed(ctx, rec, e)
	}
	return nil
}

// StatusName is Hydra's showStatus.
func StatusName(status int) string {
	switch status {
	case 0:
		return "Success"
	case 2:
		return "Dependency failed"
	case 4:
		return "Cancelled"
	case 6:
		return "Failed with output"
	}
	return "Failed"
}

// Subject is Hydra's subject of a build mail.
func Subject(b outbox.Build, status int) string {
	s := StatusName(status) + ": Hydra job " + b.JobName()
	if !strings.Contains(b.Job, b.System) {
		s += " on " + b.System
	}
	return s
}

func (r *Reactor) buildFinished(ctx context.Context, rec events.Recorded, e *events.BuildFinished) error {
	if e.Status == 3 || e.Status == 4 {
		return nil
	}
	b, err := outbox.LoadBuild(ctx, r.rt, e.BuildID, rec.Position)
	if err != nil {
		return err
	}
	js, err := outbox.LoadJobset(ctx, r.rt, b.Project, b.Jobset, rec.Position)
	if err != nil || !js.EnableEmail {
		return err
	}
	if err := r.lookup.Wait(ctx, rec.Position); err != nil {
		return err
	}
	prev, ok, err := r.lookup.PreviousStatus(ctx, b.JobsetID, b.Job, b.System, b.BuildID)
	if err != nil {
		return err
	}
	if ok && prev == e.Status {
		return nil
	}
	to := js.EmailOverride
	if strings.TrimSpace(to) == "" {
		to = b.Meta.Maintainers
	}
	addrs := splitAddresses(to)
	if len(addrs) == 0 {
		return nil
	}
	url := r.cfg.BaseURL + "/build/" + strconv.FormatInt(b.BuildID, 10)
	var change string
	if ok {
		change = fmt.Sprintf("changed from %q to %q", StatusName(prev), StatusName(e.Status))
	} else {
		change = fmt.Sprintf("is now %q", StatusName(e.Status))
	}
	body := fmt.Sprintf("Hello,\n\nbuild %d of the job %s (%s) %s.\n\nThe build's page: %s\n\n-- \nbuildledger, on behalf of this Hydra\n",
		b.BuildID, b.JobName(), b.System, change, url)
	m := Mail{To: addrs, Subject: Subject(b, e.Status), Body: body, Headers: map[string]string{
		"X-Hydra-Project": b.Project, "X-Hydra-Jobset": b.Jobset, "X-Hydra-Job": b.Job, "X-Hydra-System": b.System}}
	return r.queue(ctx, rec, m, "build_finished", b.BuildID, b.EvalID, b.Project, b.Jobset)
}

func (r *Reactor) evalFailed(ctx context.Context, rec events.Recorded, e *events.EvaluationFailed) error {
	msg := strings.TrimRight(e.Error, "\n")
	key := e.Project + ":" + e.Jobset
	r.mu.Lock()
	same := r.lastError[key] == msg
	r.lastError[key] = msg
	r.mu.Unlock()
	if msg == "" || same {
		return nil
	}
	if err := r.lookup.Wait(ctx, rec.Position); err != nil {
		return err
	}
	addr, onError, err := r.lookup.Owner(ctx, e.Project)
	if err != nil || !onError || addr == "" {
		return err
	}
	body := fmt.Sprintf("Hello,\n\nthe evaluation of the jobset %s failed:\n\n%s\n\n-- \nbuildledger, on behalf of this Hydra\n", key, msg)
	m := Mail{To: []string{addr}, Subject: "Hydra " + key + " evaluation error", Body: body,
		Headers: map[string]string{"X-Hydra-Project": e.Project, "X-Hydra-Jobset": e.Jobset}}
	return r.queue(ctx, rec, m, "eval_failed", 0, e.EvalID, e.Project, e.Jobset)
}

func (r *Reactor) queue(ctx context.Context, rec events.Recorded, m Mail, channel string, build, eval int64, project, jobset string) error {
	payload, err := json.Marshal(m)
	if err != nil {
		return err
	}
	// The target names no address: the log keeps no personal data.
	target := fmt.Sprintf("mail %q to %d recipient(s)", m.Subject, len(m.To))
	return r.box.Queue(ctx, r.md, events.NotificationQueued{Plugin: "email", Channel: channel, Target: target, Cause: rec.ID,
		BuildID: build, EvalID: eval, Project: project, Jobset: jobset}, payload)
}

// splitAddresses splits Hydra's comma-separated recipients.
func splitAddresses(s string) []string {
	var out []string
	for a := range strings.SplitSeq(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}
