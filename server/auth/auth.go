// Package auth guards Serval's HTTP API: Bearer-token authentication against
// the token store (looked up on every request, so a revoked token stops
// working at once, whichever process revoked it) and a per-token rate
// limit. Middleware answers 401 with a JSON error saying how to get a token,
// and 429 with Retry-After when a token is over its limit.
package auth

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"golang.org/x/time/rate"

	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/internal/httpx"
	"github.com/servalhq/serval/server/store"
)

var tracer = otel.Tracer("github.com/servalhq/serval/server/auth")

// Defaults of the per-token rate limit (Tabby's limit is 120/min too).
const (
	DefaultRatePerMinute = 120
	DefaultBurst         = 240
)

// ErrUnknownToken is what a TokenLookup returns for a token it does not know.
// Lookups may wrap it.
var ErrUnknownToken = errors.New("unknown token")

// TokenLookup resolves a token secret to its name; unknown tokens give an
// error wrapping ErrUnknownToken.
type TokenLookup func(ctx context.Context, secret string) (name string, err error)

// StoreLookup looks tokens up in the database.
func StoreLookup(s *store.Store) TokenLookup {
	return func(ctx context.Context, secret string) (string, error) {
		name, err := s.LookupToken(ctx, secret)
		if errors.Is(err, store.ErrNotFound) {
			return "", ErrUnknownToken
		}
		return name, err
	}
}

// Config configures an Authenticator.
type Config struct {
	// Lookup resolves tokens; required.
	Lookup TokenLookup
	// RatePerMinute and Burst bound each token's requests; 0 means the default,
	// a negative RatePerMinute disables the limit.
	RatePerMinute float64
	Burst         int
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// Shared, when set, is the rate limit's budget shared by every replica
	// of one database (store.TakeRequest on PostgreSQL): it takes one
	// request from name's budget, or says how long until one fits. When it
	// fails the in-process limiter decides alone.
	Shared func(ctx context.Context, name string, perMinute float64, burst int) (retryAfter time.Duration, ok bool, err error)
	// Session, when set, authenticates requests that carry no Authorization
	// header by other means (the web app's session cookie, for its
	// playground), returning the name they are counted under. It must refuse
	// cross-site requests.
	Session func(*http.Request) (name string, ok bool)
}

// Authenticator checks Bearer tokens and rate-limits them. It is safe for concurrent use.
type Authenticator struct {
	lookup  TokenLookup
	limit   rate.Limit // per second; rate.Inf when disabled
	burst   int
	perMin  float64
	now     func() time.Time
	session func(*http.Request) (string, bool)
	shared  func(ctx context.Context, name string, perMinute float64, burst int) (time.Duration, bool, error)

	mu       sync.Mutex
	limiters map[string]*rate.Limiter // by token name
}

// New returns an Authenticator.
func New(cfg Config) *Authenticator {
	a := &Authenticator{
		lookup:   cfg.Lookup,
		perMin:   cfg.RatePerMinute,
		burst:    cfg.Burst,
		now:      cfg.Now,
		session:  cfg.Session,
		shared:   cfg.Shared,
		limiters: map[string]*rate.Limiter{},
	}
	if a.perMin == 0 {
		a.perMin = DefaultRatePerMinute
	}
	if a.burst <= 0 {
		a.burst = DefaultBurst
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.limit = rate.Limit(a.perMin / 60)
	if a.perMin < 0 {
		a.limit = rate.Inf
	}
	return a
}

type ctxKey struct{}

// TokenName returns the name of the token that authenticated the request
// carrying ctx ("" when auth is off).
func TokenName(ctx context.Context) string {
	name, _ := ctx.Value(ctxKey{}).(string)
	return name
}

// WithTokenName returns ctx marked as authenticated by the token called name.
func WithTokenName(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, ctxKey{}, name)
}

// UnauthorizedMessage tells a client how to get a token.
const UnauthorizedMessage = "missing or invalid token: send the header 'Authorization: Bearer <token>'. " +
	"Get a token from this server's web app (sign in, then Tokens), or sign in from the editor " +
	"(VS Code: Serval: Sign In; Neovim: :ServalSignIn), which needs no token to copy; " +
	"an admin can also run `serval token create --name NAME`"

// Middleware authenticates every request and applies the token's rate
// limit, answering errors in Tabby's shape.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return a.MiddlewareShaped(httpx.Tabby, next)
}

// MiddlewareShaped is Middleware answering its errors (401, 429, 500) in
// shape: OpenAI's for the OpenAI-compatible routes.
func (a *Authenticator) MiddlewareShaped(shape httpx.Shape, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, span := tracer.Start(r.Context(), "auth")
		name, ok := a.admit(w, r, shape)
		if !ok {
			span.SetStatus(codes.Error, "refused")
		}
		span.End()
		if ok {
			next.ServeHTTP(w, r.WithContext(WithTokenName(r.Context(), name)))
		}
	})
}

