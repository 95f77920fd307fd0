package esdbtest

import (
	"regexp"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	streamsapi "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
)

// Read serves plain reads of a stream or $all, and subscriptions to $all.
func (x *streamsService) Read(req *streamsapi.ReadReq, out streamsapi.Streams_ReadServer) error {
	o := req.GetOptions()
	if o == nil {
		return status.Error(codes.InvalidArgument, "esdbtest: read without options")
	}
	f, err := compileFilter(o.GetFilter())
	if err != nil {
		return err
	}
	structured := o.GetUuidOption().GetString_() == nil
	backwards := o.GetReadDirection() == streamsapi.ReadReq_Options_Backwards
	switch {
	case o.GetSubscription() != nil:
		if o.GetAll() == nil {
			return status.Error(codes.Unimplemented, "esdbtest: only subscriptions to $all are implemented")
		}
		if backwards {
			return status.Error(codes.InvalidArgument, "esdbtest: subscriptions read forwards")
		}
		return x.subscribeAll(o.GetAll(), f, structured, out)
	case o.GetStream() != nil:
		return x.readStream(o.GetStream(), o.GetCount(), backwards, structured, out)
	case o.GetAll() != nil:
		return x.readAll(o.GetAll(), o.GetCount(), backwards, f, structured, out)
	}
	return status.Error(codes.InvalidArgument, "esdbtest: read of neither a stream nor $all")
}

func (x *streamsService) readStream(so *streamsapi.ReadReq_Options_StreamOptions, count uint64, backwards, structured bool, out streamsapi.Streams_ReadServer) error {
	name := string(so.GetStreamIdentifier().GetStreamName())
	recs := x.srv.log.stream(name)
	if len(recs) == 0 {
		return out.Send(&streamsapi.ReadResp{Content: &streamsapi.ReadResp_StreamNotFound_{
			StreamNotFound: &streamsapi.ReadResp_StreamNotFound{StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)}}}})
	}
	last := int64(len(recs) - 1)
	var from int64
	switch v := so.GetRevisionOption().(type) {
	case *streamsapi.ReadReq_Options_StreamOptions_Revision:
		from = int64(min(v.Revision, uint64(1)<<62))
	case *streamsapi.ReadReq_Options_StreamOptions_End:
		from = last + 1
		if backwards {
			from = last
		}
	}
	sent := uint64(0)
	if backwards {
		for i := min(from, last); i >= 0 && sent < count; i-- {
			if err := out.Send(eventResp(recs[i], structured)); err != nil {
				return err
			}
			sent++
		}
		return nil
	}
	for i := from; i <= last && sent < count; i++ {
		if err := out.Send(eventResp(recs[i], structured)); err != nil {
			return err
		}
		sent++
	}
	return nil
}

func (x *streamsService) readAll(ao *streamsapi.ReadReq_Options_AllOptions, count uint64, backwards bool, f *filter, structured bool, out streamsapi.Streams_ReadServer) error {
	evs, _ := x.srv.log.snapshot()
	send := func(r *record, sent *uint64) error {
		if f != nil && !f.match(r) {
			return nil
		}
		*sent++
		return out.Send(eventResp(r, structured))
	}
	var sent uint64
	if backwards {
		i := len(evs) - 1
		switch v := ao.GetAllOption().(type) {
		case *streamsapi.ReadReq_Options_AllOptions_Start:
			i = -1
		case *streamsapi.ReadReq_Options_AllOptions_Position:
			// Backwards from a position excludes it.
			for i >= 0 && !evs[i].less(v.Position.GetCommitPosition(), v.Position.GetPreparePosition()) {
				i--
			}
		}
		for ; i >= 0 && sent < count; i-- {
			if err := send(evs[i], &sent); err != nil {
				return err
			}
		}
		return nil
	}
	i := 0
	switch v := ao.GetAllOption().(type) {
	case *streamsapi.ReadReq_Options_AllOptions_End:
		i = len(evs)
	case *streamsapi.ReadReq_Options_AllOptions_Position:
		// Forwards from a position includes it.
		for i < len(evs) && evs[i].less(v.Position.GetCommitPosition(), v.Position.GetPreparePosition()) {
			i++
		}
	}
	for ; i < len(evs) && sent < count; i++ {
		if err := send(evs[i], &sent); err != nil {
			return err
		}
	}
	return nil
}

