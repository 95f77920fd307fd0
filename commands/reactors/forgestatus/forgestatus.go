// Package forgestatus is the commit-status notifier (#22): Hydra's
// GithubStatus, GiteaStatus, GitlabStatus and BitBucketStatus plugins as
// one reactor over the outbox (package outbox). It decides, for each
// build of an evaluation, which commits of which forge get which state,
// and queues one notification per commit and status: the request, with
// the names of its credentials but not the credentials.
//
// When Hydra's plugins speak, here:
//
//   - build_queued: at EvaluationFinished, for each new build of the
//     evaluation (Hydra announces a build once its evaluation is
//     committed): pending; for a build that ran and finished while the
//     evaluation was open, pending then its final state (build_finished),
//     the order Hydra's clients see; for a build cached at queue time,
//     its final state alone (cached_build_finished).
//   - cached_build_queued and cached_build_finished: at
//     EvaluationFinished, for each build the evaluation kept from an
//     earlier one, to this evaluation's commits only: pending, or the
//     final state of a finished one. GitHub and GitLab only, as Hydra.
//   - build_started: at the StepStarted of the build's own derivation:
//     pending (GitLab: running). Gitea has no started status.
//   - build_finished: at BuildFinished, once the evaluation closed.
//
// Started and finished statuses go to the commits of every closed
// evaluation that holds the build (Hydra's jobsetevals), when Members is
// given; else to those of the evaluation that created it.
//
// Hydra's state names: GitHub and Gitea success, failure, or error for
// statuses 3, 4, 8, 10 and 11; GitLab success, failed, canceled;
// BitBucket SUCCESSFUL, FAILED, INPROGRESS.
package forgestatus

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"buildledger/commands"
	"buildledger/commands/reactors/outbox"
	"buildledger/domain/notification"
	"buildledger/events"
)

// Reactor queues commit statuses.
type Reactor struct {
	rt      *commands.Runtime
	box     *outbox.Outbox
	members Members
	cfg     Config
	log     *slog.Logger
	md      events.Metadata
}

var _ outbox.Reactor = (*Reactor)(nil)

// Members answers from the read models which evaluations hold a build
// (JobsetEvalMembers). Wait blocks until the read models hold the log up
// to pos.
type Members interface {
	Wait(ctx context.Context, pos events.Position) error
	EvalsOf(ctx context.Context, build int64) ([]int64, error)
}

// New returns the reactor for cfg; members may be nil (statuses then go
// to the evaluation that created a build only).
func New(rt *commands.Runtime, box *outbox.Outbox, members Members, cfg Config, log *slog.Logger) *Reactor {
	if log == nil {
		log = slog.Default()
	}
	return &Reactor{rt: rt, box: box, members: members, cfg: cfg, log: log, md: events.Metadata{Actor: commands.ComponentActor("forgestatus")}}
}

// Name implements outbox.Reactor.
func (*Reactor) Name() string { return "forgestatus" }

// Filter implements outbox.Reactor.
func (*Reactor) Filter() events.Filter {
	return events.Filter{Types: []string{"EvaluationFinished", "StepStarted", "BuildFinished"}}
}

// phase is where a build stands: Hydra's status argument of its plugins
// (0 queued, 1 started, 2 finished).
type phase int

const (
	queued phase = iota
	started
	finished
)

// React implements outbox.Reactor.
func (r *Reactor) React(ctx context.Context, rec events.Recorded, p events.Payload) error {
	switch e := p.(type) {
	case *events.EvaluationFinished:
		ev, err := outbox.LoadEval(ctx, r.rt, e.EvalID, rec.Position)
		if err != nil {
			return err
		}
		for _, id := range ev.NewBuilds {
			b, err := outbox.LoadBuild(ctx, r.rt, id, rec.Position)
			if err != nil {
				return err
			}
			if b.Finished && b.Cached {
				if err := r.announce(ctx, rec, b, ev, finished, "cached_build_finished"); err != nil {
					return err
				}
				continue
			}
			// A build that ran and finished while its evaluation was
			// still open is announced queued first, as Hydra, which
			// builds nothing of an evaluation before it ends, would.
			if err := r.announce(ctx, rec, b, ev, queued, "build_queued"); err != nil {
				return err
			}
			if !b.Finished {
				continue
			}
			if err := r.announce(ctx, rec, b, ev, finished, "build_finished"); err != nil {
				return err
			}
		}
		for _, id := range ev.KeptBuilds {
			b, err := outbox.LoadBuild(ctx, r.rt, id, rec.Position)
			if err != nil {
				return err
			}
			ph, channel := queued, "cached_build_queued"
			if b.Finished {
				ph, channel = finished, "cached_build_finished"
			}
			if err := r.announceCached(ctx, rec, b, ev, ph, channel); err != nil {
				return err
			}
		}
	case *events.StepStarted:
		return r.forBuild(ctx, rec, e.BuildID, started, "build_started", func(b outbox.Build) bool {
			return b.DrvPath == e.DrvPath && !b.Finished
		})
	case *events.BuildFinished:
		return r.forBuild(ctx, rec, e.BuildID, finished, "build_finished", func(outbox.Build) bool { return true })
	}
	return nil
}

