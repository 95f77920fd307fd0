package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/evaluator"
	"buildledger/adapters/nix/drv"
	"buildledger/adapters/postgres/queries"
	"buildledger/adapters/remotebuilder"
	"buildledger/adapters/ssh"
	"buildledger/commands"
	"buildledger/domain/adhoc"
)

// builderFlags are the remote-builder port's flags of up and queue-runner.
type builderFlags struct {
	listen, hostKey, baseURL string
	// owner owns the ad-hoc project when a submission creates it.
	owner string
	// maxQueued and maxSessionBytes are the per-user caps.
	maxQueued       int
	maxSessionBytes int64
}

func (f *builderFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "builder-listen", "", "address of the SSH port where plain Nix uses buildledger as its remote builder "+
		"(nix-store --serve --write; docs/remote-builder.md); empty: off")
	fs.StringVar(&f.hostKey, "builder-host-key", "", "the SSH port's private host key, created at the first start; default HOME/builder-host-key")
	fs.StringVar(&f.owner, "adhoc-owner", adhoc.DefaultOwner, "administrator who owns the ad-hoc project when the first submission creates it "+
		"(the remote-builder port or POST /api/build)")
	fs.IntVar(&f.maxQueued, "adhoc-max-queued", adhoc.DefaultMaxQueued, "most unfinished ad-hoc builds one user may have; 0: no cap")
	fs.Int64Var(&f.maxSessionBytes, "builder-max-session-bytes", adhoc.DefaultMaxSessionBytes,
		"most NAR bytes one remote-builder session (or POST /api/build) may copy into the server's store; 0: no cap")
}

// adhocService is what submits ad-hoc builds, for the SSH port and POST
// /api/build.
func (s *system) adhocService(baseURL string, f builderFlags, log *slog.Logger) (*remotebuilder.Service, error) {
	logs, err := s.logStore()
	if err != nil {
		return nil, err
	}
	store := &drv.Store{Args: []string{"--option", "substituters", ""}}
	return remotebuilder.New(remotebuilder.Config{Runtime: s.runtime, Handlers: s.handlers,
		Accounts: commands.NewAccounts(s.runtime, nil), Store: store, Local: binarycache.LocalStore{},
		Graph: &evaluator.Graph{Store: store}, Logs: logs, BaseURL: baseURL, Owner: f.owner, Queue: queries.New(s.pool), MaxQueued: f.maxQueued,
		MaxSessionBytes: f.maxSessionBytes, Log: log}), nil
}

// remoteBuilder starts the SSH port when --builder-listen is set: it
// returns the function that serves it until ctx ends, or nil.
func (s *system) remoteBuilder(svc *remotebuilder.Service, f builderFlags, log *slog.Logger) (func(ctx context.Context) error, error) {
	if f.listen == "" {
		return nil, nil
	}
	keyFile := f.hostKey
	if keyFile == "" {
		keyFile = filepath.Join(s.cfg.home, "builder-host-key")
	}
	srv, err := ssh.Listen(f.listen, ssh.ServerConfig{HostKeyFile: keyFile, Authorize: svc.Authorize,
		Commands: svc.Commands(), Log: log})
	if err != nil {
		return nil, fmt.Errorf("--builder-listen: %w", err)
	}
	log.Info("remote builder listening", "addr", srv.Addr().String(), "known_hosts", srv.KnownHostsLine(srv.Addr().String()))
	return srv.Serve, nil
}

// baseURLOf is the web's public URL: --base-url, else the listener's.
func baseURLOf(flagValue, addr string) string {
	if flagValue != "" {
		return flagValue
	}
	return "http://" + addr
}

var _ remotebuilder.QueueCounter = (*queries.DB)(nil)
