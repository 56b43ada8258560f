package executor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// restClient is the HTTP/1.1 client of the prediction calls to one member
// (POST /predict and the other graph calls, seldon and v2). Unlike
// net/http's transport, which hands every request to a writer and a reader
// goroutine per connection and back through channels, it writes the request
// and reads the answer in the calling goroutine, on a pool of idle
// keep-alive connections. Answers are parsed by http.ReadResponse on the
// connection's bufio.Reader.
//
// A connection goes back to the pool only when its answer was read to its
// end without error: a Content-Length or chunked body, no Connection: close
// (an HTTP/1.0 answer without keep-alive counts as close), nothing more
// buffered after it, and the call was neither cancelled nor timed out.
// Every other outcome closes it.
type restClient struct {
	addr    string // host:port, dialled and sent as Host
	maxIdle int

	mu      sync.Mutex
	idle    []*restConn // oldest first; calls take the newest
	closed  bool
	timer   *time.Timer // prunes idle connections past restIdleTimeout
	timerOn bool
}

// restConn is one connection of a restClient.
type restConn struct {
	nc net.Conn
	br *bufio.Reader
	// left is how many more bytes br may pull from nc: the header limit
	// while an answer's head is read, unlimited for its body (bounded by
	// readBody).
	left   int64
	idleAt time.Time
	reused bool
	buf    []byte // the request's head (and a small body)
}

const (
	// restIdleTimeout: an idle connection older than this is closed, not
	// used. Model servers close idle keep-alive connections after a few
	// seconds (gunicorn after 2 s, uvicorn after 5 s); closing ours first
	// makes sending on a connection the server is closing rare.
	restIdleTimeout = time.Second
	// restPeekAfter: a connection idle longer than this is checked before
	// use (a non-blocking peek, no wait): one the server closed, or that
	// has unsolicited bytes, is dropped.
	restPeekAfter = 100 * time.Millisecond
	// restMaxHeaderBytes bounds an answer's status line and headers
	// (1xx answers before it included).
	restMaxHeaderBytes = 1 << 20
	restDialTimeout    = 5 * time.Second
	// restMax1xx: more informational answers than this before the real
	// one is a broken component.
	restMax1xx = 8
	// restInlineBody: bodies up to this size go out in the same write as
	// the request's head.
	restInlineBody = 16 << 10
)

var (
	errAnswerHeaderTooLarge = fmt.Errorf("answer headers larger than %d bytes", restMaxHeaderBytes)
	errTooMany1xx           = errors.New("too many informational (1xx) answers")
	errSwitchingProtocols   = errors.New("answered 101 Switching Protocols to a prediction call")
	errClientClosed         = errors.New("the endpoint was removed")
	// A deadline in the past: reads and writes fail at once.
	longAgo = time.Unix(1, 0)
)

func newRESTClient(addr string, maxIdle int) *restClient {
	if maxIdle <= 0 {
		maxIdle = http.DefaultMaxIdleConnsPerHost
	}
	return &restClient{addr: addr, maxIdle: maxIdle}
}

// restAnswer is a component's answer. On a body error status and header
// are still set (the head arrived).
type restAnswer struct {
	status int
	header http.Header
	body   []byte
}

// post sends body to path with header (sent as net/http's transport would:
// Host, User-Agent, Content-Length, then header) and reads the answer,
// whose body may be at most maxBody bytes (errTooLarge). The call ends
// after timeout (0: none), at ctx's deadline, or when ctx is cancelled;
// it then fails with ctx's error or a timeout error. replayable says the
// call may be sent twice (see the retry below).
func (c *restClient) post(ctx context.Context, path string, header map[string][]string, body []byte,
	timeout time.Duration, maxBody int64, replayable bool) (restAnswer, error) {
	if !validPath(path) {
		return restAnswer{}, fmt.Errorf("invalid request path %q", path)
	}
	now := time.Now()
	var deadline time.Time
	if timeout > 0 {
		deadline = now.Add(timeout)
	}
	ctxDeadline := false
	if d, ok := ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
		deadline, ctxDeadline = d, true
	}
	pc, err := c.get(ctx, now, deadline, false)
	if err != nil {
		return restAnswer{}, callError(ctx, err, ctxDeadline)
	}
	ans, stale, err := c.exchange(ctx, pc, path, header, body, deadline, maxBody, replayable)
	if err == nil {
		return ans, nil
	}
	if !stale || ctx.Err() != nil {
		return ans, callError(ctx, err, ctxDeadline)
	}
	// The retry. It happens once, on a newly dialled connection, only when
	// the failed connection came from the pool (it had carried an earlier
	// answer) and it broke (EOF, connection reset, broken pipe) either while
	// the request was written or, for a replayable call, before the first
	// byte of the answer arrived. A keep-alive server closes an idle
	// connection without reading what arrives on it afterwards, so the
	// component never saw this request: that is the failure this undoes.
	// The one case it cannot tell apart, a component that read the request
	// and died before answering a byte, is why a call that must not run
	// twice (feedback) is not replayable: it is retried only when its write
	// failed. The idle timeout and the peek in get make the case rare.
	if pc, err = c.get(ctx, time.Now(), deadline, true); err != nil {
		return restAnswer{}, callError(ctx, err, ctxDeadline)
	}
	if ans, _, err = c.exchange(ctx, pc, path, header, body, deadline, maxBody, replayable); err != nil {
		return ans, callError(ctx, err, ctxDeadline)
	}
	return ans, nil
}

