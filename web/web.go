// Package web serves buildledger's web UI and its Hydra-compatible JSON
// API on Hydra's URLs: HTML for browsers, JSON for clients that send
// Accept: application/json, with Hydra's field names. Reads go through the
// query interfaces of this package (implemented in
// adapters/postgres/queries); every action goes through the command
// handlers with the signed-in user as actor.
package web

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"time"

	"github.com/go-chi/chi/v5"

	"buildledger/commands"
	"buildledger/domain/apitoken"
	"buildledger/domain/password"
	"buildledger/domain/user"
	"buildledger/events"
)

// Commands is the part of *commands.Handlers the web layer uses.
type Commands interface {
	CreateProject(ctx context.Context, md events.Metadata, c commands.CreateProject) (commands.Result, error)
	UpdateProject(ctx context.Context, md events.Metadata, c commands.UpdateProject) (commands.Result, error)
	DeleteProject(ctx context.Context, md events.Metadata, c commands.DeleteProject) (commands.Result, error)
	RenameProject(ctx context.Context, md events.Metadata, c commands.RenameProject) (commands.RenameProjectResult, error)
	SetProjectMembers(ctx context.Context, md events.Metadata, c commands.SetProjectMembers) (commands.Result, error)
	CreateJobset(ctx context.Context, md events.Metadata, c commands.CreateJobset) (commands.Result, error)
	UpdateJobset(ctx context.Context, md events.Metadata, c commands.UpdateJobset) (commands.Result, error)
	RenameJobset(ctx context.Context, md events.Metadata, c commands.RenameJobset) (commands.RenameResult, error)
	DeleteJobset(ctx context.Context, md events.Metadata, c commands.DeleteJobset) (commands.Result, error)
	RequestEvaluation(ctx context.Context, md events.Metadata, c commands.RequestEvaluation) (commands.Result, error)
	CreateUser(ctx context.Context, md events.Metadata, c commands.CreateUser) (commands.Result, error)
	UpdateUser(ctx context.Context, md events.Metadata, c commands.UpdateUser) (commands.Result, error)
	SetUserRoles(ctx context.Context, md events.Metadata, c commands.SetUserRoles) (commands.Result, error)
	ForgetUser(ctx context.Context, md events.Metadata, c commands.ForgetUser) (commands.Result, error)
	DisableUser(ctx context.Context, md events.Metadata, name string) (commands.Result, error)
	EnableUser(ctx context.Context, md events.Metadata, name string) (commands.Result, error)
	RevokeUserSessions(ctx context.Context, md events.Metadata, name string) (commands.Result, error)
	RehashPassword(ctx context.Context, c commands.RehashPassword) (bool, error)
	AddNews(ctx context.Context, md events.Metadata, c commands.AddNews) (int64, commands.Result, error)
	RemoveNews(ctx context.Context, md events.Metadata, id int64) (commands.Result, error)
	StarJob(ctx context.Context, md events.Metadata, c commands.StarJob) (commands.Result, error)
	ClearFailedPaths(ctx context.Context, md events.Metadata) (commands.Result, error)
	ClearVCSCaches(ctx context.Context, md events.Metadata) (commands.Result, error)
}

var _ Commands = (*commands.Handlers)(nil)

// BuildActions are the user actions on one build (*commands.Handlers
// implements them).
type BuildActions interface {
	// RestartBuild puts a finished build back in the queue.
	RestartBuild(ctx context.Context, md events.Metadata, id int64) (commands.Result, error)
	// CancelBuild cancels an unfinished build.
	CancelBuild(ctx context.Context, md events.Metadata, id int64) (commands.Result, error)
	// BumpBuild moves an unfinished build to the front of the queue.
	BumpBuild(ctx context.Context, md events.Metadata, id int64) (commands.Result, error)
	// KeepBuild sets or clears a build's keep flag.
	KeepBuild(ctx context.Context, md events.Metadata, id int64, keep bool) (commands.Result, error)
}

var _ BuildActions = (*commands.Handlers)(nil)

