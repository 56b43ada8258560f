package executor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer is a TCP server on loopback whose connections are served by
// handle, byte by byte as the test writes them.
type rawServer struct {
	ln      net.Listener
	accepts atomic.Int32
	mu      sync.Mutex
	conns   []net.Conn
}

func newRawServer(t testing.TB, handle func(c net.Conn, br *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln}
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepts.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { _ = c.Close() }()
				handle(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		wg.Wait()
	})
	return s
}

func (s *rawServer) addr() string { return s.ln.Addr().String() }

// readRequest reads one request and its body.
func readReq(br *bufio.Reader) (*http.Request, []byte, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(req.Body)
	return req, b, err
}

// answerEach answers every request of a connection with answer.
func answerEach(answer string) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		for {
			if _, _, err := readReq(br); err != nil {
				return
			}
			if _, err := io.WriteString(c, answer); err != nil {
				return
			}
		}
	}
}

var testHeader = map[string][]string{"Content-Type": jsonContentType, PuidHeader: {"p1"}}

func callOnce(t *testing.T, c *restClient, timeout time.Duration) (restAnswer, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.post(ctx, "/predict", testHeader, []byte(`{"data":1}`), timeout, 1<<10, true)
}

const okAnswer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{\"a\":12}"

func TestRESTClientReusesKeepAliveConnection(t *testing.T) {
	s := newRawServer(t, answerEach(okAnswer))
	c := newRESTClient(s.addr(), 4)
	defer c.closeIdle()
	for i := range 5 {
		ans, err := callOnce(t, c, time.Second)
		if err != nil || ans.status != 200 || string(ans.body) != `{"a":12}` || ans.header.Get("Content-Type") != "application/json" {
			t.Fatalf("call %d: %+v, %v", i, ans, err)
		}
	}
	if n := s.accepts.Load(); n != 1 {
		t.Errorf("5 keep-alive calls opened %d connections, want 1", n)
	}
	if n := c.idleConns(); n != 1 {
		t.Errorf("%d idle connections, want 1", n)
	}
}

// The headers and body a component gets are exactly those net/http's
// transport sends for the same request.
func TestRESTClientSendsWhatNetHTTPSends(t *testing.T) {
	got := make(chan string, 2)
	s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		req, body, err := readReq(br)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		var lines []string
		for k, vs := range req.Header {
			for _, v := range vs {
				lines = append(lines, k+": "+v)
			}
		}
		sort.Strings(lines)
		got <- fmt.Sprintf("%s %s %s host=%s cl=%d te=%v\n%s\n%s", req.Method, req.RequestURI, req.Proto, req.Host,
			req.ContentLength, req.TransferEncoding, strings.Join(lines, "\n"), body)
		_, _ = io.WriteString(c, okAnswer)
	})
	header := map[string][]string{"Content-Type": jsonContentType, PuidHeader: {"p1"},
		"Traceparent": {"00-abc-def-01"}, "X-Multi": {"a", "b"}}
	body := []byte(`{"data":{"ndarray":[[1,2]]}}`)

	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr()+"/predict", bytes.NewReader(body))
	req.Header = header
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	want := <-got

	c := newRESTClient(s.addr(), 4)
	defer c.closeIdle()
	if _, err := c.post(context.Background(), "/predict", header, body, time.Second, 1<<10, true); err != nil {
		t.Fatal(err)
	}
	if have := <-got; have != want {
		t.Errorf("restClient sent\n%s\nnet/http sent\n%s", have, want)
	}
}