// forBuild announces build id's phase when its evaluation has closed and
// ok says so.
func (r *Reactor) forBuild(ctx context.Context, rec events.Recorded, id int64, ph phase, channel string, ok func(outbox.Build) bool) error {
	b, err := outbox.LoadBuild(ctx, r.rt, id, rec.Position)
	if err != nil {
		return err
	}
	if !ok(b) {
		return nil
	}
	evals := []int64{b.EvalID}
	if r.members != nil {
		if err := r.members.Wait(ctx, rec.Position); err != nil {
			return err
		}
		if evals, err = r.members.EvalsOf(ctx, b.BuildID); err != nil {
			return err
		}
		if !slices.Contains(evals, b.EvalID) {
			evals = append([]int64{b.EvalID}, evals...)
		}
	}
	for _, id := range evals {
		ev, err := outbox.LoadEval(ctx, r.rt, id, rec.Position)
		if err != nil {
			return err
		}
		if !ev.Finished {
			continue
		}
		if err := r.announce(ctx, rec, b, ev, ph, channel); err != nil {
			return err
		}
	}
	return nil
}

// status is one commit status to send.
type status struct {
	plugin string
	// target names the commit and the status's context, without a secret.
	target string
	req    outbox.HTTPRequest
}

func (r *Reactor) announce(ctx context.Context, rec events.Recorded, b outbox.Build, ev outbox.Eval, ph phase, channel string) error {
	var all []status
	all = append(all, r.github(b, ev, ph)...)
	if r.cfg.Gitea && ph != started {
		all = append(all, r.gitea(b, ev, ph)...)
	}
	if r.cfg.GitLab {
		all = append(all, r.gitlab(b, ev, ph)...)
	}
	if r.cfg.BitBucket {
		bb, err := r.bitbucket(ctx, rec, b, ev, ph)
		if err != nil {
			return err
		}
		all = append(all, bb...)
	}
	return r.queue(ctx, rec, b, ev, channel, all)
}

// announceCached sends Hydra's cachedBuildQueued and cachedBuildFinished,
// which only its GitHub and GitLab plugins have.
func (r *Reactor) announceCached(ctx context.Context, rec events.Recorded, b outbox.Build, ev outbox.Eval, ph phase, channel string) error {
	all := r.github(b, ev, ph)
	if r.cfg.GitLab {
		all = append(all, r.gitlab(b, ev, ph)...)
	}
	return r.queue(ctx, rec, b, ev, channel, all)
}

func (r *Reactor) queue(ctx context.Context, rec events.Recorded, b outbox.Build, ev outbox.Eval, channel string, all []status) error {
	for _, s := range all {
		payload, err := json.Marshal(s.req)
		if err != nil {
			return err
		}
		q := events.NotificationQueued{Plugin: s.plugin, Channel: channel, Target: s.target, Cause: rec.ID,
			BuildID: b.BuildID, EvalID: ev.ID, Project: b.Project, Jobset: b.Jobset}
		if channel == "build_queued" && b.Finished {
			// The same event announces the build finished next, to the
			// same target: the queued status needs a key of its own.
			q.Key = notification.Key(rec.ID+"/"+channel, s.plugin, s.target)
		}
		if err := r.box.Queue(ctx, r.md, q, payload); err != nil {
			return err
		}
	}
	return nil
}

