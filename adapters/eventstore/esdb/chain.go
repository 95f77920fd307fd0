package esdb

import (
	"context"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"buildledger/events"
)

// readBackwards returns up to count of the last events of stream full,
// newest first. A missing stream returns events.ErrStreamNotFound.
func (s *Store) readBackwards(ctx context.Context, full string, count uint64) ([]events.Recorded, error) {
	var out []events.Recorded
	err := s.call(func(c *esdb.Client) error {
		out = out[:0]
		rs, err := c.ReadStream(ctx, full, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, count)
		if err != nil {
			return err
		}
		defer rs.Close()
		for {
			re, err := rs.Recv()
			if isEOF(err) {
				return nil
			}
			if err != nil {
				return err
			}
			rec, ok, err := s.decode(re.OriginalEvent())
			if err != nil {
				return err
			}
			if ok {
				out = append(out, rec)
			}
		}
	})
	if code, ok := esdbCode(err); ok && (code == esdb.ErrorCodeResourceNotFound || code == esdb.ErrorCodeStreamDeleted) {
		return nil, fmt.Errorf("%w: %v", events.ErrStreamNotFound, err)
	}
	return out, err
}