// TokenCommands create and revoke API tokens. Only a hash of a token's
// secret reaches the ledger.
type TokenCommands interface {
	// CreateAPIToken records a new token and returns its id (the command's
	// ID and CreatedAt are the implementation's to choose).
	CreateAPIToken(ctx context.Context, md events.Metadata, c apitoken.Create) (string, error)
	// RevokeAPIToken revokes the token id of user.
	RevokeAPIToken(ctx context.Context, md events.Metadata, user, id string) error
}

var _ TokenCommands = (*commands.Handlers)(nil)

// Accounts tells whether sessions and tokens still authenticate, from
// the user's and the token's own streams rather than a read model, so
// that revocation is immediate (*commands.Accounts).
type Accounts interface {
	// User returns a user as their stream tells it now.
	User(ctx context.Context, name string) (user.State, error)
	// Token returns an API token as its stream tells it now.
	Token(ctx context.Context, id string) (apitoken.State, error)
	// TokenUsed records that a token was used (cheaply: not at every call).
	TokenUsed(ctx context.Context, id string) error
}

var _ Accounts = (*commands.Accounts)(nil)

// WebhookDeliveries remembers webhook deliveries for a while
// (*postgres.Deliveries).
type WebhookDeliveries interface {
	// Claim records the keys of a delivery from source and reports
	// whether none of them was seen recently.
	Claim(ctx context.Context, source string, keys []string) (bool, error)
	// Release forgets them again, when the delivery could not be
	// handled.
	Release(ctx context.Context, source string, keys []string) error
}

// SCMDiff diffs two revisions of a jobset input's repository
// (*inputs.Fetcher): confined as the input fetches are, its output and
// time bounded.
type SCMDiff interface {
	// Diff returns the log and the diff from rev1 to rev2 of the
	// repository uri of type typ (git or hg).
	Diff(ctx context.Context, typ, uri, rev1, rev2 string) (string, error)
}

// Mailer queues a mail through the notification outbox: the mail is kept
// outside the log and deleted once delivered (email.Direct).
type Mailer interface {
	QueueMail(ctx context.Context, md events.Metadata, cause, channel, to, subject, body string) error
}

// StreamReader reads one event stream (events.Store satisfies it).
type StreamReader interface {
	ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]events.Recorded, error)
}

