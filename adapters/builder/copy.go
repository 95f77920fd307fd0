package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/nix/serve"
	"buildledger/events"
)

// copyInputs copies the part of the inputs' closure the machine lacks
// from the local store, references first.
func (w *Worker) copyInputs(ctx context.Context, client *serve.Client, inputs []string) error {
	if len(inputs) == 0 {
		return nil
	}
	closure, err := w.localClosure(ctx, inputs)
	if err != nil {
		return fmt.Errorf("inputs: %w", err)
	}
	paths := make([]string, len(closure))
	for i, p := range closure {
		paths[i] = p.Path
	}
	valid, err := client.QueryValidPaths(ctx, paths, false, false)
	if err != nil {
		return err
	}
	onMachine := make(map[string]bool, len(valid))
	for _, p := range valid {
		onMachine[p] = true
	}
	var missing []serve.PathInfo
	var sent int64
	for _, p := range closure {
		if !onMachine[p.Path] {
			missing = append(missing, p)
			sent += int64(p.NarSize)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := client.ImportPaths(ctx, missing, w.local.DumpNAR); err != nil {
		return err
	}
	w.metrics.copyBytes.WithLabelValues("to-machine").Add(float64(sent))
	return nil
}

// outputTooLargeError reports an output whose NAR is over the limit.
type outputTooLargeError struct {
	path        string
	size, limit int64
}

func (e *outputTooLargeError) Error() string {
	return fmt.Sprintf("output %s is %d bytes, over the limit of %d bytes", e.path, e.size, e.limit)
}

// copyOutputs copies the outputs' closure from the machine into the
// local store (what the local store lacks of it) and returns the infos of
// the whole closure, references first. An output over maxOutput (when
// positive) is an *outputTooLargeError and nothing is copied. With
// sameStore the machine builds in the local store and nothing needs
// copying.
func (w *Worker) copyOutputs(ctx context.Context, client *serve.Client, outputs []events.Output, maxOutput int64, sameStore bool) ([]serve.PathInfo, error) {
	paths := make([]string, len(outputs))
	for i, o := range outputs {
		paths[i] = o.Path
	}
	outInfos, err := client.QueryPathInfos(ctx, paths)
	if err != nil {
		return nil, err
	}
	if len(outInfos) != len(paths) {
		return nil, fmt.Errorf("the machine reports %d of %d outputs valid after the build", len(outInfos), len(paths))
	}
	for _, p := range outInfos {
		if maxOutput > 0 && int64(p.NarSize) > maxOutput {
			return nil, &outputTooLargeError{path: p.Path, size: int64(p.NarSize), limit: maxOutput}
		}
	}
	closure, err := client.QueryClosure(ctx, paths, false)
	if err != nil {
		return nil, err
	}
	infos, err := client.QueryPathInfos(ctx, closure)
	if err != nil {
		return nil, err
	}
	infos = topoOrder(infos)
	if sameStore {
		return infos, nil
	}
	valid, err := w.store.ValidPaths(ctx, closure)
	if err != nil {
		return nil, fmt.Errorf("local validity: %w", err)
	}
	var missing []string
	var size int64
	for _, p := range infos {
		if !valid[p.Path] {
			missing = append(missing, p.Path)
			size += int64(p.NarSize)
		}
	}
	if len(missing) == 0 {
		return infos, nil
	}
	if err := w.receive(ctx, client, missing); err != nil {
		return nil, err
	}
	w.metrics.copyBytes.WithLabelValues("from-machine").Add(float64(size))
	return infos, nil
}

// receive exports paths from the machine straight into `nix-store
// --import` of the local store.
func (w *Worker) receive(ctx context.Context, client *serve.Client, paths []string) error {
	pr, pw := io.Pipe()
	imported := make(chan error, 1)
	go func() {
		_, err := w.store.Import(ctx, pr)
		_ = pr.CloseWithError(errors.New("local import ended"))
		imported <- err
	}()
	ew := serve.NewExportWriter(pw)
	err := client.ExportPaths(ctx, paths, func(_ string, info serve.PathInfo, nar io.Reader) error {
		return ew.Add(info, nar)
	})
	if err == nil {
		err = ew.Close()
	}
	_ = pw.CloseWithError(err)
	importErr := <-imported
	if err != nil {
		if importErr != nil {
			return fmt.Errorf("%w (local import: %v)", err, importErr)
		}
		return err
	}
	if importErr != nil {
		return fmt.Errorf("local import: %w", importErr)
	}
	return nil
}

// subtract returns the elements of all that are not in some.
func subtract(all, some []string) []string {
	seen := make(map[string]bool, len(some))
	for _, p := range some {
		seen[p] = true
	}
	var out []string
	for _, p := range all {
		if !seen[p] {
			out = append(out, p)
		}
	}
	return out
}

// topoOrder returns infos with every path after the paths it references
// (among infos); ties keep path order.
func topoOrder(infos []serve.PathInfo) []serve.PathInfo {
	byPath := make(map[string]serve.PathInfo, len(infos))
	paths := make([]string, 0, len(infos))
	for _, p := range infos {
		byPath[p.Path] = p
		paths = append(paths, p.Path)
	}
	slices.Sort(paths)
	done := make(map[string]bool, len(infos))
	out := make([]serve.PathInfo, 0, len(infos))
	var visit func(string)
	visit = func(p string) {
		if done[p] {
			return
		}
		done[p] = true
		info := byPath[p]
		refs := slices.Clone(info.References)
		slices.Sort(refs)
		for _, r := range refs {
			if _, ok := byPath[r]; ok && r != p {
				visit(r)
			}
		}
		out = append(out, info)
	}
	for _, p := range paths {
		visit(p)
	}
	return out
}

// cacheInfo converts a serve path info for the binary cache.
func cacheInfo(p serve.PathInfo) binarycache.PathInfo {
	return binarycache.PathInfo{StorePath: p.Path, References: p.References, Deriver: p.Deriver,
		NarHash: p.NarHash, NarSize: int64(p.NarSize)}
}
