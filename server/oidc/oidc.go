// Package oidc owns OpenID Connect sign-in at one provider (Keycloak,
// Okta, Entra ID, Google, ...): its settings, discovery, the authorization
// URL with PKCE, state and nonce, the code exchange, the ID token's
// verification (signature, issuer, audience, expiry, nonce) and what its
// claims say: who signed in, whether the email and groups allow it, and
// whether the groups make an admin. It keeps no state between the two legs
// of a sign-in: the caller stores the Flow and hands it back.
package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Config is one provider of the `[[auth.oidc]]` list in the server's TOML config.
type Config struct {
	// Name is the provider's id in URLs and the audit log: lowercase
	// letters, digits and '-'.
	Name string `toml:"name"`
	// DisplayName is shown on the login page: "Sign in with <DisplayName>".
	DisplayName string `toml:"display_name"`
	// Issuer is the provider's issuer URL; discovery reads
	// <Issuer>/.well-known/openid-configuration.
	Issuer   string `toml:"issuer"`
	ClientID string `toml:"client_id"`
	// The client secret comes from a file or an environment variable,
	// never the config file itself. Neither: a public client (PKCE only).
	ClientSecretFile string `toml:"client_secret_file"`
	ClientSecretEnv  string `toml:"client_secret_env"`
	// Scopes asked for besides "openid" (default: email, profile).
	Scopes []string `toml:"scopes"`
	// AllowedDomains, when set, admit only verified emails of these domains.
	AllowedDomains []string `toml:"allowed_domains"`
	// AllowedGroups, when set, admit only members of one of these groups.
	AllowedGroups []string `toml:"allowed_groups"`
	// GroupsClaim names the claim listing the groups (default "groups"): in the
	// ID token, else at the userinfo endpoint.
	GroupsClaim string `toml:"groups_claim"`
	// AdminGroup, when set, makes members admins and others not, at every sign-in.
	AdminGroup string `toml:"admin_group"`
	// RequireVerifiedEmail refuses an ID token whose email_verified is not true
	// (always on with AllowedDomains).
	RequireVerifiedEmail bool `toml:"require_verified_email"`
	// UsernameClaim names the claim a new account's name is made from
	// (default "preferred_username", else the email's local part).
	UsernameClaim string `toml:"username_claim"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// Check reports the first thing wrong with c, naming the key.
func (c *Config) Check() error {
	switch {
	case !nameRE.MatchString(c.Name):
		return fmt.Errorf("name %q: 1-32 lowercase letters, digits and '-'", c.Name)
	case c.ClientID == "":
		return fmt.Errorf("provider %q: client_id is missing", c.Name)
	case c.ClientSecretFile != "" && c.ClientSecretEnv != "":
		return fmt.Errorf("provider %q: give client_secret_file or client_secret_env, not both", c.Name)
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("provider %q: issuer %q must be an https URL (http only on loopback) without query", c.Name, c.Issuer)
	}
	return nil
}

func isLoopbackHost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// Label is what the login page's button says after "Sign in with".
func (c *Config) Label() string {
	if c.DisplayName != "" {
		return c.DisplayName
	}
	return c.Name
}

// Errors of a sign-in. The web app shows each in words; the audit log
// records them.
var (
	// ErrUnavailable: the provider did not answer (down, slow, unreachable).
	ErrUnavailable = errors.New("the identity provider is not answering")
	// ErrRefused: the provider refused the exchange (a wrong client secret, a used code).
	ErrRefused = errors.New("the identity provider refused the sign-in")
	// ErrInvalidToken: the ID token failed verification or does not belong to this sign-in.
	ErrInvalidToken = errors.New("the ID token is not valid for this sign-in")
	// ErrNotAllowed: a valid sign-in the settings do not admit (domain, group, unverified email).
	ErrNotAllowed = errors.New("this account is not allowed to sign in here")
)

// defaultTimeout bounds each call to the provider (discovery, the check
// before a sign-in, the code exchange), so that a slow provider makes a
// clear page, not a hang.
const defaultTimeout = 10 * time.Second

// Provider signs people in at one OpenID provider. Safe for concurrent use.
type Provider struct {
	cfg     Config
	secret  string
	client  *http.Client
	now     func() time.Time
	timeout time.Duration

	mu       sync.Mutex
	provider *gooidc.Provider // nil until discovery succeeded
}

// Options are a Provider's collaborators; zero values are the defaults.
type Options struct {
	Getenv func(string) string // nil: os.Getenv
	Client *http.Client        // nil: a client with timeouts
	Now    func() time.Time    // nil: time.Now
	// Timeout bounds each call to the provider (0: 10 seconds).
	Timeout time.Duration
}

// New checks cfg, reads the client secret and runs discovery. A setting
// that cannot work (a bad issuer URL, a missing or empty secret, discovery
// answered with an error or another issuer) is an error; a provider that is
// merely unreachable now is not (ErrUnavailable is returned with the
// Provider, which retries discovery at sign-in).
func New(ctx context.Context, cfg Config, opt Options) (*Provider, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if opt.Getenv == nil {
		opt.Getenv = os.Getenv
	}
	if opt.Timeout <= 0 {
		opt.Timeout = defaultTimeout
	}
	if opt.Client == nil {
		opt.Client = &http.Client{Timeout: opt.Timeout}
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	secret, err := readSecret(cfg, opt.Getenv)
	if err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, secret: secret, client: opt.Client, now: opt.Now, timeout: opt.Timeout}
	if _, err := p.discover(ctx); err != nil {
		if errors.Is(err, ErrUnavailable) {
			return p, err
		}
		return nil, err
	}
	return p, nil
}

func readSecret(cfg Config, getenv func(string) string) (string, error) {
	switch {
	case cfg.ClientSecretFile != "":
		b, err := os.ReadFile(cfg.ClientSecretFile)
		if err != nil {
			return "", fmt.Errorf("provider %q: client_secret_file: %w", cfg.Name, err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("provider %q: client_secret_file %s is empty", cfg.Name, cfg.ClientSecretFile)
		}
		return s, nil
	case cfg.ClientSecretEnv != "":
		s := strings.TrimSpace(getenv(cfg.ClientSecretEnv))
		if s == "" {
			return "", fmt.Errorf("provider %q: client_secret_env: $%s is not set or empty", cfg.Name, cfg.ClientSecretEnv)
		}
		return s, nil
	}
	return "", nil
}

// Config returns the provider's settings.
func (p *Provider) Config() Config { return p.cfg }

// discover returns the discovered provider, running discovery when it has
// not succeeded yet.
func (p *Provider) discover(ctx context.Context) (*gooidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider != nil {
		return p.provider, nil
	}
	ctx, cancel := context.WithTimeout(gooidc.ClientContext(ctx, p.client), p.timeout)
	defer cancel()
	op, err := gooidc.NewProvider(ctx, p.cfg.Issuer)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("provider %q: discovery at %s: %w (%v)", p.cfg.Name, p.cfg.Issuer, ErrUnavailable, err)
		}
		return nil, fmt.Errorf("provider %q: discovery at %s failed: %w; check issuer", p.cfg.Name, p.cfg.Issuer, err)
	}
	p.provider = op
	return op, nil
}

// Flow is one sign-in between its two legs: the caller keeps it (the
// server's store) under State and hands it to Finish.
type Flow struct {
	State    string // the state parameter: also the browser's cookie
	Nonce    string
	Verifier string // PKCE code verifier
	Redirect string // the redirect_uri, sent again at the exchange
}

// Start begins a sign-in: the URL to send the browser to, and the flow to
// keep. The provider is asked first whether it answers, so that a provider
// that is down makes a page saying so rather than a browser error.
func (p *Provider) Start(ctx context.Context, redirectURL string) (string, Flow, error) {
	op, err := p.discover(ctx)
	if err != nil {
		return "", Flow{}, err
	}
	if err := p.probe(ctx); err != nil {
		return "", Flow{}, err
	}
	f := Flow{State: oauth2.GenerateVerifier(), Nonce: oauth2.GenerateVerifier(), Verifier: oauth2.GenerateVerifier(), Redirect: redirectURL}
	u := p.oauth(op, redirectURL).AuthCodeURL(f.State, gooidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
	return u, f, nil
}

// probe fetches the discovery document: the provider answers, and in time.
func (p *Provider) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(p.cfg.Issuer, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	res, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: discovery answered %s", ErrUnavailable, res.Status)
	}
	return nil
}

func (p *Provider) oauth(op *gooidc.Provider, redirectURL string) *oauth2.Config {
	scopes := []string{gooidc.ScopeOpenID}
	if len(p.cfg.Scopes) == 0 {
		scopes = append(scopes, "email", "profile")
	}
	for _, s := range p.cfg.Scopes {
		if s != gooidc.ScopeOpenID {
			scopes = append(scopes, s)
		}
	}
	return &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.secret, Endpoint: op.Endpoint(), RedirectURL: redirectURL, Scopes: scopes}
}

// Identity is who signed in, as the provider's ID token says.
type Identity struct {
	Issuer, Subject string
	Email           string
	Username        string   // wanted for a new account
	Groups          []string // from GroupsClaim, in the ID token or userinfo
	// Admin is whether AdminGroup is among Groups; nil without AdminGroup.
	Admin *bool
}

// claims are the ID token claims read here; the groups claim is read apart
// (its name is configured).
type claims struct {
	Email         string `json:"email"`
	EmailVerified *bool  `json:"email_verified"`
	PreferredName string `json:"preferred_username"`
}

// Finish completes the sign-in of f with the code the provider sent back:
// it exchanges the code (with the PKCE verifier), verifies the ID token
// and its nonce, and checks the settings' allowances.
func (p *Provider) Finish(ctx context.Context, f Flow, code string) (Identity, error) {
	op, err := p.discover(ctx)
	if err != nil {
		return Identity{}, err
	}
	ctx, cancel := context.WithTimeout(gooidc.ClientContext(ctx, p.client), p.timeout)
	defer cancel()
	tok, err := p.oauth(op, f.Redirect).Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return Identity{}, fmt.Errorf("%w: %s", ErrRefused, describeRetrieveError(re))
		}
		return Identity{}, fmt.Errorf("%w: token endpoint: %v", ErrUnavailable, err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Identity{}, fmt.Errorf("%w: the token response has no id_token", ErrInvalidToken)
	}
	idt, err := op.Verifier(&gooidc.Config{ClientID: p.cfg.ClientID, Now: p.now}).Verify(ctx, raw)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if idt.Nonce != f.Nonce {
		return Identity{}, fmt.Errorf("%w: the nonce is not this sign-in's (a replayed token)", ErrInvalidToken)
	}
	var c claims
	if err := idt.Claims(&c); err != nil {
		return Identity{}, fmt.Errorf("%w: claims: %v", ErrInvalidToken, err)
	}
	var all map[string]any
	if err := idt.Claims(&all); err != nil {
		return Identity{}, fmt.Errorf("%w: claims: %v", ErrInvalidToken, err)
	}
	groups, err := p.groupsOf(ctx, op, tok, idt.Subject, all)
	if err != nil {
		return Identity{}, err
	}
	id := Identity{Issuer: idt.Issuer, Subject: idt.Subject, Email: c.Email, Groups: groups}
	id.Username = c.PreferredName
	if p.cfg.UsernameClaim != "" {
		id.Username, _ = all[p.cfg.UsernameClaim].(string)
	}
	if id.Username == "" {
		id.Username = c.Email
	}
	if err := p.admit(id, c.EmailVerified != nil && *c.EmailVerified); err != nil {
		return id, err
	}
	if p.cfg.AdminGroup != "" {
		admin := slices.Contains(id.Groups, p.cfg.AdminGroup)
		id.Admin = &admin
	}
	return id, nil
}

// describeRetrieveError says what the token endpoint refused, without the
// body's secrets (only the standard error code and description).
func describeRetrieveError(re *oauth2.RetrieveError) string {
	if re.ErrorCode != "" {
		msg := re.ErrorCode
		if re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client" {
			msg += " (check client_id and the client secret)"
		}
		return msg
	}
	if re.Response != nil {
		return re.Response.Status
	}
	return "no answer"
}

func (p *Provider) groupsClaim() string {
	if p.cfg.GroupsClaim == "" {
		return "groups"
	}
	return p.cfg.GroupsClaim
}

// groupsOf reads the groups from the ID token's claims (all) or, when the
// ID token has no groups claim and the settings need groups, from the
// userinfo endpoint with the sign-in's access token: some providers (Okta's
// org server, Keycloak mappers without "Add to ID token") send groups there
// only. The userinfo answer must name the ID token's subject (OpenID Connect
// Core 5.3.2), or it is someone else's.
func (p *Provider) groupsOf(ctx context.Context, op *gooidc.Provider, tok *oauth2.Token, subject string, all map[string]any) ([]string, error) {
	if _, inToken := all[p.groupsClaim()]; inToken || (len(p.cfg.AllowedGroups) == 0 && p.cfg.AdminGroup == "") || op.UserInfoEndpoint() == "" {
		return p.groups(all), nil
	}
	info, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: userinfo endpoint: %v", ErrUnavailable, err)
		}
		// Not the error itself: go-oidc puts the answer's body in it.
		return nil, fmt.Errorf("%w: the userinfo endpoint refused the access token", ErrRefused)
	}
	if info.Subject != subject {
		return nil, fmt.Errorf("%w: the userinfo answer is about another subject", ErrInvalidToken)
	}
	var claims map[string]any
	if err := info.Claims(&claims); err != nil {
		return nil, fmt.Errorf("%w: userinfo claims: %v", ErrInvalidToken, err)
	}
	return p.groups(claims), nil
}

// groups reads the configured groups claim: a list of strings, or one string.
func (p *Provider) groups(all map[string]any) []string {
	switch v := all[p.groupsClaim()].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, g := range v {
			if s, ok := g.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// admit checks the settings' allowances: verified email, domains, groups.
func (p *Provider) admit(id Identity, verified bool) error {
	if (p.cfg.RequireVerifiedEmail || len(p.cfg.AllowedDomains) > 0) && (id.Email == "" || !verified) {
		return fmt.Errorf("%w: the email is not verified at the provider", ErrNotAllowed)
	}
	if len(p.cfg.AllowedDomains) > 0 {
		_, domain, _ := strings.Cut(id.Email, "@")
		if !slices.ContainsFunc(p.cfg.AllowedDomains, func(d string) bool { return strings.EqualFold(d, domain) }) {
			return fmt.Errorf("%w: the email's domain is not allowed", ErrNotAllowed)
		}
	}
	if len(p.cfg.AllowedGroups) > 0 && !slices.ContainsFunc(id.Groups, func(g string) bool { return slices.Contains(p.cfg.AllowedGroups, g) }) {
		return fmt.Errorf("%w: not a member of an allowed group", ErrNotAllowed)
	}
	return nil
}