func TestRESTClientBadHeaderIsNotSent(t *testing.T) {
	s := newRawServer(t, answerEach(okAnswer))
	c := newRESTClient(s.addr(), 4)
	defer c.closeIdle()
	for _, h := range []map[string][]string{{"X-Bad": {"a\r\nInjected: 1"}}, {"Bad Name": {"v"}}} {
		if _, err := c.post(context.Background(), "/predict", h, nil, time.Second, 1<<10, true); err == nil || !strings.Contains(err.Error(), "invalid header") {
			t.Errorf("header %v: err %v, want an invalid header error", h, err)
		}
	}
	for _, path := range []string{"/v2/models/a b/infer", "/x\r\nHost: evil", "predict", ""} {
		if _, err := c.post(context.Background(), path, testHeader, nil, time.Second, 1<<10, true); err == nil || !strings.Contains(err.Error(), "invalid request path") {
			t.Errorf("path %q: err %v, want an invalid path error", path, err)
		}
	}
	if n := c.idleConns(); n != 0 {
		t.Errorf("%d idle connections after refused requests, want 0", n)
	}
	for i := 0; i < 100 && s.accepts.Load() < 2; i++ {
		time.Sleep(10 * time.Millisecond) // the server accepts in its own goroutine
	}
	if n := s.accepts.Load(); n != 2 {
		// A bad header is found once a connection is taken (and closed
		// unused); a bad path before.
		t.Errorf("%d connections; want 2, one per bad header", n)
	}
}

// Answers the client must read correctly, and whether their connection may
// carry the next call.
func TestRESTClientAnswerFraming(t *testing.T) {
	cases := []struct {
		name, answer, body string
		status             int
		reuse              bool
	}{
		{"content-length", okAnswer, `{"a":12}`, 200, true},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n5\r\n\":12}\r\n0\r\n\r\n", `{"a":12}`, 200, true},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-T: 1\r\n\r\n", `{}`, 200, true},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", `{}`, 200, false},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", `{}`, 200, false},
		{"http/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}", `{}`, 200, true},
		{"1xx then 200", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + okAnswer, `{"a":12}`, 200, true},
		{"redirect", "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n", ``, 302, true},
		{"error status", "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops", `oops`, 500, true},
		{"no content", "HTTP/1.1 204 No Content\r\n\r\n", ``, 204, true},
		{"bytes after the body", okAnswer + "HTTP/1.1 200 OK\r\n", `{"a":12}`, 200, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newRawServer(t, answerEach(tc.answer))
			c := newRESTClient(s.addr(), 4)
			defer c.closeIdle()
			ans, err := callOnce(t, c, time.Second)
			if err != nil || ans.status != tc.status || string(ans.body) != tc.body {
				t.Fatalf("got %d %q, %v; want %d %q", ans.status, ans.body, err, tc.status, tc.body)
			}
			if tc.name == "bytes after the body" {
				time.Sleep(20 * time.Millisecond) // the extra bytes must have arrived for the check to mean anything
			}
			if n := c.idleConns(); (n == 1) != tc.reuse {
				t.Errorf("%d idle connections after the answer, want reuse %v", n, tc.reuse)
			}
		})
	}
}

// A body without Content-Length or chunking is read to the connection's
// close, and that connection is not pooled.
func TestRESTClientReadsUndelimitedBodyToClose(t *testing.T) {
	s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, _, err := readReq(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\":")
		time.Sleep(20 * time.Millisecond)
		_, _ = io.WriteString(c, "1}")
	})
	c := newRESTClient(s.addr(), 4)
	defer c.closeIdle()
	ans, err := callOnce(t, c, time.Second)
	if err != nil || string(ans.body) != `{"a":1}` {
		t.Fatalf("got %q, %v", ans.body, err)
	}
	if n := c.idleConns(); n != 0 {
		t.Errorf("%d idle connections, want 0", n)
	}
}

