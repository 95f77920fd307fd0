package serve

import (
	"context"
	"errors"
	"io"
)

// ErrClientLeft ends a build whose client closed its input while waiting
// for the result. Nix's clients keep their end open until they have read
// the result: the build hook holds the write side of its ssh's stdin, and
// when nix-build is killed the kernel kills the hook (it asked for
// PR_SET_PDEATHSIG), so its ssh reads EOF and sends it on. That ssh lives
// on (it ignores SIGPIPE and was started without a death signal), and so
// does the connection: the end of the input is the only sign that the
// client is gone.
var ErrClientLeft = errors.New("the client closed its input while waiting for a build")

// input reads the client's requests in a goroutine of its own, one chunk
// ahead of the server, so that the server learns that the client closed
// its end even while it is busy with a build and not reading.
type input struct {
	chunks chan []byte
	// rest is the part of the last chunk not read yet.
	rest []byte
	// err is why reading ended; set before chunks and gone are closed.
	err error
	// gone is closed once the client's end is closed (EOF or an error),
	// after the goroutine handed on all the client sent.
	gone chan struct{}
	// stop releases the goroutine when the server is done.
	stop chan struct{}
}

func newInput(r io.Reader) *input {
	in := &input{chunks: make(chan []byte), gone: make(chan struct{}), stop: make(chan struct{})}
	go func() {
		for {
			buf := make([]byte, 32<<10)
			n, err := r.Read(buf)
			if n > 0 {
				select {
				case in.chunks <- buf[:n]:
				case <-in.stop:
					return
				}
			}
			if err != nil {
				in.err = err
				close(in.gone)
				close(in.chunks)
				return
			}
		}
	}()
	return in
}

func (in *input) Read(p []byte) (int, error) {
	if len(in.rest) == 0 {
		chunk, ok := <-in.chunks
		if !ok {
			return 0, in.err
		}
		in.rest = chunk
	}
	n := copy(p, in.rest)
	in.rest = in.rest[n:]
	return n, nil
}

// close releases the reading goroutine once it has a chunk no one will
// read; one blocked in the client's Read ends with the session.
func (in *input) close() { close(in.stop) }

// whileClientWaits is ctx, cancelled with ErrClientLeft if the client
// closes its input before stop is called. Input the client sends ahead
// (it may, and nothing in the protocol forbids it) holds the reading
// goroutine, so an EOF after it is noticed only when it is read.
func (in *input) whileClientWaits(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		select {
		case <-in.gone:
			cancel(ErrClientLeft)
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		cancel(nil)
	}
}
