package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"buildledger/adapters/notify/httpsend"
	"buildledger/adapters/notify/smtpsend"
	"buildledger/adapters/postgres"
	"buildledger/commands/reactors/email"
	"buildledger/commands/reactors/forgestatus"
	"buildledger/commands/reactors/outbox"
	"buildledger/commands/reactors/pgnotify"
	"buildledger/commands/reactors/webhook"
	"buildledger/domain/hydraconf"
	"buildledger/domain/names"
)

// notifiers are the reactors that talk to the outside world (#22) and
// the worker that delivers what they queue, as hydra.conf configures
// them (docs/notifications.md).
type notifiers struct {
	worker    *outbox.Worker
	followers []*outbox.Follower
	// mail queues the mail of actions (password resets) for the worker.
	mail email.Direct
}

// notifyFlags are the notifiers' flags of up and notify.
type notifyFlags struct {
	smtpServer, webhooksFile string
	runCommand               runCommandFlags
}

func (n *notifyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&n.smtpServer, "smtp-server", smtpServerDefault(), "SMTP server (host:port) of the mail hydra.conf's email_notification turns on; env EMAIL_SENDER_TRANSPORT_host and _port, as Hydra")
	fs.StringVar(&n.webhooksFile, "webhooks", "", "file (mode 0600) listing per-project JSON webhooks: [{\"project\", \"url\", \"secretFile\"}] (docs/notifications.md)")
	n.runCommand.register(fs)
}

// runNotify is Hydra's hydra-notify: the notifiers and the delivery
// worker, for a deployment that splits up's parts into processes.
func runNotify(ctx context.Context, a *app, args []string) error {
	var (
		cfg     config
		hc      hydraConfFlag
		nf      notifyFlags
		baseURL string
	)
	fs := a.newFlagSet("notify", "notify --hydra-conf FILE [--smtp-server HOST:PORT] [--webhooks FILE] [flags]")
	cfg.register(fs, false)
	cfg.registerPool(fs)
	hc.register(fs)
	nf.register(fs)
	fs.StringVar(&baseURL, "base-url", os.Getenv("BUILDLEDGER_BASE_URL"), "public URL of the web, the base of every link sent; env BUILDLEDGER_BASE_URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := a.logger()
	if err := hc.apply(fs, log); err != nil {
		return err
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		n, err := sys.newNotifiers(hc.kept, baseURL, nf, log)
		if err != nil {
			return fmt.Errorf("--hydra-conf: %w", err)
		}
		g, ctx := errgroup.WithContext(ctx)
		n.run(ctx, g, log)
		log.Info("notifiers running", "notifiers", len(n.followers))
		return g.Wait()
	})
}

// smtpServerDefault is where mail goes without --smtp-server: the
// variables Hydra's mail library (Email::Sender) reads, else the local
// MTA.
func smtpServerDefault() string {
	host, port := os.Getenv("EMAIL_SENDER_TRANSPORT_host"), os.Getenv("EMAIL_SENDER_TRANSPORT_port")
	if host == "" {
		host = "localhost"
	}
	if port == "" {
		port = "25"
	}
	return net.JoinHostPort(host, port)
}

// notificationSender is Hydra's sender address: notification_sender, else
// $USER@host.
func notificationSender(kept hydraconf.Kept) string {
	if kept.NotificationSender != "" {
		return kept.NotificationSender
	}
	user := os.Getenv("USER")
	if user == "" {
		user = "hydra"
	}
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	return user + "@" + host
}