func TestRESTClientBrokenAnswersCloseTheConnection(t *testing.T) {
	cases := []struct {
		name   string
		handle func(c net.Conn, br *bufio.Reader)
		check  func(err error) bool
	}{
		{"closed mid-body", func(c net.Conn, br *bufio.Reader) {
			_, _, _ = readReq(br)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\":")
		}, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
		{"closed mid-head", func(c net.Conn, br *bufio.Reader) {
			_, _, _ = readReq(br)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Le")
		}, func(err error) bool { return err != nil }},
		{"closed before answering", func(c net.Conn, br *bufio.Reader) {
			_, _, _ = readReq(br)
		}, func(err error) bool { return errors.Is(err, io.EOF) }},
		{"body over the bound", answerEach("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + strings.Repeat("x", 5000)),
			func(err error) bool { return errors.Is(err, errTooLarge) }},
		{"chunked body over the bound", answerEach("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n" + strings.Repeat("x", 5000) + "\r\n0\r\n\r\n"),
			func(err error) bool { return errors.Is(err, errTooLarge) }},
		{"undelimited body over the bound", func(c net.Conn, br *bufio.Reader) {
			_, _, _ = readReq(br)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\n"+strings.Repeat("x", 5000))
		}, func(err error) bool { return errors.Is(err, errTooLarge) }},
		{"headers over the bound", func(c net.Conn, br *bufio.Reader) {
			_, _, _ = readReq(br)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n")
			line := "X-Big: " + strings.Repeat("y", 1000) + "\r\n"
			for range restMaxHeaderBytes/len(line) + 10 {
				if _, err := io.WriteString(c, line); err != nil {
					return
				}
			}
		}, func(err error) bool { return errors.Is(err, errAnswerHeaderTooLarge) }},
		{"not http", answerEach("SSH-2.0-OpenSSH\r\n\r\n"), func(err error) bool { return err != nil }},
		{"101", answerEach("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"), func(err error) bool { return errors.Is(err, errSwitchingProtocols) }},
		{"endless 1xx", func(c net.Conn, br *bufio.Reader) {
			_, _, _ = readReq(br)
			for range 100 {
				if _, err := io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
					return
				}
			}
		}, func(err error) bool { return errors.Is(err, errTooMany1xx) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newRawServer(t, tc.handle)
			c := newRESTClient(s.addr(), 4)
			defer c.closeIdle()
			_, err := callOnce(t, c, 2*time.Second)
			if !tc.check(err) {
				t.Errorf("err %v", err)
			}
			if n := c.idleConns(); n != 0 {
				t.Errorf("%d idle connections after a broken answer, want 0", n)
			}
			if n := s.accepts.Load(); n != 1 {
				t.Errorf("%d connections, want 1 (a fresh connection is never retried)", n)
			}
		})
	}
}

func TestRESTClientTimeoutAndCancellation(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		_, _, _ = readReq(br)
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}") // and the rest never comes
		<-release
	})
	c := newRESTClient(s.addr(), 4)
	defer c.closeIdle()

	start := time.Now()
	_, err := c.post(context.Background(), "/predict", testHeader, nil, 150*time.Millisecond, 1<<10, true)
	if !isTimeout(err) {
		t.Errorf("err %v, want a timeout", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
		t.Errorf("timed out after %v, want 150 ms", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	_, err = c.post(ctx, "/predict", testHeader, nil, 0, 1<<10, true)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancellation took %v", d)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.post(ctx, "/predict", testHeader, nil, time.Minute, 1<<10, true)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want the context's deadline", err)
	}
	if n := c.idleConns(); n != 0 {
		t.Errorf("%d idle connections after timed out calls, want 0", n)
	}
	if n := s.accepts.Load(); n != 3 {
		t.Errorf("%d connections for 3 calls that each ended badly, want 3", n)
	}
}

