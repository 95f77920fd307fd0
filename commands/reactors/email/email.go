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
// A failed step that takes other builds with it is mailed once, as
// Hydra's buildFinished(topbuild, dependents): the BuildFinished of the
// build the step ran for lists them (Dependents) and is in the log
// before theirs, so its mail is written at once. Each address gets one
// mail about that build listing the dependents whose own rules send it
// mail, with " (and N others)" in the subject; a dependent so listed is
// not mailed again at its own finish. One not listed (a later cached
// failure) is mailed on its own.
//
// emailresponsible, as Hydra's getResponsibleAuthors: when there is a
// previous build, each git input of the build's evaluation whose URI is
// the one of the previous build's evaluation and whose revision moved
// gives its commits in between (Commits); the mail names their authors,
// and, when the status changed or there is no previous build, the
// authors of the commits to inputs marked "email responsible" get the
// mail too, whether or not the jobset has enableemail.
//
// Evaluation-error mail: email_notification is on, the project's owner
// has emailonerror, and the error differs from the jobset's last one (a
// successful evaluation forgets it). The last error is read from the
// log (the jobset's EvaluationClosed events and the failed evaluation's
// stream), so a restart does not mail a repeated error again. The
// subject is Hydra's: "Hydra <project>:<jobset> evaluation error".
//
// Recipients are personal data: they are in the outbox's payload, which
// the worker forgets once the mail is delivered, and never in an event.
package email

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"buildledger/commands"
	"buildledger/commands/reactors/outbox"
	"buildledger/domain/jobset"
	"buildledger/domain/notification"
	"buildledger/domain/streams"
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
	// PreviousBuild is Hydra's getPreviousBuild: the id and status of
	// the last finished build before build id of the same jobset, job
	// and system that was not aborted or cancelled.
	PreviousBuild(ctx context.Context, jobsetID int64, job, system string, before int64) (id int64, status int, ok bool, err error)
	// Owner returns the e-mail address of a project's owner and whether
	// they want evaluation errors mailed.
	Owner(ctx context.Context, project string) (address string, onError bool, err error)
}

// Commit is a commit to an input between two builds.
type Commit struct{ Revision, Author, Email string }

// Commits lists the commits after rev1 up to rev2 of an input (Hydra's
// getCommits); types without commits give none.
type Commits interface {
	Commits(ctx context.Context, typ, uri, rev1, rev2 string) ([]Commit, error)
}

// Config is what hydra.conf says about mail.
type Config struct {
	// BaseURL is base_uri.
	BaseURL string
}

// Reactor queues Hydra's mails.
type Reactor struct {
	rt      *commands.Runtime
	box     *outbox.Outbox
	lookup  Lookup
	commits Commits
	cfg     Config
	log     *slog.Logger
	md      events.Metadata
}

var _ outbox.Reactor = (*Reactor)(nil)

