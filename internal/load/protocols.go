package load

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	ipb "github.com/sdep-dev/sdep/internal/proto/inferencepb"
	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
	tfpb "github.com/sdep-dev/sdep/internal/proto/tfservingpb"
)

// Protocols Options.Protocol accepts.
const (
	ProtocolSeldon     = "seldon"
	ProtocolV2         = "v2"
	ProtocolTensorflow = "tensorflow"
)

// Default requests per protocol: one row [1, 2, 5], as DefaultPayload.
const (
	DefaultV2Payload         = `{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP64","data":[1,2,5]}]}`
	DefaultV2GRPCPayload     = `{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP64","contents":{"fp64_contents":[1,2,5]}}]}`
	DefaultTFPayload         = `{"instances":[[1,2,5]]}`
	DefaultTFGRPCPayload     = `{"inputs":{"x":{"dtype":"DT_DOUBLE","tensor_shape":{"dim":[{"size":1},{"size":3}]},"double_val":[1,2,5]}}}`
	DefaultV2GRPCMethod      = "/inference.GRPCInferenceService/ModelInfer"
	DefaultTFGRPCMethod      = "/tensorflow.serving.PredictionService/Predict"
	defaultProtocolForErrors = "seldon, v2 (or kfserving) or tensorflow"
)

// CheckProtocol normalises a protocol name: empty is seldon, kfserving is v2.
func CheckProtocol(p string) (string, error) {
	switch p {
	case "", ProtocolSeldon:
		return ProtocolSeldon, nil
	case ProtocolV2, "kfserving":
		return ProtocolV2, nil
	case ProtocolTensorflow:
		return ProtocolTensorflow, nil
	}
	return "", fmt.Errorf("protocol %q: use %s", p, defaultProtocolForErrors)
}

// DefaultPayloadFor is the default request of a protocol and transport.
func DefaultPayloadFor(protocol string, grpc bool) string {
	switch protocol {
	case ProtocolV2, "kfserving":
		if grpc {
			return DefaultV2GRPCPayload
		}
		return DefaultV2Payload
	case ProtocolTensorflow:
		if grpc {
			return DefaultTFGRPCPayload
		}
		return DefaultTFPayload
	}
	return DefaultPayload
}

// grpcMessages decodes the payload as the protocol's request and returns
// it, a constructor for the response and the default method.
func grpcMessages(protocol string, payload []byte) (proto.Message, func() proto.Message, string, error) {
	var req proto.Message
	var resp func() proto.Message
	var method, what string
	switch protocol {
	case ProtocolV2, "kfserving":
		req, resp, method, what = &ipb.ModelInferRequest{}, func() proto.Message { return &ipb.ModelInferResponse{} }, DefaultV2GRPCMethod, "an inference.ModelInferRequest"
	case ProtocolTensorflow:
		req, resp, method, what = &tfpb.PredictRequest{}, func() proto.Message { return &tfpb.PredictResponse{} }, DefaultTFGRPCMethod, "a tensorflow.serving.PredictRequest"
	default:
		req, resp, method, what = &pb.SeldonMessage{}, func() proto.Message { return &pb.SeldonMessage{} }, DefaultGRPCMethod, "a SeldonMessage"
	}
	if err := protojson.Unmarshal(payload, req); err != nil {
		return nil, nil, "", fmt.Errorf("payload is not %s: %w", what, err)
	}
	return req, resp, method, nil
}