// A pooled connection the server closes just as the next request reaches
// it: the request is sent once more on a new connection if replayable,
// else the call fails.
func TestRESTClientRetriesStaleConnectionOnce(t *testing.T) {
	var received atomic.Int32
	s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for i := 0; ; i++ {
			if _, _, err := readReq(br); err != nil {
				return
			}
			received.Add(1)
			if i == 1 {
				return // a second request on this connection: close without a byte
			}
			_, _ = io.WriteString(c, okAnswer)
		}
	})
	c := newRESTClient(s.addr(), 4)
	defer c.closeIdle()
	if _, err := callOnce(t, c, time.Second); err != nil {
		t.Fatal(err)
	}
	ans, err := callOnce(t, c, time.Second)
	if err != nil || ans.status != 200 {
		t.Fatalf("replayable call on a stale connection: %d, %v; want 200 after a retry", ans.status, err)
	}
	if n, r := s.accepts.Load(), received.Load(); n != 2 || r != 3 {
		t.Errorf("%d connections, %d requests; want 2 and 3", n, r)
	}
	// Feedback is not replayed when the request may have been read.
	if _, err := c.post(context.Background(), "/send-feedback", testHeader, nil, time.Second, 1<<10, false); !errors.Is(err, io.EOF) {
		t.Errorf("non-replayable call on a stale connection: %v, want EOF (no retry)", err)
	}
	if n, r := s.accepts.Load(), received.Load(); n != 2 || r != 4 {
		t.Errorf("%d connections, %d requests; want 2 and 4", n, r)
	}
}

// A connection the server closed while it was idle is found out before
// it is used, so the request goes out only once, on a new connection.
func TestRESTClientDropsConnectionsClosedWhileIdle(t *testing.T) {
	var received atomic.Int32
	s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, _, err := readReq(br); err != nil {
			return
		}
		received.Add(1)
		_, _ = io.WriteString(c, okAnswer)
		// and close: the idle close of a keep-alive server
	})
	c := newRESTClient(s.addr(), 4)
	defer c.closeIdle()
	if _, err := callOnce(t, c, time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(restPeekAfter + 50*time.Millisecond)
	if _, err := callOnce(t, c, time.Second); err != nil {
		t.Fatal(err)
	}
	if n, r := s.accepts.Load(), received.Load(); n != 2 || r != 2 {
		t.Errorf("%d connections, %d requests; want 2 and 2", n, r)
	}
}

// A connection that is open and idle past the peek threshold, whose last
// call had a short timeout now expired, is still reused.
func TestRESTClientReusesQuietConnectionAfterItsDeadline(t *testing.T) {
	s := newRawServer(t, answerEach(okAnswer))
	c := newRESTClient(s.addr(), 4)
	defer c.closeIdle()
	if _, err := callOnce(t, c, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(restPeekAfter + 50*time.Millisecond)
	if _, err := callOnce(t, c, time.Second); err != nil {
		t.Fatal(err)
	}
	if n := s.accepts.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestConnAlive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	dial := func() (client, server net.Conn) {
		cc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return cc, sc
	}
	cc, sc := dial()
	if !connAlive(cc) {
		t.Error("an open, quiet connection is not alive")
	}
	_ = sc.Close()
	time.Sleep(20 * time.Millisecond)
	if connAlive(cc) {
		t.Error("a connection the server closed is alive")
	}
	_ = cc.Close()
	cc, sc = dial()
	_, _ = sc.Write([]byte("x"))
	time.Sleep(20 * time.Millisecond)
	if connAlive(cc) {
		t.Error("a connection with unsolicited bytes is alive")
	}
	_ = cc.Close()
	_ = sc.Close()
}

func TestRESTClientIdleTimeoutAndClose(t *testing.T) {
	closed := make(chan struct{}, 4)
	s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		answerEach(okAnswer)(c, br)
		closed <- struct{}{} // the client closed the connection
	})
	c := newRESTClient(s.addr(), 4)
	if _, err := callOnce(t, c, time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
		t.Fatal("closed before the idle timeout")
	case <-time.After(restIdleTimeout / 2):
	}
	select {
	case <-closed:
	case <-time.After(restIdleTimeout + time.Second):
		t.Fatal("idle connection not closed after the idle timeout")
	}
	if n := c.idleConns(); n != 0 {
		t.Errorf("%d idle connections after the idle timeout, want 0", n)
	}
	// closeIdle closes what is pooled, and a call after it fails.
	if _, err := callOnce(t, c, time.Second); err != nil {
		t.Fatal(err)
	}
	c.closeIdle()
	select {
	case <-closed:
	case <-time.After(time.Second):
		t.Fatal("closeIdle left the connection open")
	}
	if _, err := callOnce(t, c, time.Second); !errors.Is(err, errClientClosed) {
		t.Errorf("call after closeIdle: %v, want errClientClosed", err)
	}
}

