//go:build tools

// Package tools pins the protobuf compiler (buf, pure Go), the Go code
// generators it runs, and grpcurl for calling the executor by reflection.
package tools

import (
	_ "github.com/bufbuild/buf/cmd/buf"
	_ "github.com/fullstorydev/grpcurl/cmd/grpcurl"
	_ "google.golang.org/grpc/cmd/protoc-gen-go-grpc"
	_ "google.golang.org/protobuf/cmd/protoc-gen-go"
)