// hydraState is GitHub's and Gitea's name of a finished build's status.
func hydraState(st int) string {
	switch st {
	case 0:
		return "success"
	case 3, 4, 8, 10, 11:
		return "error"
	}
	return "failure"
}

func (r *Reactor) buildURL(b outbox.Build) string {
	return r.cfg.BaseURL + "/build/" + strconv.FormatInt(b.BuildID, 10)
}

func (r *Reactor) description(b outbox.Build) string {
	return "Hydra build #" + strconv.FormatInt(b.BuildID, 10) + " of " + b.JobName()
}

var (
	githubFlake    = regexp.MustCompile(`github:([^/]+)/([^/]+)/([[:xdigit:]]{40})(\?narHash[^ ]*)?$`)
	githubSSHFlake = regexp.MustCompile(`git\+ssh://git@github\.com/([^/]+)/([^/]+)\?.*rev=([[:xdigit:]]{40})(\?narHash[^ ]*)?$`)
	ownerRepo      = regexp.MustCompile(`[:/]([^/]+)/([^/]+?)(?:\.git)?$`)
	prSuffix       = regexp.MustCompile(`-pr-\d+`)
)

// github is Hydra's GithubStatus: every <githubstatus> whose jobs match.
func (r *Reactor) github(b outbox.Build, ev outbox.Eval, ph phase) []status {
	var out []status
	job := b.JobName()
	for _, conf := range r.cfg.GitHub {
		if !conf.Jobs.MatchString(job) {
			continue
		}
		trailer := ":" + strconv.FormatInt(b.BuildID, 10)
		if conf.ExcludeBuildFromContext {
			trailer = ""
		}
		ctxName := "continuous-integration/hydra:" + job + trailer
		if conf.UseShortContext {
			ctxName = "ci/hydra:" + prSuffix.ReplaceAllString(job, "") + trailer
		}
		if conf.Context != "" {
			ctxName = conf.Context
		}
		desc := r.description(b)
		if conf.Description != "" {
			desc = conf.Description
		}
		state := "pending"
		if ph == finished {
			state = hydraState(b.Status)
		}
		body, _ := json.Marshal(map[string]string{"state": state, "target_url": r.buildURL(b), "description": desc, "context": ctxName})
		var commits [][3]string
		if ev.Flake != "" {
			m := githubFlake.FindStringSubmatch(ev.Flake)
			if m == nil {
				m = githubSSHFlake.FindStringSubmatch(ev.Flake)
			}
			if m == nil {
				r.log.Info("githubstatus: the flake is not on GitHub, no status", "flake", ev.Flake)
			} else {
				commits = append(commits, [3]string{m[1], m[2], m[3]})
			}
		} else {
			for _, name := range conf.Inputs {
				in, ok := ev.Input(name)
				m := ownerRepo.FindStringSubmatch(in.URI)
				if !ok || m == nil || in.Revision == "" {
					r.log.Info("githubstatus: the evaluation has no such repository input", "eval", ev.ID, "input", name)
					continue
				}
				c := [3]string{m[1], m[2], in.Revision}
				if !slices.Contains(commits, c) {
					commits = append(commits, c)
				}
			}
		}
		for _, c := range commits {
			u := "https://api.github.com/repos/" + url.PathEscape(c[0]) + "/" + url.PathEscape(c[1]) + "/statuses/" + url.PathEscape(c[2])
			out = append(out, status{plugin: "githubstatus", target: "POST " + u + " " + ctxName, req: outbox.HTTPRequest{
				Method: "POST", URL: u, Header: map[string]string{"Accept": "application/vnd.github.v3+json"},
				Auth: []string{"github_authorization/" + c[0], "githubstatus/" + strconv.Itoa(conf.Index)}, Body: body}})
		}
	}
	return out
}

// inputValue is the value of a string input of the evaluation.
func inputValue(ev outbox.Eval, name string) string {
	in, _ := ev.Input(name)
	return in.Value
}