// callError is ctx's error when ctx ended the call (cancelled, or its
// deadline made the connection time out a moment before ctx says so),
// else err.
func callError(ctx context.Context, err error, ctxDeadline bool) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if ctxDeadline && isTimeout(err) {
		return context.DeadlineExceeded
	}
	return err
}

// get takes the newest usable idle connection, or dials one (always, when
// fresh).
func (c *restClient) get(ctx context.Context, now, deadline time.Time, fresh bool) (*restConn, error) {
	for !fresh {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, errClientClosed
		}
		n := len(c.idle)
		if n == 0 {
			c.mu.Unlock()
			break
		}
		pc := c.idle[n-1]
		c.idle[n-1] = nil
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		idle := now.Sub(pc.idleAt)
		if idle > restIdleTimeout {
			_ = pc.nc.Close()
			continue
		}
		if idle > restPeekAfter {
			// The last call's deadline may have passed, which would fail
			// the peek: clear it (exchange sets the next).
			if pc.nc.SetReadDeadline(time.Time{}) != nil || !connAlive(pc.nc) {
				_ = pc.nc.Close()
				continue
			}
		}
		return pc, nil
	}
	d := net.Dialer{Timeout: restDialTimeout, KeepAlive: 30 * time.Second, Deadline: deadline}
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	pc := &restConn{nc: nc}
	pc.br = bufio.NewReaderSize(pc, 4096)
	return pc, nil
}

// put returns a connection whose answer was read to its end.
func (c *restClient) put(pc *restConn) {
	pc.idleAt = time.Now()
	pc.reused = true
	c.mu.Lock()
	if c.closed || len(c.idle) >= c.maxIdle {
		c.mu.Unlock()
		_ = pc.nc.Close()
		return
	}
	c.idle = append(c.idle, pc)
	if !c.timerOn {
		c.timerOn = true
		if c.timer == nil {
			c.timer = time.AfterFunc(restIdleTimeout, c.prune)
		} else {
			c.timer.Reset(restIdleTimeout)
		}
	}
	c.mu.Unlock()
}

// prune closes the idle connections past the idle timeout; it runs at most
// once per timeout while the pool is not empty.
func (c *restClient) prune() {
	now := time.Now()
	c.mu.Lock()
	k := 0
	for k < len(c.idle) && now.Sub(c.idle[k].idleAt) > restIdleTimeout {
		k++
	}
	old := make([]*restConn, k)
	copy(old, c.idle[:k])
	rest := copy(c.idle, c.idle[k:])
	clear(c.idle[rest:])
	c.idle = c.idle[:rest]
	if len(c.idle) > 0 && !c.closed {
		c.timer.Reset(restIdleTimeout)
	} else {
		c.timerOn = false
	}
	c.mu.Unlock()
	for _, pc := range old {
		_ = pc.nc.Close()
	}
}

// closeIdle closes the idle connections; connections in use are closed when
// their call ends.
func (c *restClient) closeIdle() {
	c.mu.Lock()
	c.closed = true
	old := c.idle
	c.idle = nil
	if c.timer != nil {
		c.timer.Stop()
	}
	c.timerOn = false
	c.mu.Unlock()
	for _, pc := range old {
		_ = pc.nc.Close()
	}
}

// idleConns is the pool's size (tests).
func (c *restClient) idleConns() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idle)
}

