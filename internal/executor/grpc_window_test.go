package executor

import (
	"bufio"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"

	v1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/grpcflow"
	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
)

// h2Tap is a TCP relay on loopback in front of an HTTP/2 server that reads
// the frames going each way and counts the PINGs (not their acks) each
// side sends.
type h2Tap struct {
	lis    net.Listener
	target string
	// fromClient and fromServer count PING frames without the ACK flag.
	fromClient, fromServer atomic.Int64
	wg                     sync.WaitGroup
}

func startH2Tap(t *testing.T, target string) *h2Tap {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tap := &h2Tap{lis: lis, target: target}
	tap.wg.Add(1)
	go tap.accept(t)
	t.Cleanup(func() {
		_ = lis.Close()
		tap.wg.Wait()
	})
	return tap
}

func (tap *h2Tap) accept(t *testing.T) {
	defer tap.wg.Done()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for {
		c, err := tap.lis.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", tap.target)
		if err != nil {
			t.Errorf("tap: %v", err)
			_ = c.Close()
			return
		}
		conns = append(conns, c, s)
		tap.wg.Add(2)
		go tap.relay(s, c, true, &tap.fromClient)
		go tap.relay(c, s, false, &tap.fromServer)
	}
}

// relay copies src to dst frame by frame, counting PINGs in pings. The
// client's side begins with the connection preface.
func (tap *h2Tap) relay(dst, src net.Conn, preface bool, pings *atomic.Int64) {
	defer tap.wg.Done()
	defer func() { _ = dst.Close() }()
	r := bufio.NewReader(src)
	if preface {
		p := make([]byte, len("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
		if _, err := io.ReadFull(r, p); err != nil {
			return
		}
		if _, err := dst.Write(p); err != nil {
			return
		}
	}
	head := make([]byte, 9)
	for {
		if _, err := io.ReadFull(r, head); err != nil {
			return
		}
		n := int(head[0])<<16 | int(head[1])<<8 | int(head[2])
		const typePing, flagAck = 0x6, 0x1
		if head[3] == typePing && head[4]&flagAck == 0 {
			pings.Add(1)
		}
		frame := make([]byte, 9+n)
		copy(frame, head)
		if _, err := io.ReadFull(r, frame[9:]); err != nil {
			return
		}
		if _, err := dst.Write(frame); err != nil {
			return
		}
	}
}

func (tap *h2Tap) addr() string { return tap.lis.Addr().String() }

// The executor sends no flow-control probes (the PINGs of grpc-go's
// bandwidth estimator) to its components or its callers: with them, every
// call at one request at a time paid a PING and its ack on each
// connection. The peers here have grpc-go's defaults and do probe, which
// shows that the taps see PINGs when they are sent.
func TestGRPCExecutorSendsNoFlowControlPings(t *testing.T) {
	m := startFake(t, &fake{name: "m"})
	compTap := startH2Tap(t, net.JoinHostPort(m.ep.Host, strconv.Itoa(int(m.ep.GRPCPort))))
	graph := v1.PredictiveUnit{Name: "m", Type: v1.Model, Endpoint: &v1.Endpoint{
		ServiceHost: "127.0.0.1", HTTPPort: m.ep.HTTPPort, GRPCPort: port(t, compTap.lis.Addr())}}
	s := serve(t, graph)

	callerTap := startH2Tap(t, strings.TrimPrefix(s.grpcConn.CanonicalTarget(), "passthrough:///"))
	conn, err := grpc.NewClient("passthrough:///"+callerTap.addr(), grpcInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	client := pb.NewSeldonClient(conn)
	for i := range 50 {
		out, err := client.Predict(context.Background(), &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: "x"}})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if got := out.GetStrData(); got != "m(x)" {
			t.Fatalf("call %d: answer %q, want m(x)", i, got)
		}
	}
	if n := compTap.fromClient.Load(); n != 0 {
		t.Errorf("the executor sent %d PINGs to its component in 50 calls, want 0", n)
	}
	if n := callerTap.fromServer.Load(); n != 0 {
		t.Errorf("the executor sent %d PINGs to its caller in 50 calls, want 0", n)
	}
	// The peers run grpc-go's defaults: the taps must have seen theirs.
	if compTap.fromServer.Load() == 0 || callerTap.fromClient.Load() == 0 {
		t.Errorf("the taps saw no PING from the default-configured peers (component %d, caller %d): they cannot see PINGs",
			compTap.fromServer.Load(), callerTap.fromClient.Load())
	}
}

// A message larger than the executor's fixed stream window still goes
// through, both ways: the receiver opens the window as it reads.
func TestGRPCMessagesLargerThanTheStreamWindow(t *testing.T) {
	m := startFake(t, &fake{name: "m"})
	s := serve(t, unit("m", v1.Model, m))
	in := strings.Repeat("a", 3*grpcflow.StreamWindow)
	out, err := s.client.Predict(context.Background(), &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: in}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.GetStrData(), "m("+in+")"; got != want {
		t.Fatalf("answer of %d bytes, want %d", len(got), len(want))
	}
}
