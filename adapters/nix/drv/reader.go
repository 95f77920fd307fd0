package drv

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
)

// Reader reads derivations and caches every parsed result, so walking many
// closures that share inputs parses each .drv once. A Reader is safe for
// concurrent use. The zero value reads from the real file system root.
type Reader struct {
	// Root is prepended to store paths to find the files, e.g. "/tmp/chroot"
	// for a store opened with `--store /tmp/chroot`. Empty means "/".
	Root string

	mu    sync.Mutex
	cache map[string]*entry
}

type entry struct {
	done chan struct{}
	drv  *Derivation
	err  error
}

// NewReader returns a Reader for the store rooted at root ("" for /).
func NewReader(root string) *Reader {
	return &Reader{Root: root}
}

// Read returns the parsed derivation at store path p, from cache if read before.
// Failed reads are not cached.
func (r *Reader) Read(p string) (*Derivation, error) {
	r.mu.Lock()
	if r.cache == nil {
		r.cache = map[string]*entry{}
	}
	if e, ok := r.cache[p]; ok {
		r.mu.Unlock()
		<-e.done
		if e.err == nil {
			return e.drv, nil
		}
		return nil, e.err
	}
	e := &entry{done: make(chan struct{})}
	r.cache[p] = e
	r.mu.Unlock()

	e.drv, e.err = readFile(p, r.file(p))
	close(e.done)
	if e.err != nil {
		r.mu.Lock()
		delete(r.cache, p)
		r.mu.Unlock()
	}
	return e.drv, e.err
}

func (r *Reader) file(p string) string {
	if r.Root == "" {
		return p
	}
	return filepath.Join(r.Root, p)
}

// InputPaths returns the store paths a builder needs present to build d: its
// input sources plus the used outputs of its input derivations (what Nix calls
// resolving to a BasicDerivation's inputSrcs). Sorted, without duplicates.
func (r *Reader) InputPaths(d *Derivation) ([]string, error) {
	set := make(map[string]struct{}, len(d.InputSrcs)+len(d.InputDrvs))
	for _, p := range d.InputSrcs {
		set[p] = struct{}{}
	}
	for in, names := range d.InputDrvs {
		dep, err := r.Read(in)
		if err != nil {
			return nil, fmt.Errorf("inputs of %s: %w", d.Path, err)
		}
		for _, n := range names {
			p, ok := dep.Outputs[n]
			if !ok {
				return nil, fmt.Errorf("inputs of %s: %s has no output %q", d.Path, in, n)
			}
			if p == "" {
				return nil, fmt.Errorf("inputs of %s: output %q of %s has no static path", d.Path, n, in)
			}
			set[p] = struct{}{}
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

// readAll parses paths concurrently (bounded) and returns them in order.
func (r *Reader) readAll(ctx context.Context, paths []string, workers int) ([]*Derivation, error) {
	out := make([]*Derivation, len(paths))
	errs := make([]error, len(paths))
	if workers > len(paths) {
		workers = len(paths)
	}
	if workers <= 1 {
		for i, p := range paths {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("read derivations: %w", err)
			}
			d, err := r.Read(p)
			if err != nil {
				return nil, err
			}
			out[i] = d
		}
		return out, nil
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = r.Read(paths[i])
			}
		}()
	}
	var ctxErr error
feed:
	for i := range paths {
		select {
		case next <- i:
		case <-ctx.Done():
			ctxErr = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if ctxErr != nil {
		return nil, fmt.Errorf("read derivations: %w", ctxErr)
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