// Config is what New needs. Queries, Commands, Accounts, Logs and a
// SessionKey of at least 32 bytes are required; everything else is
// optional.
type Config struct {
	// Queries answers every read.
	Queries Queries
	// Transient reports the errors of the stores behind the ports that
	// pass in a while (postgres.IsTransient: a restart, a lost
	// connection); they answer 503 with Retry-After. Nil: none does.
	Transient func(error) bool
	// Accounts checks every session and token (*commands.Accounts).
	Accounts Accounts
	// Commands carries out configuration actions (*commands.Handlers).
	Commands Commands
	// Builds carries out build actions; nil answers those routes 501.
	Builds BuildActions
	// Mail queues the mail of a password reset; nil answers a reset 501.
	Mail Mailer
	// Tokens creates and revokes API tokens; nil disables the token pages.
	Tokens TokenCommands
	// Events reads streams for the events tabs; nil hides them.
	Events StreamReader
	// SCMDiff answers /api/scmdiff; nil answers it 501.
	SCMDiff SCMDiff
	// SessionKey signs session cookies (HMAC-SHA256), at least 32 bytes.
	SessionKey []byte
	// SecureCookies marks cookies Secure even on plain-HTTP requests
	// (behind a TLS-terminating proxy).
	SecureCookies bool
	// BaseURL is the public URL (scheme://host[:port]); same-origin checks
	// compare against it. Empty means the request's own Host.
	BaseURL string
	// AllowedHosts are the host names (without port) requests may
	// address besides IP addresses and "localhost": the base URL's host
	// and the names the server is reached by. Any other Host header gets
	// 421, so that a page whose name an attacker rebinds to this server's
	// address (DNS rebinding) cannot read it.
	AllowedHosts []string
	// Private requires a signed-in user for every page but /login.
	Private bool
	// Logs reads the step logs (*logstore.Store), running or finished.
	Logs Logs
	// StoreDir is the Nix store (default /nix/store), in which
	// /log/DRVFILE names a derivation.
	StoreDir string
	// Outputs reads build outputs and product files from the store
	// (binarycache.StoreFiles); nil answers those routes 501.
	Outputs Outputs
	// Store reads the local Nix store's path metadata for the channels'
	// MANIFEST and closure, /nar/NAME and /build/N/runtime-deps
	// (binarycache.StoreInfo); nil answers those routes 501 (/nar/NAME
	// 404, as Hydra without a local store).
	Store Store
	// Bzip2 compresses the channel archives, nixexprs.tar.bz2
	// (binarycache.NewBzip2Writer); nil answers them 501.
	Bzip2 func(io.Writer) (io.WriteCloser, error)
	// Provenance and ProvenanceKey, if set, serve each build's signed
	// SLSA provenance (/build/N/provenance) and the public key
	// (/provenance/key); unset, those routes answer 501. The key signs
	// nothing else.
	Provenance    ProvenanceStatements
	ProvenanceKey ed25519.PrivateKey
	// BinaryCache, if set, is mounted at /nix-cache/, with the step logs
	// at /nix-cache/log/DRVFILE, and its files are served at the root
	// too (/nix-cache-info, /HASH.narinfo, /nar/…, /realisations/…),
	// where Hydra serves its cache.
	BinaryCache http.Handler
	// GitHubSecret and GiteaSecret are the webhook HMAC secrets; an empty
	// secret refuses that webhook.
	GitHubSecret string
	GiteaSecret  string
	// Deliveries, if set, remembers the webhook deliveries handled, so
	// that a redelivery or a replayed capture requests nothing again.
	Deliveries WebhookDeliveries
	// StreamsPerClient and Streams cap the log streams (server-sent
	// events) open at once per client address and in all (default 8 and
	// 256); beyond them a stream is refused with 429.
	StreamsPerClient int
	Streams          int
	// Settle, if set, waits until the read models have caught up with the
	// head of the log. Actions call it (for at most SettleTimeout) before
	// answering, so that the page a browser is sent to shows the change.
	Settle func(ctx context.Context) error
	// SettleTimeout bounds Settle (default 3 s).
	SettleTimeout time.Duration
	// LoginAttempts per minute, per client address and per user name
	// (default 10).
	LoginAttempts int
	// TrustedProxies are the addresses of reverse proxies whose
	// X-Forwarded-For names the client; behind one, every client would
	// otherwise share the proxy's address and its login limit.
	TrustedProxies []netip.Prefix
	// Clock returns the time; default time.Now.
	Clock func() time.Time
	// Logger receives request errors; default slog.Default().
	Logger *slog.Logger
	// AsOf, if set, serves /queue, /machines, /jobset/{p}/{j} and /build/{id} with
	// ?asof=TIME|POSITION from the read models as they were then (asof.go).
	AsOf AsOfFunc
	// Insights, if set, serves the insight pages (insights.go).
	Insights InsightQueries
	// Notifications, if set, fills the Notifications tabs of builds and
	// jobsets (notifications.go); without it they are empty.
	Notifications NotificationHistory
	// Ops are operational GET endpoints by path (/healthz, /metrics,
	// /queue-runner-status), served behind the same authentication and
	// Private rule as every page: they name machines, jobsets and
	// running derivations.
	Ops map[string]http.Handler
	// TransparencyLog, if set, serves the event log as a transparency
	// log under /tlog (tlog.go).
	TransparencyLog TransparencyLog
	// SSHKeys, if set, serves /user/<u>/ssh-keys; nil answers 501.
	SSHKeys SSHKeys
	// Adhoc, if set, takes POST /api/build; nil answers 501.
	Adhoc AdhocBuilds
}

// server holds the parsed templates and the config.
type server struct {
	cfg     Config
	pages   map[string]*template.Template
	limiter *limiter
	streams *logStreams
	// verifying bounds the password verifications running at once: each
	// argon2id verification takes 19 MiB and a core for a while.
	verifying chan struct{}
	// diffs bounds the /api/scmdiff diffs running at once: each may
	// fetch a repository and runs git or hg.
	diffs chan struct{}
	// dummyHash is verified when a user does not exist, so that a failed
	// login takes as long either way.
	dummyHash string
	log       *slog.Logger
	now       func() time.Time
}