// newNotifiers builds the notifiers kept sections of hydra.conf turn on.
// The worker runs whatever is configured, so that notifications queued
// before a restart are delivered.
func (s *system) newNotifiers(kept hydraconf.Kept, baseURL string, nf notifyFlags, log *slog.Logger) (*notifiers, error) {
	store := postgres.NewOutbox(s.pool)
	secrets := notifySecrets(kept)
	sender := &httpsend.Sender{Client: &http.Client{}, Secrets: secrets, UserAgent: "buildledger"}
	senders := map[string]outbox.Sender{}
	n := &notifiers{}
	wake := func() {
		if n.worker != nil {
			n.worker.Wake()
		}
	}
	box := outbox.New(s.runtime, store, wake)
	// Hydra's NOTIFY channels need no configuration: Hydra always sends them.
	n.followers = append(n.followers, outbox.NewFollower(s.runtime, store,
		pgnotify.New(s.runtime, postgres.NewNotifier(s.pool), postgres.NewNotifyLookup(s.pool), log), log))
	fcfg, err := forgestatus.ConfigFrom(kept, baseURL)
	if err != nil {
		return nil, err
	}
	if fcfg.Enabled() {
		for _, p := range []string{"githubstatus", "gitea", "gitlab", "bitbucket"} {
			senders[p] = sender
		}
		n.followers = append(n.followers, outbox.NewFollower(s.runtime, store, forgestatus.New(s.runtime, box, postgres.NewNotifyLookup(s.pool), fcfg, log), log))
	}
	// Mail is always delivered, as Hydra sends a password reset whether
	// or not email_notification is on. SMTP credentials come from the
	// environment, under the names Hydra's mail library reads; they are
	// never in an event.
	senders["email"] = &smtpsend.Sender{Server: nf.smtpServer, From: notificationSender(kept), Instance: baseURL, Now: time.Now,
		Username: os.Getenv("EMAIL_SENDER_TRANSPORT_sasl_username"), Password: os.Getenv("EMAIL_SENDER_TRANSPORT_sasl_password"),
		TLS: os.Getenv("EMAIL_SENDER_TRANSPORT_ssl")}
	n.mail = email.Direct{Box: box}
	if kept.EmailNotification {
		// The commits of emailresponsible come from the evaluator's
		// cache clones: up has them, a split notify does not.
		var commits email.Commits
		if s.inputs != nil {
			commits = s.inputs
		}
		mail := email.New(s.runtime, box, postgres.NewNotifyLookup(s.pool), commits, email.Config{BaseURL: baseURL}, log)
		n.followers = append(n.followers, outbox.NewFollower(s.runtime, store, mail, log))
	}
	if nf.webhooksFile != "" {
		hooks, err := readWebhooks(nf.webhooksFile, secrets)
		if err != nil {
			return nil, fmt.Errorf("--webhooks: %w", err)
		}
		senders["webhook"] = sender
		n.followers = append(n.followers, outbox.NewFollower(s.runtime, store, webhook.New(s.runtime, box, hooks, baseURL, log), log))
	}
	lease, err := s.addRunCommand(n, box, store, senders, kept, nf.runCommand, log)
	if err != nil {
		return nil, err
	}
	n.worker = outbox.NewWorker(s.runtime, store, senders, outbox.WorkerOptions{Logger: log, Lease: lease})
	return n, nil
}

// run starts the worker and every notifier in g, each started again
// after a transient database error.
func (n *notifiers) run(ctx context.Context, g *errgroup.Group, log *slog.Logger) {
	g.Go(func() error { return supervise(ctx, log, "notification worker", n.worker.Run) })
	for _, f := range n.followers {
		g.Go(func() error { return supervise(ctx, log, "notifier", f.Run) })
	}
}

// notifySecrets names hydra.conf's credentials as the notifiers'
// requests ask for them.
func notifySecrets(k hydraconf.Kept) map[string]string {
	out := map[string]string{}
	for section, tokens := range k.Authorization {
		for owner, tok := range tokens {
			out[section+"/"+owner] = string(tok)
		}
	}
	for i, b := range k.GithubStatus {
		if v := b.Get("authorization"); len(v) > 0 {
			out["githubstatus/"+strconv.Itoa(i)] = v[0]
		}
	}
	if b := k.BitBucket; b != nil {
		user, pw := b.Get("username"), b.Get("password")
		if len(user) > 0 && len(pw) > 0 {
			out["bitbucket"] = user[0] + ":" + pw[0]
		}
	}
	return out
}

// webhookEntry is one webhook of --webhooks FILE.
type webhookEntry struct {
	Project    string `json:"project"`
	URL        string `json:"url"`
	SecretFile string `json:"secretFile"`
}

// readWebhooks reads --webhooks: a JSON list of {project, url,
// secretFile}, in a file of mode 0600 (a webhook URL may itself be a
// credential). Each signing secret is read from its own 0600 file into
// secrets, under the name the requests give.
func readWebhooks(file string, secrets map[string]string) ([]webhook.Hook, error) {
	raw, err := readSecretFile(file)
	if err != nil {
		return nil, err
	}
	var entries []webhookEntry
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("%s: a JSON list of {\"project\", \"url\", \"secretFile\"}: %w", file, err)
	}
	var hooks []webhook.Hook
	for i, e := range entries {
		u, err := url.Parse(e.URL)
		switch {
		case !names.Project(e.Project):
			return nil, fmt.Errorf("%s: webhook %d: %q is not a project name", file, i+1, e.Project)
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			return nil, fmt.Errorf("%s: webhook %d: the url must be http(s)://host/…", file, i+1)
		case e.SecretFile == "":
			return nil, fmt.Errorf("%s: webhook %d: secretFile is required: deliveries are signed", file, i+1)
		}
		key, err := readSecretFile(e.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("%s: webhook %d: %w", file, i+1, err)
		}
		name := "webhook/" + e.Project + "/" + strconv.Itoa(i+1)
		secrets[name] = key
		hooks = append(hooks, webhook.Hook{Project: e.Project, URL: e.URL, Secret: name})
	}
	return hooks, nil
}
