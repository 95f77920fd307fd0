package builder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/logstore"
	"buildledger/adapters/nix/drv"
	"buildledger/adapters/ssh"
	"buildledger/commands"
	"buildledger/domain/nixsupport"
)

// Defaults used when the corresponding Config field is zero.
const (
	DefaultMaxSilent  = time.Hour
	DefaultTimeout    = 10 * time.Hour
	DefaultMaxLogSize = 64 << 20
	// DefaultWatchInterval is how often a running step's stream is read
	// to notice that its attempt ended elsewhere.
	DefaultWatchInterval = time.Second
	// DefaultLocalNice is the nice value the worker's flags give the
	// builds on "localhost" (--build-nice): on a machine that also runs
	// the web server, the projector and Postgres, a build is the work
	// that can wait. docs/performance.md has what it gave.
	DefaultLocalNice = 10
)

// Config configures a Worker.
type Config struct {
	// Runtime records the worker's events. Required.
	Runtime *commands.Runtime
	// Logs keeps the build logs. Required.
	Logs *logstore.Store
	// Cache is the destination binary cache; nil uploads nothing.
	Cache binarycache.Destination
	// LocalStore is the --store of the local Nix store, which holds the
	// derivations and their inputs and receives the outputs: empty for
	// the default store, or the directory of a chroot store.
	LocalStore string
	// NixStoreArgs are passed to every nix-store command, local ones and
	// the serve command on build machines, before its other arguments:
	// e.g. {"--option", "substituters", ""}.
	NixStoreArgs []string
	// LocalNixStore is the nix-store executable on this machine (also the
	// localhost builder's); empty means "nix-store" from PATH.
	LocalNixStore string
	// LocalNice is the nice value of the nix-store commands the worker
	// starts on this machine (0: the usual priority): those that build on
	// "localhost", whose builds inherit it, and the one that answers its
	// queries on the local store. Builds run by a nix-daemon (nix-store
	// not run as root on a multi-user install) keep the daemon's value.
	LocalNice int
	// RemoteNixStore is the nix-store command on ssh:// machines; empty
	// means "nix-store".
	RemoteNixStore string
	// KnownHostsFile lists the host keys of machines without a pinned key;
	// empty means ~/.ssh/known_hosts.
	KnownHostsFile string
	// MaxSilent, Timeout and MaxLogSize apply when a BuildStep leaves them
	// zero. Zero means DefaultMaxSilent, DefaultTimeout and
	// DefaultMaxLogSize.
	MaxSilent  time.Duration
	Timeout    time.Duration
	MaxLogSize int64
	// MaxOutputSize limits each output's NAR size when a BuildStep leaves
	// it zero; zero means no limit.
	MaxOutputSize int64
	// ScanLimits bound the nix-support files read from outputs.
	ScanLimits nixsupport.Limits
	// WatchInterval is how often the stream of a running step is read to
	// notice that its attempt was ended by someone else (the scheduler
	// cancelled it because no build needs it any more, or gave it up);
	// the build is then killed. Zero means DefaultWatchInterval.
	WatchInterval time.Duration
	// SpoolDir holds outputs received from machines on their way into the
	// local store; empty means os.TempDir().
	SpoolDir string
	// Actor is recorded on the worker's events; empty means
	// commands.ComponentActor("builder").
	Actor string
	// Logger receives progress and errors; nil means slog.Default().
	Logger *slog.Logger
}

// Worker carries out BuildStep commands. It is safe for concurrent use:
// each step runs on its own connection.
type Worker struct {
	cfg     Config
	steps   *commands.Handlers
	reader  *drv.Reader
	store   drv.Store
	local   binarycache.LocalStore
	root    string
	ssh     *sshPool
	metrics *metrics
	log     *slog.Logger
	pool    sessionPool
	queries localQueries

	ctx     context.Context
	cancel  context.CancelFunc
	running sync.WaitGroup
}

// keptDerivations bounds the parsed derivations a worker keeps: those of
// recent steps and their inputs, which the next steps share (stdenv and
// its like), not every one it ever built.
const keptDerivations = 4096

// New returns a Worker for cfg. It returns an error if Runtime or Logs is
// missing or LocalStore is not an absolute directory path.
func New(cfg Config) (*Worker, error) {
	if cfg.Runtime == nil || cfg.Logs == nil {
		return nil, errors.New("builder: Config needs Runtime and Logs")
	}
	if cfg.LocalStore != "" && !filepath.IsAbs(cfg.LocalStore) {
		return nil, fmt.Errorf("builder: local store %q: want an absolute chroot store directory or empty", cfg.LocalStore)
	}
	if cfg.LocalNixStore == "" {
		cfg.LocalNixStore = "nix-store"
	}
	if cfg.RemoteNixStore == "" {
		cfg.RemoteNixStore = "nix-store"
	}
	if cfg.KnownHostsFile == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cfg.KnownHostsFile = filepath.Join(home, ".ssh", "known_hosts")
		}
	}
	if cfg.MaxSilent <= 0 {
		cfg.MaxSilent = DefaultMaxSilent
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxLogSize <= 0 {
		cfg.MaxLogSize = DefaultMaxLogSize
	}
	if cfg.WatchInterval <= 0 {
		cfg.WatchInterval = DefaultWatchInterval
	}
	if cfg.Actor == "" {
		cfg.Actor = commands.ComponentActor("builder")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Worker{
		cfg: cfg,
		// The step commands need neither an id allocator nor a vault.
		steps:   commands.NewHandlers(cfg.Runtime, nil, nil),
		reader:  drv.NewBoundedReader(cfg.LocalStore, keptDerivations),
		store:   drv.Store{Bin: cfg.LocalNixStore, URI: cfg.LocalStore, Args: cfg.NixStoreArgs},
		local:   binarycache.LocalStore{Store: cfg.LocalStore},
		root:    cfg.LocalStore,
		ssh:     &sshPool{knownHosts: cfg.KnownHostsFile, clients: map[string]*ssh.Client{}},
		metrics: newMetrics(),
		log:     cfg.Logger,
		ctx:     ctx,
		cancel:  cancel,
		pool:    sessionPool{idle: map[string][]*session{}, preparing: map[string]bool{}},
	}
	if w.root == "" {
		w.root = "/"
	}
	return w, nil
}

// Close aborts the steps still running (they are recorded with status 3)
// and waits for them, then closes the SSH connections.
func (w *Worker) Close() error {
	w.cancel()
	w.running.Wait()
	w.closeSessions()
	w.closeQuerySession()
	w.ssh.close()
	return nil
}

// Wait waits until the steps started by Handle have finished.
func (w *Worker) Wait() { w.running.Wait() }