// gitea is Hydra's GiteaStatus: evaluations with a gitea_status_repo input.
func (r *Reactor) gitea(b outbox.Build, ev outbox.Eval, ph phase) []status {
	repoInput := inputValue(ev, "gitea_status_repo")
	in, ok := ev.Input(repoInput)
	if repoInput == "" || !ok || in.Revision == "" {
		return nil
	}
	owner, name := inputValue(ev, "gitea_repo_owner"), inputValue(ev, "gitea_repo_name")
	host := inputValue(ev, "gitea_http_url")
	if host == "" {
		u, err := url.Parse(in.URI)
		if err != nil || u.Host == "" {
			return nil
		}
		host = "https://" + u.Host
	}
	state := "pending"
	if ph == finished {
		state = hydraState(b.Status)
	}
	ctxName := "Hydra " + b.Job
	body, _ := json.Marshal(map[string]string{"state": state, "target_url": r.buildURL(b), "description": r.description(b), "context": ctxName})
	u := strings.TrimRight(host, "/") + "/api/v1/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name) + "/statuses/" + url.PathEscape(in.Revision)
	return []status{{plugin: "gitea", target: "POST " + u + " " + ctxName, req: outbox.HTTPRequest{Method: "POST", URL: u,
		Auth: []string{"gitea_authorization/" + owner}, AuthPrefix: "token ", Body: body}}}
}

// gitlab is Hydra's GitlabStatus: evaluations with a gitlab_status_repo input.
func (r *Reactor) gitlab(b outbox.Build, ev outbox.Eval, ph phase) []status {
	repoInput := inputValue(ev, "gitlab_status_repo")
	in, ok := ev.Input(repoInput)
	if repoInput == "" || !ok || in.Revision == "" {
		return nil
	}
	project := inputValue(ev, "gitlab_project_id")
	u, err := url.Parse(in.URI)
	if err != nil || u.Host == "" || project == "" {
		return nil
	}
	state := map[phase]string{queued: "pending", started: "running"}[ph]
	if ph == finished {
		switch hydraState(b.Status) {
		case "success":
			state = "success"
		case "error":
			state = "canceled"
		default:
			state = "failed"
		}
	}
	ctxName := "Hydra " + b.Job
	body, _ := json.Marshal(map[string]string{"state": state, "target_url": r.buildURL(b), "description": r.description(b), "name": ctxName})
	api := "https://" + u.Host + "/api/v4/projects/" + url.PathEscape(project) + "/statuses/" + url.PathEscape(in.Revision)
	return []status{{plugin: "gitlab", target: "POST " + api + " " + ctxName, req: outbox.HTTPRequest{Method: "POST", URL: api,
		Auth: []string{"gitlab_authorization/" + project}, AuthHeader: "Private-Token", Body: body}}}
}

var bitbucketRepo = regexp.MustCompile(`[:/]([^/]+)/([^/]+?)?$`)

// bitbucket is Hydra's BitBucketStatus: every input of the evaluation on
// bitbucket whose jobset input has emailresponsible set (Hydra's marker
// for "the repository under test").
func (r *Reactor) bitbucket(ctx context.Context, rec events.Recorded, b outbox.Build, ev outbox.Eval, ph phase) ([]status, error) {
	js, err := outbox.LoadJobset(ctx, r.rt, b.Project, b.Jobset, rec.Position)
	if err != nil {
		return nil, err
	}
	state := "INPROGRESS"
	if ph == finished {
		state = "FAILED"
		if b.Status == 0 {
			state = "SUCCESSFUL"
		}
	}
	body, _ := json.Marshal(map[string]any{"state": state, "url": r.buildURL(b), "name": b.JobName(), "key": strconv.FormatInt(b.BuildID, 10),
		"description": r.description(b)})
	var out []status
	for _, in := range ev.Inputs {
		responsible := slices.ContainsFunc(js.Inputs, func(i events.JobsetInput) bool { return i.Name == in.Name && i.EmailResponsible })
		m := bitbucketRepo.FindStringSubmatch(in.URI)
		if !responsible || !strings.Contains(in.URI, "bitbucket") || m == nil || in.Revision == "" {
			continue
		}
		u := "https://api.bitbucket.org/2.0/repositories/" + url.PathEscape(m[1]) + "/" + url.PathEscape(m[2]) + "/commit/" + url.PathEscape(in.Revision) + "/statuses/build"
		out = append(out, status{plugin: "bitbucket", target: fmt.Sprintf("POST %s %s", u, b.JobName()), req: outbox.HTTPRequest{
			Method: "POST", URL: u, Auth: []string{"bitbucket"}, Basic: true, Body: body}})
	}
	return out, nil
}