func TestRESTClientRefusedDialIsDetected(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c := newRESTClient(addr, 4)
	defer c.closeIdle()
	if _, err := callOnce(t, c, time.Second); !dialRefused(err) {
		t.Errorf("err %v, want a refused dial (hold.go's retry)", err)
	}
}

// Many goroutines share one client: every answer is its own request's.
func TestRESTClientConcurrentCalls(t *testing.T) {
	s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			_, body, err := readReq(br)
			if err != nil {
				return
			}
			if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil {
				return
			}
		}
	})
	c := newRESTClient(s.addr(), 8)
	defer c.closeIdle()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				want := fmt.Sprintf(`{"g":%d,"i":%d}`, g, i)
				ans, err := c.post(context.Background(), "/predict", testHeader, []byte(want), time.Second, 1<<10, true)
				if err != nil || string(ans.body) != want {
					errs <- fmt.Errorf("got %q, %w; want %s", ans.body, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := c.idleConns(); n > 8 {
		t.Errorf("%d idle connections, more than the cap of 8", n)
	}
}

// FuzzRESTClientAnswer feeds arbitrary bytes to the client as a
// component's answer: no panic, no hang, bodies within the bound, and a
// connection is pooled only after an answer that parses, whole and alone,
// to what the client returned.
func FuzzRESTClientAnswer(f *testing.F) {
	for _, s := range []string{okAnswer,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\n{}", "HTTP/1.1 100 Continue\r\n\r\n" + okAnswer,
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{}", "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n",
		"HTTP/1.1 302 Found\r\nLocation: /\r\n\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		okAnswer + "junk", ""} {
		f.Add([]byte(s))
	}
	answers := make(chan []byte, 1)
	s := newRawServer(f, func(c net.Conn, br *bufio.Reader) {
		if _, _, err := readReq(br); err != nil {
			return
		}
		_, _ = c.Write(<-answers)
		// Half-close: a client that waits for more sees the end, and a
		// pooled connection is found dead when used.
		_ = c.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, c)
	})
	const maxBody = 1 << 10
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newRESTClient(s.addr(), 1)
		defer c.closeIdle()
		answers <- data
		start := time.Now()
		ans, err := c.post(context.Background(), "/predict", testHeader, []byte(`{}`), 5*time.Second, maxBody, false)
		if d := time.Since(start); d > 4*time.Second {
			t.Fatalf("call took %v", d)
		}
		if len(ans.body) > maxBody {
			t.Fatalf("body of %d bytes, over the bound", len(ans.body))
		}
		if err != nil {
			if c.idleConns() != 0 {
				t.Fatalf("connection pooled after a failed answer: %v", err)
			}
			return
		}
		if c.idleConns() == 0 {
			return
		}
		// Pooled: the bytes must be exactly one complete answer (after any
		// 1xx) whose status and body the client returned.
		br := bufio.NewReader(bytes.NewReader(data))
		var resp *http.Response
		for {
			if resp, err = http.ReadResponse(br, nil); err != nil {
				t.Fatalf("pooled after an answer that does not parse: %v", err)
			}
			if resp.StatusCode >= 200 {
				break
			}
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != ans.status || !bytes.Equal(b, ans.body) || br.Buffered() != 0 || resp.Close {
			t.Fatalf("pooled after %q: parse %d %q %v, buffered %d, close %v; client %d %q",
				data, resp.StatusCode, b, err, br.Buffered(), resp.Close, ans.status, ans.body)
		}
	})
}