// New returns the e-mail notifier. commits may be nil: no mail then
// names or goes to the authors of commits.
func New(rt *commands.Runtime, box *outbox.Outbox, lookup Lookup, commits Commits, cfg Config, log *slog.Logger) *Reactor {
	if log == nil {
		log = slog.Default()
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://localhost:3000"
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Reactor{rt: rt, box: box, lookup: lookup, commits: commits, cfg: cfg, log: log,
		md: events.Metadata{Actor: commands.ComponentActor("email")}}
}

// Name implements outbox.Reactor.
func (*Reactor) Name() string { return "email" }

// Filter implements outbox.Reactor.
func (*Reactor) Filter() events.Filter {
	return events.Filter{Types: []string{"BuildFinished", "EvaluationFailed"}}
}

// React implements outbox.Reactor.
func (r *Reactor) React(ctx context.Context, rec events.Recorded, p events.Payload) error {
	switch e := p.(type) {
	case *events.BuildFinished:
		return r.buildFinished(ctx, rec, e)
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
	if e.PropagatedFrom != 0 {
		listed, err := outbox.ListedByTop(ctx, r.rt, rec.Position, e)
		if err != nil || listed {
			return err
		}
	}
	top, err := r.consider(ctx, rec, e.BuildID, e.Status)
	if err != nil {
		return err
	}
	// Hydra's per-address lists: each address gets the builds of this
	// failure whose own rules send it mail.
	var order []string
	builds := map[string][]int{}
	add := func(addrs []string, i int) {
		for _, a := range addrs {
			k := strings.ToLower(a)
			if _, ok := builds[k]; !ok {
				order = append(order, a)
			}
			builds[k] = append(builds[k], i)
		}
	}
	add(top.to, -1)
	deps := make([]considered, len(e.Dependents))
	for i, d := range e.Dependents {
		if deps[i], err = r.consider(ctx, rec, d.BuildID, d.Status); err != nil {
			return err
		}
		add(deps[i].to, i)
	}
	var au authors
	if top.prevOK {
		if au, err = r.responsibleAuthors(ctx, rec, top.b, top.prevID, top.js); err != nil {
			return err
		}
	}
	if len(au.names) > 0 && top.changed {
		// As Hydra: an author of a commit to an "email responsible"
		// input hears of the top build alone.
		for _, a := range au.emailable {
			k := strings.ToLower(a)
			if _, ok := builds[k]; !ok {
				order = append(order, a)
			}
			builds[k] = []int{-1}
		}
	}
	// One mail per distinct list, to every address that gets it.
	var mails []Mail
	var lists [][]int
	for _, a := range order {
		list := slices.DeleteFunc(slices.Clone(builds[strings.ToLower(a)]), func(i int) bool { return i < 0 })
		j := slices.IndexFunc(lists, func(l []int) bool { return slices.Equal(l, list) })
		if j < 0 {
			lists = append(lists, list)
			mails = append(mails, r.buildMail(top, e.Status, deps, list, au))
			j = len(mails) - 1
		}
		mails[j].To = append(mails[j].To, a)
	}
	for i, m := range mails {
		q := events.NotificationQueued{Channel: "build_finished", BuildID: top.b.BuildID, EvalID: top.b.EvalID, Project: top.b.Project, Jobset: top.b.Jobset}
		if i > 0 {
			// Mails of one event that differ only in their list would
			// otherwise share a key.
			q.Key = notification.Key(rec.ID+"#"+strconv.Itoa(i), "email", target(m))
		}
		if err := queueMail(ctx, r.box, r.md, rec.ID, m, q); err != nil {
			return err
		}
	}
	return nil
}

// considered is what Hydra's rules say of one finished build: to whom
// its own mail goes and how its status compares with the previous
// build's.
type considered struct {
	b           outbox.Build
	js          events.JobsetConfig
	status      int
	prevID      int64
	prev        int
	prevOK      bool
	changed     bool
	responsible bool
	to          []string
}

// consider applies Hydra's rules to build id, finished with status.
func (r *Reactor) consider(ctx context.Context, rec events.Recorded, id int64, status int) (considered, error) {
	c := considered{status: status}
	var err error
	if c.b, err = outbox.LoadBuild(ctx, r.rt, id, rec.Position); err != nil {
		return c, err
	}
	if c.js, err = outbox.LoadJobset(ctx, r.rt, c.b.Project, c.b.Jobset, rec.Position); err != nil {
		return c, err
	}
	c.responsible = r.commits != nil && slices.ContainsFunc(c.js.Inputs, func(in events.JobsetInput) bool { return in.EmailResponsible })
	if !c.js.EnableEmail && !c.responsible {
		return c, nil
	}
	if err := r.lookup.Wait(ctx, rec.Position); err != nil {
		return c, err
	}
	if c.prevID, c.prev, c.prevOK, err = r.lookup.PreviousBuild(ctx, c.b.JobsetID, c.b.Job, c.b.System, c.b.BuildID); err != nil {
		return c, err
	}
	c.changed = !c.prevOK || c.prev != status
	if c.js.EnableEmail && status != 3 && status != 4 && c.changed {
		addrs := c.js.EmailOverride
		if strings.TrimSpace(addrs) == "" {
			addrs = c.b.Meta.Maintainers
		}
		c.to = dedupe(splitAddresses(addrs))
	}
	return c, nil
}

// buildMail writes the mail about top that lists the dependents deps[i]
// for i in list; To is left for the caller.
func (r *Reactor) buildMail(top considered, status int, deps []considered, list []int, au authors) Mail {
	b := top.b
	var change string
	if top.prevOK && top.changed {
		change = fmt.Sprintf("changed from %q to %q", StatusName(top.prev), StatusName(status))
	} else {
		change = fmt.Sprintf("is now %q", StatusName(status))
	}
	body := fmt.Sprintf("Hello,\n\nbuild %d of the job %s (%s) %s.\n\nThe build's page: %s\n", b.BuildID, b.JobName(), b.System, change, r.buildURL(b.BuildID))
	if len(list) > 0 {
		body += "\nBuilds that needed what failed there failed with it:\n\n"
		for _, i := range list {
			d := deps[i]
			body += fmt.Sprintf("  - build %d of %s (%s): %s\n", d.b.BuildID, d.b.JobName(), StatusName(d.status), r.buildURL(d.b.BuildID))
		}
	}
	if au.commits > 0 && top.changed && len(au.names) > 0 {
		what := "1 commit"
		if au.commits > 1 {
			what = fmt.Sprintf("%d commits", au.commits)
		}
		body += fmt.Sprintf("\nInputs changed since the previous build: %s, by %s.\n", what, au.list())
	}
	body += "\n-- \nbuildledger, on behalf of this Hydra\n"
	subject := Subject(b, status)
	if len(list) > 0 {
		subject += fmt.Sprintf(" (and %d others)", len(list))
	}
	return Mail{Subject: subject, Body: body, Headers: map[string]string{
		"X-Hydra-Project": b.Project, "X-Hydra-Jobset": b.Jobset, "X-Hydra-Job": b.Job, "X-Hydra-System": b.System}}
}

func (r *Reactor) buildURL(id int64) string {
	return r.cfg.BaseURL + "/build/" + strconv.FormatInt(id, 10)
}

// authors are the authors of the commits to a build's inputs since the
// previous build: names maps each name to an address (Hydra keeps one
// per name), emailable are the addresses of commits to inputs marked
// "email responsible".
type authors struct {
	names     map[string]string
	emailable []string
	commits   int
}

// list is Hydra's author list: "A <a>, B <b> or C <c>", sorted by name.
func (a authors) list() string {
	names := make([]string, 0, len(a.names))
	for n := range a.names {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " <" + a.names[n] + ">"
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
}

// responsibleAuthors compares the inputs of b's evaluation with those of
// the previous build's, as Hydra's getResponsibleAuthors does.
func (r *Reactor) responsibleAuthors(ctx context.Context, rec events.Recorded, b outbox.Build, prevID int64, js events.JobsetConfig) (authors, error) {
	au := authors{names: map[string]string{}}
	if r.commits == nil {
		return au, nil
	}
	pb, err := outbox.LoadBuild(ctx, r.rt, prevID, rec.Position)
	if err != nil {
		return au, err
	}
	cur, err := outbox.LoadEval(ctx, r.rt, b.EvalID, rec.Position)
	if err != nil {
		return au, err
	}
	old, err := outbox.LoadEval(ctx, r.rt, pb.EvalID, rec.Position)
	if err != nil {
		return au, err
	}
	for _, in := range cur.Inputs {
		if in.AltNr != 0 || (in.Type != "git" && in.Type != "hg") {
			continue
		}
		was, ok := old.Input(in.Name)
		if !ok || was.Type != in.Type || was.URI != in.URI || was.Revision == in.Revision {
			continue
		}
		commits, err := r.commits.Commits(ctx, in.Type, in.URI, was.Revision, in.Revision)
		if err != nil {
			// Hydra's mail goes out without the authors it could not
			// find; so does this one.
			r.log.Warn("email: commits of an input not read", "input", in.Name, "build", b.BuildID, "err", err)
			continue
		}
		responsible := slices.ContainsFunc(js.Inputs, func(s events.JobsetInput) bool { return s.Name == in.Name && s.EmailResponsible })
		for _, c := range commits {
			au.names[c.Author] = c.Email
			if responsible {
				au.emailable = append(au.emailable, c.Email)
			}
			au.commits++
		}
	}
	return au, nil
}

func (r *Reactor) evalFailed(ctx context.Context, rec events.Recorded, e *events.EvaluationFailed) error {
	msg := strings.TrimRight(e.Error, "\n")
	if msg == "" {
		return nil
	}
	last, err := r.lastError(ctx, rec, e)
	if err != nil || last == msg {
		return err
	}
	if err := r.lookup.Wait(ctx, rec.Position); err != nil {
		return err
	}
	addr, onError, err := r.lookup.Owner(ctx, e.Project)
	if err != nil || !onError || addr == "" {
		return err
	}
	key := e.Project + ":" + e.Jobset
	body := fmt.Sprintf("Hello,\n\nthe evaluation of the jobset %s failed:\n\n%s\n\n-- \nbuildledger, on behalf of this Hydra\n", key, msg)
	m := Mail{To: []string{addr}, Subject: "Hydra " + key + " evaluation error", Body: body,
		Headers: map[string]string{"X-Hydra-Project": e.Project, "X-Hydra-Jobset": e.Jobset}}
	return r.queue(ctx, rec, m, "eval_failed", 0, e.EvalID, e.Project, e.Jobset)
}

// lastError is Hydra's Jobsets.errormsg before evaluation e failed: the
// error of the jobset's last evaluation that failed or finished (a
// cached one leaves it as it was), "" after a finished one. It is read
// from the log as it stood at rec, not kept in memory, so that a
// restarted notifier remembers it.
func (r *Reactor) lastError(ctx context.Context, rec events.Recorded, e *events.EvaluationFailed) (string, error) {
	var last events.EvaluationClosed
	err := outbox.ReadUpTo(ctx, r.rt, streams.Jobset(e.Project, e.Jobset), rec.Position, func(p events.Payload) {
		if c, ok := p.(*events.EvaluationClosed); ok && c.EvalID != e.EvalID && c.Outcome != jobset.OutcomeCached {
			last = *c
		}
	})
	if err != nil || last.Outcome != jobset.OutcomeFailed {
		return "", err
	}
	var msg string
	err = outbox.ReadUpTo(ctx, r.rt, streams.Eval(last.EvalID), rec.Position, func(p events.Payload) {
		if f, ok := p.(*events.EvaluationFailed); ok {
			msg = strings.TrimRight(f.Error, "\n")
		}
	})
	return msg, err
}

func (r *Reactor) queue(ctx context.Context, rec events.Recorded, m Mail, channel string, build, eval int64, project, jobset string) error {
	return queueMail(ctx, r.box, r.md, rec.ID, m, events.NotificationQueued{Channel: channel, BuildID: build, EvalID: eval, Project: project, Jobset: jobset})
}

// queueMail queues m in the outbox as q (its plugin, target and cause
// filled in).
func queueMail(ctx context.Context, box *outbox.Outbox, md events.Metadata, cause string, m Mail, q events.NotificationQueued) error {
	payload, err := json.Marshal(m)
	if err != nil {
		return err
	}
	// The target names no address: the log keeps no personal data.
	q.Plugin, q.Cause, q.Target = "email", cause, target(m)
	return box.Queue(ctx, md, q, payload)
}

// target is how the log names a mail: its subject and how many get it.
func target(m Mail) string {
	return fmt.Sprintf("mail %q to %d recipient(s)", m.Subject, len(m.To))
}

// Direct queues mail that an action causes rather than a reactor:
// Hydra's password reset. The mail, which may hold a secret, is only in
// the outbox's payload, deleted once delivered; the log keeps its digest.
type Direct struct{ Box *outbox.Outbox }

// QueueMail queues a mail to one address on channel, caused by the event
// cause (its key: one mail per cause).
func (d Direct) QueueMail(ctx context.Context, md events.Metadata, cause, channel, to, subject, body string) error {
	return queueMail(ctx, d.Box, md, cause, Mail{To: []string{to}, Subject: subject, Body: body}, events.NotificationQueued{Channel: channel})
}

// dedupe drops repeated addresses, keeping the first of each.
func dedupe(addrs []string) []string {
	seen := map[string]bool{}
	out := addrs[:0]
	for _, a := range addrs {
		if k := strings.ToLower(a); !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out
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