// New returns the web UI and API handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.Queries == nil || cfg.Commands == nil || cfg.Accounts == nil || cfg.Logs == nil {
		return nil, errors.New("web: Queries, Commands, Accounts and Logs are required")
	}
	if len(cfg.SessionKey) < 32 {
		return nil, fmt.Errorf("web: session key has %d bytes, want at least 32", len(cfg.SessionKey))
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StoreDir == "" {
		cfg.StoreDir = "/nix/store"
	}
	if cfg.SettleTimeout <= 0 {
		cfg.SettleTimeout = 3 * time.Second
	}
	if cfg.StreamsPerClient <= 0 {
		cfg.StreamsPerClient = defaultStreamsPerClient
	}
	if cfg.Streams <= 0 {
		cfg.Streams = defaultStreams
	}
	if cfg.LoginAttempts <= 0 {
		cfg.LoginAttempts = 10
	}
	pages, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	dummy, err := password.Hash("not a password", password.DefaultParams)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s := &server{cfg: cfg, pages: pages, log: cfg.Logger, now: cfg.Clock, dummyHash: dummy,
		limiter: newLimiter(cfg.LoginAttempts, time.Minute, cfg.Clock), streams: newLogStreams(cfg.Logs, cfg.StreamsPerClient, cfg.Streams), verifying: make(chan struct{}, runtime.NumCPU()),
		diffs: make(chan struct{}, maxDiffs)}
	return s.routes(), nil
}

// robots asks crawlers to stay away, as Hydra does: every page is
// generated from the database and a crawler would walk all of history.
func robots(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("User-agent: *\nDisallow: /*\n"))
}

