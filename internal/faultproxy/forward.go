package faultproxy

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// errClosed is what delayed and hung calls get when the proxy closes.
var errClosed = status.Error(codes.Unavailable, "faultproxy: proxy closed")

// handle serves every call: it reads the first request message, picks the
// rule, logs the start, applies the fault and forwards the rest.
func (p *Proxy) handle(_ any, ss grpc.ServerStream) error {
	method, ok := grpc.MethodFromServerStream(ss)
	if !ok {
		return status.Error(codes.Internal, "faultproxy: no method in stream")
	}
	ctx := ss.Context()
	// Every call containerd serves starts with a client message (unary,
	// server-streaming like ListStream, and Content/Write); rules match on it.
	var first frame
	clientDone := false
	if err := ss.RecvMsg(&first); errors.Is(err, io.EOF) {
		clientDone = true
	} else if err != nil {
		return err
	}
	rule, idx := firstMatch(*p.rules.Load(), method, first.payload)
	md, _ := metadata.FromIncomingContext(ctx)
	c := p.log.begin(ctx, method, md, rule, idx)
	err := p.apply(ctx, rule)
	if err == nil {
		err = p.forward(ctx, ss, method, md, &first, clientDone)
	}
	p.log.end(c, err)
	return err
}

// apply injects the rule's fault; nil means go on and forward.
func (p *Proxy) apply(ctx context.Context, rule Rule) error {
	switch rule.Action {
	case Delay:
		if rule.Delay <= 0 {
			return nil
		}
		t := time.NewTimer(rule.Delay)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-p.closing:
			return errClosed
		}
	case Hang:
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-p.closing:
			return errClosed
		}
	case Fail:
		code := rule.Code
		if code == codes.OK {
			code = codes.Unknown
		}
		return status.Error(code, rule.Message)
	}
	return nil
}

// streamDesc lets one forwarding path serve unary and streaming methods
// alike: the upstream server decides how many messages flow each way.
var streamDesc = &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}

// forward relays the call upstream. The client's deadline travels with ctx;
// its metadata (the containerd-namespace header) is copied.
func (p *Proxy) forward(ctx context.Context, ss grpc.ServerStream, method string, md metadata.MD, first *frame, clientDone bool) error {
	out := metadata.MD{}
	for k, v := range md {
		// Pseudo-headers and transport headers are grpc's own to set.
		if strings.HasPrefix(k, ":") || k == "content-type" || k == "user-agent" {
			continue
		}
		out[k] = append([]string(nil), v...)
	}
	ctx, cancel := context.WithCancel(metadata.NewOutgoingContext(ctx, out))
	defer cancel()
	cs, err := p.up.NewStream(ctx, streamDesc, method)
	if err != nil {
		return err
	}
	go relayClient(ss, cs, first, clientDone, cancel)

	for n := 0; ; n++ {
		var f frame
		err := cs.RecvMsg(&f)
		if n == 0 {
			// Headers are known once the first message or the status came.
			// A failed call's own status matters more than a header we
			// could not pass on to a client that is gone.
			if hdr, herr := cs.Header(); herr == nil && len(hdr) > 0 {
				if serr := ss.SetHeader(hdr); serr != nil && err == nil {
					if ctx.Err() != nil {
						return status.FromContextError(ctx.Err()).Err()
					}
					return serr
				}
			}
		}
		if err != nil {
			ss.SetTrailer(cs.Trailer())
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := ss.SendMsg(&f); err != nil {
			return err
		}
	}
}

// relayClient copies the client's messages upstream until the client
// half-closes. A client that goes away cancels the upstream call.
func relayClient(ss grpc.ServerStream, cs grpc.ClientStream, first *frame, clientDone bool, cancel context.CancelFunc) {
	if clientDone {
		_ = cs.CloseSend()
		return
	}
	if err := cs.SendMsg(first); err != nil {
		return // the upstream status arrives through RecvMsg
	}
	for {
		var f frame
		if err := ss.RecvMsg(&f); err != nil {
			if errors.Is(err, io.EOF) {
				_ = cs.CloseSend()
			} else {
				cancel()
			}
			return
		}
		if err := cs.SendMsg(&f); err != nil {
			return
		}
	}
}
