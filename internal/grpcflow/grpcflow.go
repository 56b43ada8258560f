// Package grpcflow holds the HTTP/2 flow-control settings of sdep's own
// gRPC servers and clients: the executor (both sides), the model servers
// and the front of `sdep serve`.
//
// The windows are fixed. grpc-go's default windows are dynamic: a
// bandwidth-delay estimator grows them, and to measure it sends a PING on
// every data frame it receives while no probe is out, then waits for the
// ack. At one request at a time that is a PING and an ack per call on each
// connection: two more frames each way, the writes and reads they take and
// the wake-ups of the goroutines that handle them. The estimator is for
// long, fast links; sdep's gRPC hops are inside a pod, a cluster or one
// machine, where 1 MiB per stream and 16 MiB per connection (the most the
// estimator grows a window to) are never the bound. A message larger than
// the stream window still goes through: the receiver opens the window for
// it as it reads.
package grpcflow

import "google.golang.org/grpc"

const (
	// StreamWindow is each stream's receive window.
	StreamWindow = 1 << 20
	// ConnWindow is each connection's receive window.
	ConnWindow = 16 << 20
)

// ServerOptions are the flow-control options of a gRPC server.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.StaticStreamWindowSize(StreamWindow), grpc.StaticConnWindowSize(ConnWindow)}
}

// DialOptions are the flow-control options of a gRPC client.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithStaticStreamWindowSize(StreamWindow), grpc.WithStaticConnWindowSize(ConnWindow)}
}