func (s *server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.limits, s.hosts, s.recoverer, s.authenticate, s.tokenScope, s.sameOrigin, s.private)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { s.fail(w, r, errNotFound("page")) })
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, &httpError{Status: http.StatusMethodNotAllowed, Msg: "method not allowed"})
	})
	r.Handle("/static/*", staticHandler())
	if s.cfg.BinaryCache != nil {
		r.Mount("/nix-cache", http.StripPrefix("/nix-cache", s.cfg.BinaryCache))
		r.Get("/nix-cache/log/{drv}", s.h(s.drvLog))
		// Hydra serves its binary cache at the root: clients configured
		// with Hydra's URL as a substituter keep working.
		r.Handle("/nix-cache-info", s.cfg.BinaryCache)
		r.Handle("/{narinfo:[0-9a-df-np-sv-z]{32}\\.narinfo}", s.cfg.BinaryCache)
		r.Handle("/nar/*", s.cfg.BinaryCache)
		r.Handle("/realisations/*", s.cfg.BinaryCache)
	}
	// A store path's NAR, as Hydra serves it; the cache's NAR files
	// pass on to the cache.
	r.Handle("/nar/{name}", s.h(s.storeNAR))
	r.Get("/robots.txt", robots)
	r.Get("/log/{drv}", s.h(s.drvLog))
	for path, h := range s.cfg.Ops {
		r.Method(http.MethodGet, path, h)
	}
	if s.cfg.TransparencyLog != nil {
		s.tlogRoutes(r)
	}

	r.Get("/", s.h(s.projectsPage))
	r.Get("/create-project", s.h(s.projectForm))
	r.Post("/create-project", s.h(s.createProjectForm))
	r.Post("/project/{project}/create-jobset", s.h(s.createJobsetForm))
	r.Get("/project/{project}", s.h(s.projectPage))
	r.Put("/project/{project}", s.h(s.putProject))
	r.Post("/project/{project}", s.h(s.postProject))
	r.Delete("/project/{project}", s.h(s.deleteProject))
	r.Post("/project/{project}/delete", s.h(s.deleteProject))
	r.Get("/project/{project}/edit", s.h(s.projectForm))
	r.Get("/project/{project}/create-jobset", s.h(s.jobsetForm))
	r.Get("/project/{project}/events", s.h(s.projectEvents))

	r.Get("/jobset/{project}/{jobset}", s.h(s.asOf((*server).jobsetPage)))
	r.Put("/jobset/{project}/{jobset}", s.h(s.putJobset))
	r.Post("/jobset/{project}/{jobset}", s.h(s.postJobset))
	r.Delete("/jobset/{project}/{jobset}", s.h(s.deleteJobset))
	r.Post("/jobset/{project}/{jobset}/delete", s.h(s.deleteJobset))
	r.Get("/jobset/{project}/{jobset}/edit", s.h(s.jobsetForm))
	r.Get("/jobset/{project}/{jobset}/clone", s.h(s.cloneJobset))
	r.Get("/jobset/{project}/{jobset}/jobs-tab", s.h(s.jobsTab))
	r.Get("/jobset/{project}/{jobset}/channels-tab", s.h(s.channelsTab))
	r.Get("/jobset/{project}/{jobset}/evals", s.h(s.jobsetEvals))
	r.Get("/jobset/{project}/{jobset}/latest-eval", s.h(s.latestEval))
	r.Get("/jobset/{project}/{jobset}/latest-eval/*", s.h(s.latestEval))
	r.Get("/jobset/{project}/{jobset}/errors", s.h(s.jobsetErrors))
	r.Get("/jobset/{project}/{jobset}/events", s.h(s.jobsetEvents))
	r.Post("/jobset/{project}/{jobset}/evaluate", s.h(s.evaluateJobset))

	r.Get("/eval/{id}", s.h(s.evalPage))
	r.Get("/eval/{id}/builds", s.h(s.evalBuilds))
	r.Get("/eval/{id}/errors", s.h(s.evalErrors))
	r.Get("/eval/{id}/graph", s.h(s.evalGraph))
	r.Get("/eval/{id}/events", s.h(s.evalEvents))
	r.Get("/eval/{id}/store-paths", s.h(s.storePaths))
	r.Get("/eval/{id}/create-jobset", s.h(s.evalCreateJobset))
	r.Get("/eval/{id}/channel", s.h(s.evalChannelList))
	r.Get("/eval/{id}/channel/nixexprs.tar.bz2", s.h(s.channelNixExprs(evalChannel)))
	r.Get("/eval/{id}/channel/MANIFEST", s.h(s.channelManifest(evalChannel)))
	r.Get("/eval/{id}/channel/closure", s.h(s.channelClosure(evalChannel)))
	r.Get("/eval/{id}/channel/binary-cache-url", s.h(s.binaryCacheURL))
	r.Get("/eval/{id}/job/{job}", s.h(s.evalJob))
	r.Get("/eval/{id}/job/{job}/*", s.h(s.evalJob))
	r.Post("/eval/{id}/restart-failed", s.h(s.evalRestart(false)))
	r.Post("/eval/{id}/restart-aborted", s.h(s.evalRestart(true)))
	r.Post("/eval/{id}/cancel", s.h(s.evalCancel))
	r.Post("/eval/{id}/bump", s.h(s.evalBump))

	r.Get("/build/{id}", s.h(s.asOf((*server).buildPage)))
	r.Get("/build/{id}/constituents", s.h(s.buildConstituents))
	r.Get("/build/{id}/events", s.h(s.buildEvents))
	s.notificationsRoutes(r)
	s.runCommandRoutes(r)
	r.Get("/build/{id}/graph", s.h(s.buildGraph))
	r.Get("/build/{id}/log", s.h(s.buildLog("pretty")))
	r.Get("/build/{id}/log/raw", s.h(s.buildLog("raw")))
	r.Get("/build/{id}/log/tail", s.h(s.buildLog("tail")))
	r.Get("/build/{id}/log/stream", s.h(s.buildLog("stream")))
	r.Get("/build/{id}/step/{nr}/log", s.h(s.buildLog("pretty")))
	r.Get("/build/{id}/step/{nr}/log/raw", s.h(s.buildLog("raw")))
	r.Get("/build/{id}/step/{nr}/log/tail", s.h(s.buildLog("tail")))
	r.Get("/build/{id}/step/{nr}/log/stream", s.h(s.buildLog("stream")))
	r.Get("/build/{id}/nixlog/{nr}", s.h(s.nixlogRedirect))
	r.Get("/build/{id}/nixlog/{nr}/{mode}", s.h(s.nixlogRedirect))
	r.Get("/build/{id}/download", s.h(s.download))
	r.Get("/build/{id}/download/{nr}/*", s.h(s.download))
	r.Get("/build/{id}/download/{nr}", s.h(s.download))
	r.Get("/build/{id}/download-by-type/{type}/{subtype}", s.h(s.downloadByType))
	r.Get("/build/{id}/download-by-type/{type}/{subtype}/*", s.h(s.downloadByType))
	r.Get("/build/{id}/contents/{nr}", s.h(s.productContents))
	r.Get("/build/{id}/output/{name}", s.h(s.outputNAR))
	r.Get("/build/{id}/step/{nr}", s.h(s.buildStep))
	r.Get("/build/{id}/api/get-info", s.h(s.buildGetInfo))
	r.Get("/build/{id}/evals", s.h(s.buildEvals))
	r.Get("/build/{id}/eval", s.h(s.buildEval))
	r.Get("/build/{id}/eval/*", s.h(s.buildEval))
	r.Get("/build/{id}/reproduce", s.h(s.reproduce))
	r.Get("/build/{id}/build-deps", s.h(s.buildDeps))
	r.Get("/build/{id}/runtime-deps", s.h(s.runtimeDeps))
	r.Get("/build/{id}/nix", s.h(s.buildChannelList))
	r.Get("/build/{id}/nix/nixexprs.tar.bz2", s.h(s.channelNixExprs(buildChannel)))
	r.Get("/build/{id}/nix/MANIFEST", s.h(s.channelManifest(buildChannel)))
	r.Get("/build/{id}/nix/closure", s.h(s.channelClosure(buildChannel)))
	r.Get("/build/{id}/nix/binary-cache-url", s.h(s.buildChannelCacheURL))
	r.Get("/build/{id}/provenance", s.h(s.buildProvenance))
	r.Get("/provenance/key", s.h(s.provenanceKey))
	r.Post("/build/{id}/restart", s.h(s.buildAction("restart")))
	r.Post("/build/{id}/cancel", s.h(s.buildAction("cancel")))
	r.Post("/build/{id}/bump", s.h(s.buildAction("bump")))
	r.Post("/build/{id}/keep", s.h(s.buildAction("keep")))
	r.Post("/build/{id}/keep/{flag}", s.h(s.buildAction("keep")))

	r.Get("/job/{project}/{jobset}/{job}", s.h(s.jobPage))
	r.Get("/channel/custom/{project}/{jobset}/{channel}", s.h(s.customChannel))
	r.Get("/channel/custom/{project}/{jobset}/{channel}/binary-cache-url", s.h(s.customChannelCacheURL))
	r.Get("/channel/custom/{project}/{jobset}/{channel}/{product}", s.h(s.customChannelProduct))
	s.listBuildsRoutes(r, "")
	s.listBuildsRoutes(r, "/project/{project}")
	s.listBuildsRoutes(r, "/jobset/{project}/{jobset}")
	s.listBuildsRoutes(r, "/job/{project}/{jobset}/{job}")
	r.Get("/job/{project}/{jobset}/{job}/shield", s.h(s.jobShield))
	r.Get("/job/{project}/{jobset}/{job}/metric/{name}", s.h(s.metricChart))
	r.Get("/job/{project}/{jobset}/{job}/metric-tab", s.h(s.metricTab))
	r.Get("/job/{project}/{jobset}/{job}/build-times", s.h(s.jobSeries(BuildTimes)))
	r.Get("/job/{project}/{jobset}/{job}/closure-sizes", s.h(s.jobSeries(ClosureSizes)))
	r.Get("/job/{project}/{jobset}/{job}/output-sizes", s.h(s.jobSeries(OutputSizes)))
	r.Get("/job/{project}/{jobset}/{job}/prometheus", s.h(s.jobPrometheus))
	r.Post("/job/{project}/{jobset}/{job}/star", s.h(s.starJob))
	r.Get("/prometheus", s.h(s.prometheus))

	r.Get("/queue", s.h(s.asOf((*server).queuePage)))
	s.insightRoutes(r)
	r.Get("/queue-summary", s.h(s.queueSummary))
	r.Get("/status", s.h(s.statusPage))
	r.Get("/dashboard", s.h(s.myDashboard))
	r.Get("/dashboard/{user}", s.h(s.dashboard))
	r.Get("/dashboard/{user}/my-jobs-tab", s.h(s.myJobsTab))
	r.Get("/dashboard/{user}/my-jobsets-tab", s.h(s.myJobsetsTab))
	r.Get("/machines", s.h(s.asOf((*server).machinesPage)))
	r.Get("/steps", s.h(s.stepsPage))
	r.Get("/evals", s.h(s.allEvals))
	r.Get("/search", s.h(s.search))
	r.Get("/search/", s.h(s.search))

	r.Get("/api/latestbuilds", s.h(s.apiLatestBuilds))
	r.Get("/api/jobsets", s.h(s.apiJobsets))
	r.Get("/api/queue", s.h(s.apiQueue))
	r.Get("/api/nrqueue", s.h(s.apiNrQueue))
	r.Get("/api/nrbuilds", s.h(s.apiNrBuilds))
	r.Get("/api/scmdiff", s.h(s.apiSCMDiff))
	r.Post("/api/push", s.h(s.apiPush))
	r.Post("/api/build", s.h(s.apiBuild))
	r.Post("/api/push-github", s.h(s.pushGitHub))
	r.Post("/api/push-gitea", s.h(s.pushGitea))

	r.Get("/login", s.h(s.loginPage))
	r.Post("/login", s.h(s.login))
	r.Post("/logout", s.h(s.logout))
	r.Get("/current-user", s.h(s.currentUser))
	r.Get("/admin/users", s.h(s.usersPage))
	r.Post("/admin/users", s.h(s.createUser))
	r.Post("/admin/clear-queue-non-current", s.h(s.clearQueueNonCurrent))
	r.Put("/admin/clear-queue-non-current", s.h(s.clearQueueNonCurrent))
	r.Post("/admin/clear-failed-cache", s.h(s.clearFailedCache))
	r.Put("/admin/clear-failed-cache", s.h(s.clearFailedCache))
	r.Post("/admin/clear-vcs-cache", s.h(s.clearVCSCache))
	r.Put("/admin/clear-vcs-cache", s.h(s.clearVCSCache))
	r.Get("/admin/news", s.h(s.newsPage))
	r.Post("/admin/news/submit", s.h(s.submitNews))
	r.Post("/admin/news/delete/{id}", s.h(s.deleteNews))
	r.Get("/user/{user}", s.h(s.userPage))
	r.Post("/user/{user}", s.h(s.updateUser))
	r.Put("/user/{user}", s.h(s.putUser))
	r.Post("/user/{user}/reset-password", s.h(s.resetPassword))
	r.Get("/user/{user}/dashboard", s.h(s.userDashboard))
	r.Delete("/user/{user}", s.h(s.forgetUser))
	r.Post("/user/{user}/disable", s.h(s.setDisabled(true)))
	r.Post("/user/{user}/enable", s.h(s.setDisabled(false)))
	r.Post("/user/{user}/sessions/revoke", s.h(s.revokeSessions))
	r.Get("/user/{user}/tokens", s.h(s.tokensPage))
	r.Post("/user/{user}/tokens", s.h(s.createToken))
	r.Post("/user/{user}/tokens/{token}/revoke", s.h(s.revokeToken))
	r.Get("/user/{user}/ssh-keys", s.h(s.sshKeysPage))
	r.Post("/user/{user}/ssh-keys", s.h(s.addSSHKey))
	r.Post("/user/{user}/ssh-keys/delete", s.h(s.removeSSHKey))
	return r
}
