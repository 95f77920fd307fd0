package eval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// lockFlake resolves a flake reference to its locked URL with
// `nix flake metadata`, as Hydra does before evaluating.
func lockFlake(ctx context.Context, r *runner, ref string) (string, error) {
	out, err := r.run(ctx, nil, r.req.bin("nix"), "--extra-experimental-features", "nix-command flakes",
		"flake", "metadata", "--json", "--no-write-lock-file", ref)
	if err != nil {
		var nerr *nixError
		if errors.As(err, &nerr) {
			return "", fmt.Errorf("lock flake %s: %s", ref, nerr.Msg)
		}
		return "", fmt.Errorf("lock flake %s: %w", ref, err)
	}
	var md struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(out, &md); err != nil {
		return "", fmt.Errorf("decode flake metadata of %s: %w", ref, err)
	}
	if md.URL == "" {
		return "", fmt.Errorf("flake metadata of %s has no locked url", ref)
	}
	return md.URL, nil
}
