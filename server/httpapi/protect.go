package httpapi

import (
	"context"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultBodyTimeout bounds the reading of a request body: a client that
// sends headers and then trickles (or never sends) its body is cut off
// instead of holding a connection and a goroutine.
const DefaultBodyTimeout = 15 * time.Second

// DefaultRequestTimeout bounds a whole request, streamed answer included:
// a completion takes seconds, a long chat answer on a CPU a minute or two.
const DefaultRequestTimeout = 5 * time.Minute

// protect is the outermost layer, run before routing and auth: it bounds
// the request's time (RequestTimeout) and puts a read deadline on the body, closes the connection after answers that end a
// client's business (401, 403, 408, 413, 415, 429: there is no reason to
// keep reading what it sends, nor to keep its connection), and with auth
// off refuses what a browser page could send (see refuseCrossSite).
func (s *Server) protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.requestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		cw := &closingWriter{ResponseWriter: w}
		if r.ContentLength != 0 { // a body follows (-1: chunked)
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(s.bodyTimeout)) == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
			}
		}
		// The web app's pages guard themselves (sessions, and
		// http.CrossOriginProtection on their forms, which are not JSON).
		if s.auth == nil && (s.web == nil || isAPIPath(r.URL.Path)) {
			if code, msg := refuseCrossSite(r); code != 0 {
				writeError(cw, code, msg)
				return
			}
		}
		next.ServeHTTP(cw, r)
	})
}

// refuseCrossSite guards a server without tokens against web pages: any
// page the user opens can make the browser send requests to 127.0.0.1,
// directly or through a DNS name rebound to it. Only loopback Host names
// are served, a foreign Origin (or Sec-Fetch-Site) is refused, and bodies
// must be JSON, which a page cannot send cross-origin without a CORS
// preflight that Serval never grants.
func refuseCrossSite(r *http.Request) (int, string) {
	if !loopbackHost(r.Host) {
		return http.StatusForbidden, "Host " + quote(r.Host) + " refused: without auth (--no-auth) only loopback names are served (127.0.0.1, ::1, localhost)"
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || !loopbackHost(u.Host) {
			return http.StatusForbidden, "Origin " + quote(origin) + " refused: without auth (--no-auth) only pages served from loopback may call this server"
		}
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return http.StatusForbidden, "cross-site request refused: without auth (--no-auth) only same-site pages may call this server"
	}
	if r.ContentLength != 0 && r.Method != http.MethodGet && r.Method != http.MethodHead {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			return http.StatusUnsupportedMediaType, "Content-Type " + quote(r.Header.Get("Content-Type")) + " refused: send application/json"
		}
	}
	return 0, ""
}

// loopbackHost reports whether a Host header (host or host:port) names a
// loopback address.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// closingWriter adds "Connection: close" to answers after which the
// connection is of no more use, so the server neither drains an unwanted
// body nor keeps the connection for a client that is being turned away.
type closingWriter struct {
	http.ResponseWriter
	wroteHeader bool
}

func (c *closingWriter) WriteHeader(code int) {
	if !c.wroteHeader {
		c.wroteHeader = true
		switch code {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout,
			http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusTooManyRequests:
			c.Header().Set("Connection", "close")
		}
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *closingWriter) Write(b []byte) (int, error) {
	c.wroteHeader = true
	return c.ResponseWriter.Write(b)
}

// Flush and Unwrap keep streaming working through the wrapper, for
// w.(http.Flusher) and http.ResponseController alike.
func (c *closingWriter) Flush() {
	c.wroteHeader = true
	_ = http.NewResponseController(c.ResponseWriter).Flush()
}

func (c *closingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// deadlineBody lifts the body's read deadline once the body has been read
// to its end: the connection's reads go on in the background while a
// response streams, and a deadline expiring then would cancel the request.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