// Read is what br reads: nc, within the current limit.
func (pc *restConn) Read(p []byte) (int, error) {
	if pc.left <= 0 {
		return 0, errAnswerHeaderTooLarge
	}
	if int64(len(p)) > pc.left {
		p = p[:pc.left]
	}
	n, err := pc.nc.Read(p)
	pc.left -= int64(n)
	return n, err
}

// exchange sends one request on pc and reads its answer. pc goes back to
// the pool or is closed before it returns. stale reports a failure that
// post may retry on a new connection.
func (c *restClient) exchange(ctx context.Context, pc *restConn, path string, header map[string][]string, body []byte,
	deadline time.Time, maxBody int64, replayable bool) (ans restAnswer, stale bool, err error) {
	reusable := false
	if err := pc.nc.SetDeadline(deadline); err != nil {
		_ = pc.nc.Close()
		return ans, false, err
	}
	var stop func() bool
	if ctx.Done() != nil {
		// Cancellation ends a blocked read or write at once.
		stop = context.AfterFunc(ctx, func() { _ = pc.nc.SetDeadline(longAgo) })
	}
	defer func() {
		if stop != nil && !stop() {
			reusable = false // cancelled: the deadline may be in the past
		}
		if reusable {
			c.put(pc)
		} else {
			_ = pc.nc.Close()
		}
	}()

	pc.buf, err = appendRequestHead(pc.buf[:0], c.addr, path, header, len(body))
	if err != nil {
		return ans, false, err
	}
	inline := len(body) <= restInlineBody
	if inline {
		pc.buf = append(pc.buf, body...)
	}
	_, err = pc.nc.Write(pc.buf)
	if err == nil && !inline {
		_, err = pc.nc.Write(body)
	}
	if cap(pc.buf) > 64<<10 {
		pc.buf = nil // do not keep a large body's copy
	}
	if err != nil {
		return ans, pc.reused && brokenConn(err), err
	}

	pc.left = restMaxHeaderBytes
	if _, err = pc.br.Peek(1); err != nil {
		return ans, pc.reused && replayable && brokenConn(err), err
	}
	var resp *http.Response
	for i := 0; ; i++ {
		if resp, err = http.ReadResponse(pc.br, nil); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the head had begun
			}
			return ans, false, err
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return ans, false, errSwitchingProtocols
		}
		if resp.StatusCode >= 200 || resp.StatusCode < 100 {
			break
		}
		if i == restMax1xx {
			return ans, false, errTooMany1xx
		}
	}
	pc.left = math.MaxInt64
	ans.status, ans.header = resp.StatusCode, resp.Header
	ans.body, _, err = readBody(resp.Body, resp.ContentLength, maxBody, nil)
	if err != nil {
		ans.body = nil
		return ans, false, err
	}
	delimited := resp.ContentLength >= 0 || len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
	reusable = delimited && !resp.Close && pc.br.Buffered() == 0
	return ans, false, nil
}

// brokenConn: the peer closed or reset the connection.
func brokenConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// appendRequestHead writes a POST's request line and headers as net/http's
// transport writes them: Host, User-Agent (header's, else Go's default),
// Content-Length, then header's other fields. A field that is not valid
// HTTP is an error, never sent.
func appendRequestHead(b []byte, host, path string, header map[string][]string, bodyLen int) ([]byte, error) {
	b = append(b, "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	ua := "Go-http-client/1.1"
	if v, ok := header["User-Agent"]; ok {
		ua = ""
		if len(v) > 0 {
			ua = v[0]
		}
	}
	if ua != "" {
		if !validFieldValue(ua) {
			return b, errors.New("invalid User-Agent header value")
		}
		b = append(b, "\r\nUser-Agent: "...)
		b = append(b, ua...)
	}
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(bodyLen), 10)
	b = append(b, "\r\n"...)
	for k, vs := range header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		if !validFieldName(k) {
			return b, fmt.Errorf("invalid header field name %q", k)
		}
		for _, v := range vs {
			if !validFieldValue(v) {
				return b, fmt.Errorf("invalid header field value for %q", k)
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	return append(b, "\r\n"...), nil
}

// validFieldName: a token (RFC 9110 5.1).
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == '!' || c == '#' || c == '$' || c == '%' || c == '&' ||
			c == '\'' || c == '*' || c == '+' || c == '^' || c == '`' || c == '|' || c == '~':
		default:
			return false
		}
	}
	return true
}

// validPath: an origin-form target without spaces or control bytes.
func validPath(s string) bool {
	if s == "" || s[0] != '/' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// validFieldValue: no control bytes but tab (RFC 9110 5.5).
func validFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
