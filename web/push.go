package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/domain/jobset"
	"buildledger/domain/user"
	"buildledger/events"
)

// pushJSON answers a push: the jobsets whose evaluation it requested, or
// that a webhook delivery was seen before.
type pushJSON struct {
	Duplicate        bool     `json:"duplicate,omitempty"`
	JobsetsTriggered []string `json:"jobsetsTriggered"`
}

// apiPush requests evaluations of jobsets=p:j,… and of the jobsets that
// use repos=url,… (admin, eval-jobset or the project's owners).
func (s *server) apiPush(w http.ResponseWriter, r *http.Request) error {
	if who(r) == nil {
		return errLoginRequired
	}
	q := r.URL.Query()
	if !q.Has("jobsets") && !q.Has("repos") && r.Method == http.MethodPost {
		if err := parseForm(w, r); err != nil {
			return err
		}
		q = r.Form
	}
	force := q.Has("force")
	var targets [][2]string
	for _, js := range strings.Split(q.Get("jobsets"), ",") {
		if js = strings.TrimSpace(js); js == "" {
			continue
		}
		p, j, ok := strings.Cut(js, ":")
		if !ok {
			return errBadRequest("jobset %q is not project:jobset", js)
		}
		targets = append(targets, [2]string{p, j})
	}
	for _, repo := range strings.Split(q.Get("repos"), ",") {
		if repo = strings.TrimSpace(repo); repo == "" {
			continue
		}
		js, err := s.cfg.Queries.JobsetsByRepo(r.Context(), repo)
		if err != nil {
			return err
		}
		for _, j := range js {
			targets = append(targets, [2]string{j.Project, j.Name})
		}
	}
	triggered := []string{}
	for _, t := range targets {
		p, err := s.cfg.Queries.Project(r.Context(), t[0])
		if err != nil {
			return err
		}
		if err := require(r, roleOrOwner(user.RoleEvalJobset, p)); err != nil {
			return err
		}
		_, err = s.cfg.Commands.RequestEvaluation(r.Context(), s.metadata(r),
			commands.RequestEvaluation{Project: t[0], Jobset: t[1], Reason: "push", Force: force})
		if errors.Is(err, domainerr.ErrConflict) {
			continue // disabled jobsets are skipped, as in Hydra
		}
		if err != nil {
			return err
		}
		triggered = append(triggered, t[0]+":"+t[1])
	}
	s.json(w, http.StatusOK, pushJSON{JobsetsTriggered: triggered})
	return nil
}

// readSigned reads a webhook body and checks its HMAC-SHA256 hex
// signature against secret.
func readSigned(w http.ResponseWriter, r *http.Request, secret, sig string) ([]byte, error) {
	if secret == "" {
		return nil, errForbidden("webhook not configured")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, &httpError{Status: http.StatusRequestEntityTooLarge, Msg: "request body too large"}
	}
	want := hmac.New(sha256.New, []byte(secret))
	want.Write(body)
	got, err := hex.DecodeString(strings.TrimPrefix(sig, "sha256="))
	if err != nil || !hmac.Equal(got, want.Sum(nil)) {
		return nil, &httpError{Status: http.StatusUnauthorized, Msg: "bad webhook signature"}
	}
	return body, nil
}

type hookPayload struct {
	Repository struct {
		FullName string `json:"full_name"`
		CloneURL string `json:"clone_url"`
		HTMLURL  string `json:"html_url"`
		SSHURL   string `json:"ssh_url"`
	} `json:"repository"`
}

// webhook requests evaluations of every jobset using one of the
// repositories urls name, with the webhook as actor. A delivery seen in
// the last day (by its id, or by its body, which its signature covers)
// requests nothing again; one that fails is forgotten, so that its
// redelivery is handled.
func (s *server) webhook(w http.ResponseWriter, r *http.Request, source, delivery string, body []byte, urls []string) error {
	var keys []string
	if s.cfg.Deliveries != nil {
		sum := sha256.Sum256(body)
		keys = []string{"body:" + hex.EncodeToString(sum[:])}
		if delivery != "" {
			keys = append(keys, "delivery:"+delivery)
		}
		fresh, err := s.cfg.Deliveries.Claim(r.Context(), source, keys)
		if err != nil {
			return err
		}
		if !fresh {
			s.json(w, http.StatusOK, pushJSON{Duplicate: true, JobsetsTriggered: []string{}})
			return nil
		}
	}
	triggered, err := s.triggerRepos(r.Context(), source, urls)
	if err != nil {
		if keys != nil {
			if rerr := s.cfg.Deliveries.Release(context.WithoutCancel(r.Context()), source, keys); rerr != nil {
				s.log.Warn("a failed webhook delivery stays recorded", "source", source, "err", rerr)
			}
		}
		return err
	}
	s.json(w, http.StatusOK, pushJSON{JobsetsTriggered: triggered})
	return nil
}

// triggerRepos requests evaluations of the jobsets of the repositories
// urls name (compared by jobset.RepoKey) and returns them as
// "project:jobset".
func (s *server) triggerRepos(ctx context.Context, source string, urls []string) ([]string, error) {
	seenRepo := map[string]bool{}
	seen := map[string]bool{}
	triggered := []string{}
	id := events.NewID(s.now())
	md := events.Metadata{Actor: commands.WebhookActor(source), CorrelationID: id, CausationID: id}
	for _, u := range urls {
		repo := jobset.RepoKey(u)
		if repo == "" || seenRepo[repo] {
			continue
		}
		seenRepo[repo] = true
		js, err := s.cfg.Queries.JobsetsByRepo(ctx, repo)
		if err != nil {
			return nil, err
		}
		for _, j := range js {
			key := j.Project + ":" + j.Name
			if seen[key] {
				continue
			}
			seen[key] = true
			_, err := s.cfg.Commands.RequestEvaluation(ctx, md,
				commands.RequestEvaluation{Project: j.Project, Jobset: j.Name, Reason: "webhook"})
			if errors.Is(err, domainerr.ErrConflict) {
				continue
			}
			if err != nil {
				return nil, err
			}
			triggered = append(triggered, key)
		}
	}
	return triggered, nil
}

func (s *server) pushGitHub(w http.ResponseWriter, r *http.Request) error {
	body, err := readSigned(w, r, s.cfg.GitHubSecret, r.Header.Get("X-Hub-Signature-256"))
	if err != nil {
		return err
	}
	var p hookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return errBadRequest("malformed JSON body: %v", err)
	}
	if p.Repository.FullName == "" {
		return errBadRequest("payload names no repository")
	}
	return s.webhook(w, r, "github", r.Header.Get("X-GitHub-Delivery"), body,
		[]string{"github.com/" + p.Repository.FullName, p.Repository.CloneURL, p.Repository.SSHURL})
}

func (s *server) pushGitea(w http.ResponseWriter, r *http.Request) error {
	sig := r.Header.Get("X-Gitea-Signature")
	if sig == "" {
		sig = r.Header.Get("X-Hub-Signature-256")
	}
	body, err := readSigned(w, r, s.cfg.GiteaSecret, sig)
	if err != nil {
		return err
	}
	var p hookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return errBadRequest("malformed JSON body: %v", err)
	}
	if p.Repository.CloneURL == "" && p.Repository.SSHURL == "" {
		return errBadRequest("payload names no repository")
	}
	return s.webhook(w, r, "gitea", r.Header.Get("X-Gitea-Delivery"), body, []string{p.Repository.CloneURL, p.Repository.SSHURL})
}