// admit authenticates r and applies its token's rate limit, returning the
// token's name; when it refuses r it has written the answer and returns false.
func (a *Authenticator) admit(w http.ResponseWriter, r *http.Request, shape httpx.Shape) (string, bool) {
	var name string
	var err error
	secret, ok := bearer(r.Header.Get("Authorization"))
	switch {
	case ok:
		name, err = a.Authenticate(r.Context(), secret)
	case r.Header.Get("Authorization") == "" && a.session != nil:
		if name, ok = a.session(r); !ok {
			err = ErrUnknownToken
		}
	default:
		err = ErrUnknownToken
	}
	if errors.Is(err, ErrUnknownToken) {
		unauthorized(w, shape)
		return "", false
	}
	if err != nil && r.Context().Err() != nil {
		w.WriteHeader(499) // the client went away while its token was checked
		return "", false
	}
	if errors.Is(err, store.ErrUnavailable) {
		// PostgreSQL restarting or out of reach: the client retries, and
		// the next connection attempt resumes service by itself.
		w.Header().Set("Retry-After", "2")
		writeError(w, shape, http.StatusServiceUnavailable,
			"the token cannot be checked: the server's database is unavailable; retry shortly")
		return "", false
	}
	if err != nil {
		// The store's error text (SQL, file paths) is not for the client:
		// the token store is busy or down, retry shortly.
		w.Header().Set("Retry-After", "1")
		writeError(w, shape, http.StatusServiceUnavailable, "checking the token failed: the token store is unavailable; retry shortly")
		return "", false
	}
	if wait, ok := a.allow(r.Context(), name); !ok {
		secs := int(math.Ceil(wait.Seconds()))
		if secs < 1 {
			secs = 1
		}
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeError(w, shape, http.StatusTooManyRequests, fmt.Sprintf(
			"rate limit exceeded for token %q (%g requests per minute, burst %d); retry after %d s",
			name, a.perMin, a.burst, secs))
		return "", false
	}
	return name, true
}

// Authenticate returns the name of the token secret. It asks the token
// store every time (an indexed read): no cache can keep a revoked token
// alive, and `serval token revoke` in another process sharing the data
// directory takes effect on the next request. Unknown tokens give
// ErrUnknownToken.
func (a *Authenticator) Authenticate(ctx context.Context, secret string) (string, error) {
	return a.lookup(ctx, secret)
}

// allow takes one request from name's budget: the shared one when there is
// one (replicas on PostgreSQL), else this process's.
func (a *Authenticator) allow(ctx context.Context, name string) (time.Duration, bool) {
	if a.shared != nil && a.limit != rate.Inf {
		if wait, ok, err := a.shared(ctx, name, a.perMin, a.burst); err == nil {
			return wait, ok
		}
	}
	return a.Allow(name)
}

// Allow takes one request from name's budget. When the budget is empty it
// takes nothing and returns how long until a request would be allowed.
func (a *Authenticator) Allow(name string) (retryAfter time.Duration, ok bool) {
	if a.limit == rate.Inf {
		return 0, true
	}
	a.mu.Lock()
	lim, found := a.limiters[name]
	if !found {
		lim = rate.NewLimiter(a.limit, a.burst)
		a.limiters[name] = lim
	}
	a.mu.Unlock()
	now := a.now()
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		return time.Minute, false
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

func bearer(header string) (string, bool) {
	const prefix = "bearer "
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", false
	}
	token := strings.TrimSpace(header[len(prefix):])
	return token, token != ""
}

func unauthorized(w http.ResponseWriter, shape httpx.Shape) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="serval"`)
	writeError(w, shape, http.StatusUnauthorized, UnauthorizedMessage)
}

func writeError(w http.ResponseWriter, shape httpx.Shape, code int, msg string) {
	httpx.WriteError(w, shape, &httpx.Error{Status: code, Message: msg})
}

// maxSessionLen bounds the session id the queue keeps per waiting request.
const maxSessionLen = 64

// QueueClient names who sent r for the engine's wait queue
// (engine.Request.Client and Session): the token that authenticated it, or
// with auth off the remote host; and the session it names in
// api.SessionHeader, if any (serval-agent sends a random one per process, so
// two editors sharing a token keep one waiting request each). Slots are
// shared fairly by client, not by session.
func QueueClient(r *http.Request) (client, session string) {
	client = TokenName(r.Context())
	if client == "" {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		client = "addr:" + host
	} else {
		client = "token:" + client
	}
	session = r.Header.Get(api.SessionHeader)
	if len(session) > maxSessionLen {
		session = session[:maxSessionLen]
	}
	return client, session
}
