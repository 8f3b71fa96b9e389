package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// Client talks to a Serval (or Tabby) server. It is safe for concurrent use;
// requests reuse kept-alive connections.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
	// UserAgent is sent with every request when not empty.
	UserAgent string
	// Header holds extra headers sent with every request (config's requestHeaders).
	Header http.Header
}

// SessionHeader carries a client's session id, random per agent process: the
// server's wait queue keeps one request per token and session, a newer one
// replacing the older (docs/engine.md).
const SessionHeader = "X-Serval-Session"

// NewClient returns a client for the server at baseURL (e.g.
// "http://127.0.0.1:8080") authenticating with token ("" sends no
// Authorization header). httpClient may be nil for a default client; it
// should not set Timeout, which would cut streams: plain requests are bounded
// by DefaultTimeout unless the context has its own deadline.
func NewClient(baseURL, token string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("api: server URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("api: server URL %q: want http://host:port or https://host:port", baseURL)
	}
	if httpClient == nil {
		httpClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	return &Client{base: u, token: token, http: httpClient}, nil
}

// BaseURL returns the server's address as given to NewClient.
func (c *Client) BaseURL() string { return c.base.String() }

// StatusError is an error answer from the server.
type StatusError struct {
	StatusCode int
	// Message is the server's {"error": ...} text, or the body when it was not JSON.
	Message string
	// RetryAfter is the server's Retry-After (429, 503), 0 when absent.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	s := fmt.Sprintf("server answered %d: %s", e.StatusCode, msg)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// StatusCode returns the HTTP status of a *StatusError in err's chain, or 0.
func StatusCode(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}

// StreamError is an error the server reported inside a stream, after the
// response had started.
type StreamError struct{ Message string }

func (e *StreamError) Error() string { return "server error during stream: " + e.Message }

// ErrStreamTruncated means the stream ended without its final "data: [DONE]".
var ErrStreamTruncated = errors.New("api: stream ended before [DONE]")

// errStopReading ends ReadStream when CompleteStream's caller has what it
// needs; it never leaves this package.
var errStopReading = errors.New("api: stop reading")

// Complete sends a completion request and returns the plain JSON answer.
func (c *Client) Complete(ctx context.Context, req *CompletionRequest) (*CompletionResponse, error) {
	r := *req
	r.Stream = false
	var resp CompletionResponse
	if err := c.do(ctx, http.MethodPost, "/v1/completions", &r, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// CompleteStream sends a streamed completion request and calls onDelta with
// each new piece of text as it arrives. onDelta returns true when the
// caller has all the text it needs: the stream is then closed at once (the
// server stops generating) and the response so far returned with no error.
// A Tabby server that ignores "stream" answers plain JSON; its whole text
// is then passed to onDelta once. The returned response holds the
// concatenated text (of choice 0) and any debug data.
func (c *Client) CompleteStream(ctx context.Context, req *CompletionRequest, onDelta func(delta string) (stop bool)) (*CompletionResponse, error) {
	r := *req
	r.Stream = true
	// The stream is bounded by ctx alone: a long generation is not an error.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := c.send(ctx, http.MethodPost, "/v1/completions", &r, "text/event-stream")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()

	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		var plain CompletionResponse
		if err := json.NewDecoder(resp.Body).Decode(&plain); err != nil {
			return nil, fmt.Errorf("api: decode completion: %w", err)
		}
		if len(plain.Choices) > 0 && plain.Choices[0].Text != "" {
			onDelta(plain.Choices[0].Text) // the whole text: nothing left to stop
		}
		return &plain, nil
	}

	out := &CompletionResponse{}
	var text strings.Builder
	stopped := false
	err = ReadStream(resp.Body, func(ev *StreamEvent) error {
		if ev.Error != "" {
			return &StreamError{Message: ev.Error}
		}
		if out.ID == "" {
			out.ID = ev.ID
		}
		if ev.DebugData != nil {
			out.DebugData = ev.DebugData
		}
		for _, ch := range ev.Choices {
			if ch.Index != 0 || ch.Text == "" {
				continue
			}
			text.WriteString(ch.Text)
			if onDelta(ch.Text) {
				stopped = true
				return errStopReading
			}
		}
		return nil
	})
	out.Choices = []Choice{{Index: 0, Text: text.String()}}
	if stopped {
		return out, nil // the deferred cancel closes the stream
	}
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			return nil, fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, err
	}
	return out, nil
}

// ReadStream parses a server-sent-event stream of completion events, calling
// fn for each until "data: [DONE]". It returns ErrStreamTruncated when the
// stream ends first, and fn's error when fn fails.
func ReadStream(r io.Reader, fn func(*StreamEvent) error) error {
	br := bufio.NewReaderSize(r, 16<<10)
	var data []byte
	hasData := false
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: collect it whole.
			full := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				full = append(full, line...)
			}
			line = full
		}
		if len(line) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return ErrStreamTruncated
			}
			return fmt.Errorf("api: read stream: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			// A blank line dispatches the event.
			if hasData {
				if string(data) == "[DONE]" {
					return nil
				}
				var ev StreamEvent
				if jerr := json.Unmarshal(data, &ev); jerr != nil {
					return fmt.Errorf("api: bad stream event %.100q: %w", data, jerr)
				}
				if ferr := fn(&ev); ferr != nil {
					return ferr
				}
			}
			data, hasData = data[:0], false
		case line[0] == ':':
			// comment / keep-alive
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			if string(field) == "data" {
				if hasData {
					data = append(data, '\n')
				}
				data = append(data, value...)
				hasData = true
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				// A final event without its blank line still counts.
				if hasData && string(data) == "[DONE]" {
					return nil
				}
				return ErrStreamTruncated
			}
			return fmt.Errorf("api: read stream: %w", err)
		}
	}
}

// Health returns the server's state. Like tabby-agent it GETs /v1/health and
// retries with POST when the server answers 405.
func (c *Client) Health(ctx context.Context) (*HealthState, error) {
	var h HealthState
	err := c.do(ctx, http.MethodGet, "/v1/health", nil, &h)
	if StatusCode(err) == http.StatusMethodNotAllowed {
		err = c.do(ctx, http.MethodPost, "/v1/health", nil, &h)
	}
	if err != nil {
		return nil, err
	}
	return &h, nil
}

// LogEvent reports that a completion was shown, accepted or dismissed.
func (c *Client) LogEvent(ctx context.Context, ev *LogEventRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/events", ev, nil)
}

// ServerSetting returns the server's settings for clients.
func (c *Client) ServerSetting(ctx context.Context) (*ServerSetting, error) {
	var s ServerSetting
	if err := c.do(ctx, http.MethodGet, "/v1beta/server_setting", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// do sends a plain JSON request and decodes a JSON answer into out (nil: ignore the body).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	resp, err := c.send(ctx, method, path, in, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("api: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send makes the request and returns the response when its status is 2xx;
// other statuses become a *StatusError.
func (c *Client) send(ctx context.Context, method, path string, in any, accept string) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("api: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	for k, vs := range c.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", accept)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	// The caller's trace (the agent's completion) continues in the server:
	// a W3C traceparent header, only when tracing is on.
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, statusError(resp)
}

func statusError(resp *http.Response) *StatusError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return statusErrorOf(resp, b)
}

// statusErrorOf is the *StatusError of resp whose body b was read.
func statusErrorOf(resp *http.Response, b []byte) *StatusError {
	se := &StatusError{StatusCode: resp.StatusCode, Message: strings.TrimSpace(string(b))}
	var e ErrorResponse
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		se.Message = e.Error
	}
	se.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return se
}

// parseRetryAfter reads either delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
