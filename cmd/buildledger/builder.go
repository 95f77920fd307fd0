package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/builder"
	"buildledger/adapters/logstore"
	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/events"
)

// newWorker returns the builder worker: logs under HOME/logs (where the
// web UI reads them), outputs uploaded to the signed binary cache under
// HOME/cache.
func (s *system) newWorker() (*builder.Worker, error) {
	logs, err := logstore.New(s.cfg.logDir(), logstore.Options{})
	if err != nil {
		return nil, err
	}
	key, err := cacheKey(s.cfg.home)
	if err != nil {
		return nil, err
	}
	cache, err := binarycache.NewFileWriter(s.cfg.cacheDir(), binarycache.FileWriterOptions{SecretKeys: []signature.SecretKey{key}, Logger: s.log})
	if err != nil {
		return nil, err
	}
	spool := filepath.Join(s.cfg.home, "spool")
	if err := os.MkdirAll(spool, 0o755); err != nil {
		return nil, err
	}
	return builder.New(builder.Config{
		Runtime:      s.runtime,
		Logs:         logs,
		Cache:        cache,
		SpoolDir:     spool,
		NixStoreArgs: []string{"--option", "substituters", ""},
		Logger:       s.log,
	})
}

// cacheKey loads the binary cache's signing key, generating it (and its
// public half, to give to Nix as a trusted key) on first use.
func cacheKey(home string) (signature.SecretKey, error) {
	secret := filepath.Join(home, "cache-key.sec")
	k, err := binarycache.LoadSecretKeyFile(secret)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return signature.SecretKey{}, err
	}
	sk, _, err := binarycache.GenerateKey("buildledger-1")
	if err != nil {
		return signature.SecretKey{}, err
	}
	if err := binarycache.SaveKeyPair(sk, secret, filepath.Join(home, "cache-key.pub")); err != nil {
		return signature.SecretKey{}, fmt.Errorf("save cache signing key: %w", err)
	}
	return sk, nil
}

// ensureLocalMachine registers this machine as the localhost builder on
// first start, for the systems Nix builds here.
func (s *system) ensureLocalMachine(ctx context.Context) error {
	md := commands.NewMetadata(commands.ComponentActor("up"), s.runtime)
	_, err := s.handlers.RegisterMachine(ctx, md, commands.RegisterMachine{Name: "localhost", Config: events.MachineConfig{
		URI:               "localhost",
		Systems:           []string{hostSystem(), "builtin"},
		MaxJobs:           runtime.NumCPU(),
		SpeedFactor:       1,
		SupportedFeatures: []string{"benchmark", "big-parallel", "nixos-test"},
		Enabled:           true,
	}})
	if err != nil && !errors.Is(err, domainerr.ErrAlreadyExists) {
		return fmt.Errorf("register the local builder: %w", err)
	}
	return nil
}
