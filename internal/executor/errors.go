package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is a failed request, answered to the client as a SeldonMessage status
// (REST) or a gRPC status.
//
// Status codes:
//   - 400 the request is not a valid SeldonMessage (or Feedback);
//   - 404 unknown path; 405 wrong method; 408 body not received within the
//     read timeout; 413 body over the configured limit;
//   - 503 with Retry-After: the executor is at its concurrency or body
//     memory limit (reason EXECUTOR_BUSY);
//   - 502 a component answered with a redirect, which is never followed;
//   - 503 a component could not be reached: no endpoint in its set, the
//     connection was refused or broke before a response arrived. The request
//     may succeed if retried, possibly on another replica;
//   - 503 a node that holds requests (hold.go) got no replica within
//     seldon.io/activation-timeout (reason ACTIVATION_TIMEOUT), or its
//     activation queue is full (ACTIVATION_QUEUE_FULL);
//   - 504 a component did not answer within its node's timeout
//     (seldon.io/rest-timeout or seldon.io/grpc-timeout). Unlike 503 the
//     component may still be working on it, so a retry is not free;
//   - a component's own error status (HTTP status or gRPC code) is passed
//     through unchanged, with the component's message;
//   - 500 the graph itself failed: a router chose a branch that does not
//     exist, a component answered with something that is not a
//     SeldonMessage, or a built-in combiner got inputs it cannot average.
type Error struct {
	HTTPStatus int
	GRPCCode   codes.Code
	Reason     string
	Message    string
}

func (e *Error) Error() string { return e.Message }

// Reasons carried in status.reason.
const (
	reasonBadRequest    = "BAD_REQUEST"
	reasonNotFound      = "NOT_FOUND"
	reasonUnreachable   = "COMPONENT_UNREACHABLE"
	reasonTimeout       = "COMPONENT_TIMEOUT"
	reasonComponent     = "COMPONENT_ERROR"
	reasonInvalidResult = "INVALID_COMPONENT_RESPONSE"
	reasonGraph         = "GRAPH_ERROR"
)

func badRequest(format string, args ...any) *Error {
	return &Error{HTTPStatus: http.StatusBadRequest, GRPCCode: codes.InvalidArgument,
		Reason: reasonBadRequest, Message: fmt.Sprintf(format, args...)}
}

func graphError(n *node, format string, args ...any) *Error {
	return &Error{HTTPStatus: http.StatusInternalServerError, GRPCCode: codes.Internal,
		Reason: reasonGraph, Message: fmt.Sprintf("node %q: ", n.name) + fmt.Sprintf(format, args...)}
}

func invalidResponse(n *node, call string, err error) *Error {
	return &Error{HTTPStatus: http.StatusInternalServerError, GRPCCode: codes.Internal,
		Reason:  reasonInvalidResult,
		Message: fmt.Sprintf("node %q: %s returned an invalid SeldonMessage: %v", n.name, call, err)}
}

// transportError classifies a failed call: timeouts are 504, everything else
// that kept a response from arriving is 503. The message names the node and
// the call but not the component's address or the raw error, which may
// carry internal URLs; callFailed logs those.
func transportError(n *node, call string, err error) *Error {
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return &Error{HTTPStatus: http.StatusGatewayTimeout, GRPCCode: codes.DeadlineExceeded,
			Reason:  reasonTimeout,
			Message: fmt.Sprintf("node %q: %s timed out", n.name, call)}
	}
	return &Error{HTTPStatus: http.StatusServiceUnavailable, GRPCCode: codes.Unavailable,
		Reason:  reasonUnreachable,
		Message: fmt.Sprintf("node %q: %s failed: %s", n.name, call, transportCause(err))}
}

// transportCause says why a call failed in words that name no address.
func transportCause(err error) string {
	var dns *net.DNSError
	switch {
	case errors.Is(err, context.Canceled):
		return "the request was cancelled"
	case errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before an answer"
	case errors.As(err, &dns):
		return "component host not found"
	}
	return "component unreachable"
}

// callFailed logs a failed component call with its target and error, and
// returns what the client is told.
func (e *Executor) callFailed(n *node, call, target string, err error) *Error {
	out := transportError(n, call, err)
	if !errors.Is(err, context.Canceled) {
		e.cfg.log.Info("component call failed", "node", n.name, "call", call, "target", target, "err", err.Error())
	}
	return out
}

// redirectError: components are never followed to another address.
func redirectError(n *node, call string, code int) *Error {
	return &Error{HTTPStatus: http.StatusBadGateway, GRPCCode: codes.Internal, Reason: reasonComponent,
		Message: fmt.Sprintf("node %q: %s answered with a redirect (HTTP %d), which the executor does not follow", n.name, call, code)}
}

func noEndpoint(n *node) *Error {
	return &Error{HTTPStatus: http.StatusServiceUnavailable, GRPCCode: codes.Unavailable,
		Reason:  reasonUnreachable,
		Message: fmt.Sprintf("node %q: %v", n.name, ErrNoEndpoint)}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// fromGRPC turns a component's gRPC failure into an Error that keeps its code.
func (e *Executor) fromGRPC(n *node, call, target string, err error) *Error {
	st, ok := status.FromError(err)
	if !ok {
		return e.callFailed(n, call, target, err)
	}
	switch st.Code() {
	case codes.DeadlineExceeded:
		return e.callFailed(n, call, target, context.DeadlineExceeded)
	case codes.Canceled:
		return e.callFailed(n, call, target, context.Canceled)
	case codes.Unavailable:
		return e.callFailed(n, call, target, errors.New(st.Message()))
	}
	return &Error{HTTPStatus: httpStatusOf(st.Code()), GRPCCode: st.Code(), Reason: reasonComponent,
		Message: fmt.Sprintf("node %q: %s failed: %s: %s", n.name, call, st.Code(), st.Message())}
}

// grpcCodeOf maps an HTTP status to the gRPC code a gRPC client should see.
func grpcCodeOf(httpStatus int) codes.Code {
	switch httpStatus {
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	case http.StatusGatewayTimeout:
		return codes.DeadlineExceeded
	case http.StatusNotImplemented:
		return codes.Unimplemented
	}
	return codes.Internal
}

func httpStatusOf(c codes.Code) int {
	switch c {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.NotFound:
		return http.StatusNotFound
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.Unimplemented:
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

// asError turns any walk failure into an *Error.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{HTTPStatus: http.StatusInternalServerError, GRPCCode: codes.Internal,
		Reason: reasonGraph, Message: err.Error()}
}
