package esdbtest

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	streamsapi "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
)

// streamsService implements the Streams service on the double's log.
type streamsService struct {
	streamsapi.UnimplementedStreamsServer
	srv *Server
}

// Append receives the options, then the proposed messages until the
// client closes its side, and answers with Success or WrongExpectedVersion.
func (x *streamsService) Append(stream streamsapi.Streams_AppendServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "esdbtest: the first append message must be options")
	}
	name := string(opts.GetStreamIdentifier().GetStreamName())
	if name == "" {
		return status.Error(codes.InvalidArgument, "esdbtest: empty stream name")
	}
	exp := expectation{kind: expectAny}
	switch v := opts.GetExpectedStreamRevision().(type) {
	case *streamsapi.AppendReq_Options_NoStream:
		exp.kind = expectNoStream
	case *streamsapi.AppendReq_Options_StreamExists:
		exp.kind = expectExists
	case *streamsapi.AppendReq_Options_Revision:
		exp = expectation{kind: expectExact, exact: v.Revision}
	}
	var evs []proposed
	size := 0
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		pm := m.GetProposedMessage()
		if pm == nil {
			return status.Error(codes.InvalidArgument, "esdbtest: expected a proposed message")
		}
		size += proto.Size(pm)
		if size > x.srv.opts.MaxAppendSize {
			_ = grpc.SetTrailer(stream.Context(), metadata.Pairs(
				"exception", "maximum-append-size-exceeded",
				"maximum-append-size", strconv.Itoa(x.srv.opts.MaxAppendSize)))
			return status.Errorf(codes.InvalidArgument, "Maximum Append Size of %d Exceeded.", x.srv.opts.MaxAppendSize)
		}
		id, err := uuidFromProto(pm.GetId())
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "esdbtest: event id: %v", err)
		}
		md := pm.GetMetadata()
		if md["type"] == "" || md["content-type"] == "" {
			_ = grpc.SetTrailer(stream.Context(), metadata.Pairs("exception", "missing-required-metadata-property"))
			return status.Error(codes.InvalidArgument, "Missing required metadata property: type and content-type")
		}
		evs = append(evs, proposed{id: id, meta: md, custom: pm.GetCustomMetadata(), data: pm.GetData()})
	}
	out := x.srv.log.append(name, exp, evs, time.Now())
	if out.ok {
		return stream.SendAndClose(&streamsapi.AppendResp{Result: &streamsapi.AppendResp_Success_{Success: &streamsapi.AppendResp_Success{
			CurrentRevisionOption: &streamsapi.AppendResp_Success_CurrentRevision{CurrentRevision: out.revision},
			PositionOption: &streamsapi.AppendResp_Success_Position{Position: &streamsapi.AppendResp_Position{
				CommitPosition: out.commit, PreparePosition: out.prepare}},
		}}})
	}
	return stream.SendAndClose(&streamsapi.AppendResp{Result: &streamsapi.AppendResp_WrongExpectedVersion_{
		WrongExpectedVersion: wrongVersion(exp, out)}})
}

func wrongVersion(exp expectation, out appendOutcome) *streamsapi.AppendResp_WrongExpectedVersion {
	w := &streamsapi.AppendResp_WrongExpectedVersion{}
	if out.currentExists {
		w.CurrentRevisionOption = &streamsapi.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: out.currentRevision}
		w.CurrentRevisionOption_20_6_0 = &streamsapi.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: out.currentRevision}
	} else {
		w.CurrentRevisionOption = &streamsapi.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &streamsapi.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	}
	switch exp.kind {
	case expectAny:
		w.ExpectedRevisionOption = &streamsapi.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
	case expectNoStream:
		w.ExpectedRevisionOption = &streamsapi.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case expectExists:
		w.ExpectedRevisionOption = &streamsapi.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
	default:
		w.ExpectedRevisionOption = &streamsapi.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: exp.exact}
	}
	return w
}

func uuidFromProto(u *shared.UUID) (uuid.UUID, error) {
	if s := u.GetStructured(); s != nil {
		var b [16]byte
		most, least := uint64(s.GetMostSignificantBits()), uint64(s.GetLeastSignificantBits())
		for i := 0; i < 8; i++ {
			b[i] = byte(most >> (56 - 8*i))
			b[8+i] = byte(least >> (56 - 8*i))
		}
		return uuid.UUID(b), nil
	}
	if s := u.GetString_(); s != "" {
		return uuid.Parse(s)
	}
	return uuid.UUID{}, fmt.Errorf("missing")
}

func uuidToProto(id uuid.UUID, structured bool) *shared.UUID {
	if !structured {
		return &shared.UUID{Value: &shared.UUID_String_{String_: id.String()}}
	}
	var most, least uint64
	for i := 0; i < 8; i++ {
		most = most<<8 | uint64(id[i])
		least = least<<8 | uint64(id[8+i])
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits: int64(most), LeastSignificantBits: int64(least)}}}
}
