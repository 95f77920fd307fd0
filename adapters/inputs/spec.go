package inputs

import (
	"context"
	"fmt"
	"io"
	"os"

	"buildledger/domain/declarative"
)

// ReadSpec reads a declarative project's spec file, file, inside the
// fetched input dir. The file is opened through an os.Root at dir, so
// neither ".." nor a symbolic link in the input (whose content the
// project's owner chooses) leads to a file outside it: the server's own
// files are not theirs to read. At most declarative.MaxSpecBytes+1 bytes
// are read, so that Parse refuses a bigger file without it all in memory.
func (f *Fetcher) ReadSpec(ctx context.Context, dir, file string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("spec input %s: %w", dir, err)
	}
	defer root.Close()
	fh, err := root.Open(file)
	if err != nil {
		return nil, fmt.Errorf("spec file: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, declarative.MaxSpecBytes+1))
	if err != nil {
		return nil, fmt.Errorf("spec file %s: %w", file, err)
	}
	return data, nil
}
