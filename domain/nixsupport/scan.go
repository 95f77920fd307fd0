package nixsupport

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
)

// Output is one output of a build: its name ("out", "dev", …) and store
// path.
type Output struct {
	Name string
	Path string
}

// Result is what Scan found in a build's outputs.
type Result struct {
	// Products are the products of all outputs, in output order: those
	// an output's products file lists, or the output's implicit product
	// when it is a directory without a products file. Their number in
	// Hydra's BuildProducts is the index+1.
	Products []Product
	// Metrics are the metrics of all outputs; a later line or output wins
	// for a repeated name.
	Metrics []Metric
	// ReleaseName is the last valid hydra-release-name, or empty.
	ReleaseName string
	// Failed is true when any output has nix-support/failed.
	Failed bool
	// Skipped lists the lines and products that were dropped, and
	// release-name files that were invalid (Line 0).
	Skipped []Skipped
}

// Scan reads the nix-support files of every output from fsys, an fs.FS
// rooted at "/", as Hydra does after a successful build. Outputs are taken
// in the order given (Hydra goes by output name). A product must lie
// inside one of the build's outputs, not necessarily the one whose file
// lists it (Hydra looks it up among all outputs' files). Each directory output without a products
// file of its own gets its ImplicitProduct, as Hydra's current queue runner
// decides per output (its older C++ runner added them only when no output
// had the file). A missing file is not an error; a file that cannot be
// read, or is over lim, is.
func Scan(ctx context.Context, fsys fs.FS, outputs []Output, lim Limits) (Result, error) {
	var res Result
	metricIndex := map[string]int{}
	roots := make([]string, len(outputs))
	for i, o := range outputs {
		roots[i] = o.Path
	}
	for _, o := range outputs {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("scan %s: %w", o.Path, err)
		}
		// An output that is a regular file (or missing) has no nix-support
		// and no implicit product.
		info, err := fs.Lstat(fsys, fsPath(o.Path))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("stat %s: %w", o.Path, err)
		}
		if err != nil || !info.IsDir() {
			continue
		}
		found, err := scanProducts(ctx, fsys, o, roots, lim, &res)
		if err != nil {
			return res, err
		}
		if !found {
			res.Products = append(res.Products, ImplicitProduct(o.Name, o.Path))
		}
		if err := scanMetrics(fsys, o, lim, &res, metricIndex); err != nil {
			return res, err
		}
		if err := scanReleaseName(fsys, o, &res); err != nil {
			return res, err
		}
		_, err = fs.Lstat(fsys, fsPath(path.Join(o.Path, FailedFile)))
		switch {
		case err == nil:
			res.Failed = true
		case !errors.Is(err, fs.ErrNotExist):
			return res, fmt.Errorf("stat %s: %w", path.Join(o.Path, FailedFile), err)
		}
	}
	return res, nil
}

// openSupportFile opens the nix-support file rel of output o, or returns
// nil when there is none, or when it is not a regular file reached inside
// the output without symbolic links. A build controls its output: a link
// would make the server read, and publish for good, a file of its own
// choosing (the first line of any file, as a release name); a FIFO would
// hang the scan. Such files are reported in res.Skipped.
func openSupportFile(fsys fs.FS, o Output, rel string, res *Result) (fs.File, error) {
	file := path.Join(o.Path, rel)
	info, reason, err := lstatInside(fsys, o.Path, file)
	switch {
	case err != nil:
		return nil, err
	case reason == reasonMissing:
		return nil, nil
	case reason == "" && info.Mode()&fs.ModeSymlink != 0:
		reason = "is a symbolic link"
	case reason == "" && !info.Mode().IsRegular():
		reason = "is not a regular file"
	}
	if reason != "" {
		res.Skipped = append(res.Skipped, Skipped{File: file, Reason: reason})
		return nil, nil
	}
	f, err := fsys.Open(fsPath(file))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	return f, nil
}

func scanProducts(ctx context.Context, fsys fs.FS, o Output, roots []string, lim Limits, res *Result) (found bool, err error) {
	file := path.Join(o.Path, ProductsFile)
	f, err := openSupportFile(fsys, o, ProductsFile, res)
	if f == nil || err != nil {
		return false, err
	}
	defer f.Close()
	products, skipped, parseErr := ParseProducts(f, roots, lim)
	res.Skipped = append(res.Skipped, inFile(skipped, file)...)
	products, skipped, err = FillFileInfo(ctx, fsys, products)
	res.Skipped = append(res.Skipped, inFile(skipped, file)...)
	res.Products = append(res.Products, products...)
	if parseErr != nil {
		return true, fmt.Errorf("%s: %w", o.Path, parseErr)
	}
	return true, err
}

func scanMetrics(fsys fs.FS, o Output, lim Limits, res *Result, index map[string]int) error {
	file := path.Join(o.Path, MetricsFile)
	f, err := openSupportFile(fsys, o, MetricsFile, res)
	if f == nil || err != nil {
		return err
	}
	defer f.Close()
	metrics, skipped, err := ParseMetrics(f, lim)
	res.Skipped = append(res.Skipped, inFile(skipped, file)...)
	for _, m := range metrics {
		if i, ok := index[m.Name]; ok {
			res.Metrics[i] = m
			continue
		}
		index[m.Name] = len(res.Metrics)
		res.Metrics = append(res.Metrics, m)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", o.Path, err)
	}
	return nil
}

func scanReleaseName(fsys fs.FS, o Output, res *Result) error {
	file := path.Join(o.Path, ReleaseNameFile)
	f, err := openSupportFile(fsys, o, ReleaseNameFile, res)
	if f == nil || err != nil {
		return err
	}
	defer f.Close()
	name, err := ParseReleaseName(f)
	switch {
	case errors.Is(err, ErrInvalidReleaseName):
		res.Skipped = append(res.Skipped, Skipped{File: file, Reason: err.Error()})
	case err != nil:
		return err
	default:
		res.ReleaseName = name
	}
	return nil
}

func inFile(s []Skipped, file string) []Skipped {
	for i := range s {
		s[i].File = file
	}
	return s
}