// subscribeAll confirms, sends history, caught_up, then live events until
// the client goes away or DropSubscriptions aborts it. With a filter it
// sends a checkpoint after every window × multiplier events scanned.
func (x *streamsService) subscribeAll(ao *streamsapi.ReadReq_Options_AllOptions, f *filter, structured bool, out streamsapi.Streams_ReadServer) error {
	ctx := out.Context()
	drop := x.srv.dropChan()
	if err := out.Send(&streamsapi.ReadResp{Content: &streamsapi.ReadResp_Confirmation{
		Confirmation: &streamsapi.ReadResp_SubscriptionConfirmation{SubscriptionId: newUUID().String()}}}); err != nil {
		return err
	}
	evs, _ := x.srv.log.snapshot()
	cursor := 0
	switch v := ao.GetAllOption().(type) {
	case *streamsapi.ReadReq_Options_AllOptions_End:
		cursor = len(evs)
	case *streamsapi.ReadReq_Options_AllOptions_Position:
		// A subscription from a position excludes it.
		c, p := v.Position.GetCommitPosition(), v.Position.GetPreparePosition()
		for cursor < len(evs) && (evs[cursor].less(c, p) || evs[cursor].commit == c && evs[cursor].prepare == p) {
			cursor++
		}
	}
	scanned := 0
	caughtUp := false
	dropped := status.Error(codes.Unavailable, "esdbtest: subscription dropped")
	for {
		evs, changed := x.srv.log.snapshot()
		for ; cursor < len(evs); cursor++ {
			select {
			case <-drop:
				return dropped
			case <-ctx.Done():
				return ctx.Err()
			default:
			}
			r := evs[cursor]
			if f == nil || f.match(r) {
				if err := out.Send(eventResp(r, structured)); err != nil {
					return err
				}
			}
			if f != nil {
				scanned++
				if scanned%f.interval == 0 {
					if err := out.Send(&streamsapi.ReadResp{Content: &streamsapi.ReadResp_Checkpoint_{
						Checkpoint: &streamsapi.ReadResp_Checkpoint{CommitPosition: r.commit, PreparePosition: r.prepare}}}); err != nil {
						return err
					}
				}
			}
		}
		if !caughtUp {
			caughtUp = true
			if err := out.Send(&streamsapi.ReadResp{Content: &streamsapi.ReadResp_CaughtUp_{CaughtUp: &streamsapi.ReadResp_CaughtUp{}}}); err != nil {
				return err
			}
		}
		select {
		case <-changed:
		case <-drop:
			return dropped
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func eventResp(r *record, structured bool) *streamsapi.ReadResp {
	return &streamsapi.ReadResp{Content: &streamsapi.ReadResp_Event{Event: &streamsapi.ReadResp_ReadEvent{
		Event: &streamsapi.ReadResp_ReadEvent_RecordedEvent{
			Id:               uuidToProto(r.id, structured),
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision:   r.revision,
			PreparePosition:  r.prepare,
			CommitPosition:   r.commit,
			Metadata:         r.meta,
			CustomMetadata:   r.custom,
			Data:             r.data,
		},
		Position: &streamsapi.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.commit},
	}}}
}

// filter is a server-side filter on stream names or event types.
type filter struct {
	onType   bool
	prefixes []string
	re       *regexp.Regexp
	interval int
}

func compileFilter(fo *streamsapi.ReadReq_Options_FilterOptions) (*filter, error) {
	if fo == nil {
		return nil, nil
	}
	f := &filter{}
	expr := fo.GetStreamIdentifier()
	if e := fo.GetEventType(); e != nil {
		f.onType, expr = true, e
	}
	if expr == nil {
		return nil, status.Error(codes.InvalidArgument, "esdbtest: filter without expression")
	}
	f.prefixes = expr.GetPrefix()
	if expr.GetRegex() != "" {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "esdbtest: filter regex: %v", err)
		}
		f.re = re
	}
	window := int(fo.GetMax())
	if window <= 0 {
		window = 32
	}
	mult := int(fo.GetCheckpointIntervalMultiplier())
	if mult <= 0 {
		mult = 1
	}
	f.interval = window * mult
	return f, nil
}

func (f *filter) match(r *record) bool {
	s := r.stream
	if f.onType {
		s = r.meta["type"]
	}
	if f.re != nil {
		return f.re.MatchString(s)
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
