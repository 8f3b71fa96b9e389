// Package web is Serval's web app, served by `serval serve` at / on the API's
// port from files embedded in the binary: first-run setup, accounts and
// browser sessions, personal tokens, invitations, admin pages, usage charts
// and a playground. Pages are server-rendered html/template; the main flows
// work without JavaScript. It owns the HTML routes and their form handling;
// the data lives in server/store and the password rules in server/account.
package web

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/servalhq/serval/server/engine"
	"github.com/servalhq/serval/server/ldapauth"
	"github.com/servalhq/serval/server/oidc"
	"github.com/servalhq/serval/server/store"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// favicon is also served at /favicon.ico, where browsers look without a link.
//
//go:embed static/favicon.svg
var favicon []byte

// EngineStatus is one engine of the system page.
type EngineStatus struct {
	Role   string // "completion" or "chat"
	Engine interface{ Info() engine.Info }
}

// Config configures a Server.
type Config struct {
	Store *store.Store // required
	// DataDir receives the setup-url file while no account exists.
	DataDir string
	// Version is shown on the system page.
	Version string
	// Engines are shown on the system page.
	Engines []EngineStatus
	// ChatEnabled shows the playground's chat box.
	ChatEnabled bool
	// TrustedProxies are the addresses whose X-Forwarded-For and
	// X-Forwarded-Proto headers are believed (client address for login
	// throttling, Secure cookies behind a TLS-terminating proxy).
	TrustedProxies []netip.Prefix
	// OIDC are the OpenID providers the login page offers (oidc.go).
	OIDC []*oidc.Provider
	// LDAP, when set, checks the login form's username and password
	// against a directory first (ldap.go).
	LDAP *ldapauth.Directory
	// PasswordDisabled turns off sign-in with the passwords of local
	// accounts (the LDAP form stays).
	PasswordDisabled bool
	// MaxTokensPerUser bounds the tokens one account may hold (web, editor
	// sign-in); 0 means store.DefaultMaxUserTokens.
	MaxTokensPerUser int
	// Logger receives errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Server is the web app; it is an http.Handler. Build it with New.
type Server struct {
	cfg      Config
	store    *store.Store
	log      *slog.Logger
	now      func() time.Time
	started  time.Time
	pages    map[string]*template.Template
	throttle *throttle
	// deviceThrottle counts wrong editor sign-in codes (device.go).
	deviceThrottle *throttle
	// codeThrottle counts the editor sign-ins each address starts (oauth.go).
	codeThrottle *throttle
	handler      http.Handler
}

// New returns the web app for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("web: Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, store: cfg.Store, log: cfg.Logger, now: cfg.Now, started: cfg.Now(),
		pages: pages, throttle: newThrottle(cfg.Now), deviceThrottle: newThrottle(cfg.Now),
		codeThrottle: newAddrThrottle(cfg.Now, deviceCodeBurst, deviceCodeRefill),
	}
	if cfg.Store.IsPostgres() { // replicas: one budget per account and address across them
		s.throttle.sharedBy(cfg.Store, "login")
		s.deviceThrottle.sharedBy(cfg.Store, "device")
		s.codeThrottle.sharedBy(cfg.Store, "code")
	}
	s.handler = s.routes()
	return s, nil
}

// ServeHTTP serves the web app.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFiles, "static")
	mux.Handle("GET /static/", cacheStatic(http.StripPrefix("/static/", http.FileServerFS(static))))

	mux.HandleFunc("GET /{$}", s.handleHome)
	mux.HandleFunc("GET /setup", s.handleSetupPage)
	mux.HandleFunc("POST /setup", s.handleSetup)
	mux.HandleFunc("GET /login", s.handleLoginPage)
	mux.HandleFunc("POST /login", s.handleLogin)
	mux.HandleFunc("POST /logout", s.handleLogout)
	mux.HandleFunc("GET /auth/oidc/{provider}", s.handleOIDCStart)
	mux.HandleFunc("GET /auth/oidc/{provider}/callback", s.handleOIDCCallback)
	mux.HandleFunc("GET /register", s.handleRegisterPage)
	mux.HandleFunc("POST /register", s.handleRegister)
	mux.HandleFunc("GET /reset", s.handleResetPage)
	mux.HandleFunc("POST /reset", s.handleReset)

	mux.Handle("GET /account", s.signedIn(s.handleAccount))
	mux.Handle("POST /password", s.signedIn(s.handlePassword))
	mux.Handle("POST /tokens", s.signedIn(s.handleCreateToken))
	mux.Handle("POST /tokens/{id}/rotate", s.signedIn(s.handleRotateToken))
	mux.Handle("POST /tokens/{id}/revoke", s.signedIn(s.handleRevokeToken))
	mux.Handle("GET /usage", s.signedIn(s.handleUsage))
	mux.Handle("GET /usage.csv", s.signedIn(s.handleUsageCSV))
	mux.Handle("GET /playground", s.signedIn(s.handlePlayground))

	mux.Handle("GET /device", s.signedIn(s.handleDevicePage))
	mux.Handle("POST /device", s.signedIn(s.handleDevice))
	mux.HandleFunc("POST /oauth/device/code", s.handleDeviceCode)
	mux.HandleFunc("POST /oauth/token", s.handleToken)
	mux.HandleFunc("POST /oauth/revoke", s.handleRevoke)

	mux.Handle("GET /admin", s.adminOnly(func(w http.ResponseWriter, r *http.Request, _ *request) {
		http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
	}))
	mux.Handle("GET /admin/users", s.adminOnly(s.handleUsers))
	mux.Handle("POST /users/{name}/{action}", s.adminOnly(s.handleUserAction))
	mux.Handle("GET /admin/tokens", s.adminOnly(s.handleAllTokens))
	mux.Handle("GET /admin/invitations", s.adminOnly(s.handleInvitations))
	mux.Handle("POST /invitations", s.adminOnly(s.handleCreateInvitation))
	mux.Handle("POST /invitations/{id}/revoke", s.adminOnly(s.handleRevokeInvitation))
	mux.Handle("GET /admin/system", s.adminOnly(s.handleSystem))
	mux.Handle("GET /admin/audit", s.adminOnly(s.handleAudit))

	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Write(favicon)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// The page knows who is signed in: its links are theirs, not "Sign in".
		req, _ := s.currentUser(r)
		s.render(w, r, http.StatusNotFound, "message", req, page{Title: "Not found", Message: "There is no page at " + r.URL.Path + "."})
	})
	// Browsers say where a request comes from (Sec-Fetch-Site, Origin):
	// form posts from other sites are refused with 403.
	protect := http.NewCrossOriginProtection()
	protect.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, http.StatusForbidden, "message", nil, page{Title: "Refused", Message: "Cross-site requests are refused: submit the form from this server's own pages."})
	}))
	return securityHeaders(protect.Handler(mux))
}

// securityHeaders keeps pages out of frames and scripts to this origin.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer") // links carry one-time codes
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings: only the files pages link to
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		next.ServeHTTP(w, r)
	})
}

// fail logs an unexpected error and shows a page without its details.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("web request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	if errors.Is(err, store.ErrUnavailable) {
		w.Header().Set("Retry-After", "2")
		s.render(w, r, http.StatusServiceUnavailable, "message", nil, page{Title: "Database unavailable",
			Message: "The server cannot reach its database right now; try again in a moment."})
		return
	}
	s.render(w, r, http.StatusInternalServerError, "message", nil, page{Title: "Error", Message: "Something went wrong on the server; its log says what."})
}

// errorf is a shorthand for user-facing messages.
func errorf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
