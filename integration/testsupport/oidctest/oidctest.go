// Package oidctest is a small but real OpenID provider for tests: discovery,
// a JWKS, an authorization endpoint with a login form (or a user the test
// signs in directly), and a token endpoint that checks the client secret,
// the redirect URI and the PKCE verifier before it issues an RS256-signed ID
// token and an access token for its userinfo endpoint. Its knobs make it misbehave the ways a relying party must refuse:
// tampered claims (another audience, an expired token, another sign-in's
// nonce) and a slow answer. The Go tests serve it in-process (Start); the
// browser end-to-end test runs it as integration/cmd/serval-testoidc.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// The one client the provider knows.
const (
	ClientID     = "serval-test"
	ClientSecret = "provider-client-secret-123"
)

// User is who the provider signs in: the claims of the ID token.
type User struct {
	Subject  string   `json:"subject"`
	Email    string   `json:"email"`
	Name     string   `json:"name"` // preferred_username
	Verified bool     `json:"verified"`
	Groups   []string `json:"groups"`
}

// Account is a user who signs in at the provider's login form.
type Account struct {
	Login    string `json:"login"`
	Password string `json:"password"`
	User
}

// Provider is the OpenID provider; it is an http.Handler.
type Provider struct {
	issuer string
	key    *rsa.PrivateKey
	signer jose.Signer
	mux    *http.ServeMux

	// Server is the in-process server when the provider was made by Start.
	Server *httptest.Server

	mu        sync.Mutex
	direct    *User              // signed in without the form
	accounts  map[string]Account // by login
	codes     map[string]authCode
	tamper    func(claims map[string]any) // changes the next ID tokens' claims
	delay     time.Duration               // before every answer
	lastNonce string                      // of the last ID token issued

	access         map[string]User             // access token → whose
	groupsElsewise bool                        // groups at userinfo only, not in ID tokens
	infoTamper     func(claims map[string]any) // changes userinfo answers
}

type authCode struct {
	redirect, challenge, nonce string
	user                       User
}

// New makes a provider that will be served at issuer (its base URL).
func New(issuer string) (*Provider, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		return nil, err
	}
	p := &Provider{issuer: issuer, key: key, signer: signer, mux: http.NewServeMux(), accounts: map[string]Account{}, codes: map[string]authCode{}, access: map[string]User{}}
	p.mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	p.mux.HandleFunc("GET /keys", p.keys)
	p.mux.HandleFunc("GET /authorize", p.authorize)
	p.mux.HandleFunc("POST /authorize", p.login)
	p.mux.HandleFunc("POST /token", p.token)
	p.mux.HandleFunc("GET /userinfo", p.userinfo)
	return p, nil
}

// Start serves a new provider on a free loopback port until the test ends.
func Start(t testing.TB) *Provider {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	p, err := New("http://" + srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = p
	srv.Start()
	p.Server = srv
	t.Cleanup(srv.Close)
	return p
}

// Issuer is the provider's base URL.
func (p *Provider) Issuer() string { return p.issuer }

// SignIn makes the authorization endpoint sign u in at once, without the
// login form (a browser already signed in at the provider).
func (p *Provider) SignIn(u User) {
	p.mu.Lock()
	p.direct = &u
	p.mu.Unlock()
}

// AddAccount lets a login and password sign in at the form as a.User.
func (p *Provider) AddAccount(a Account) {
	p.mu.Lock()
	p.accounts[a.Login] = a
	p.mu.Unlock()
}

// SetTamper changes the claims of the ID tokens issued from now on; nil stops.
func (p *Provider) SetTamper(fn func(claims map[string]any)) {
	p.mu.Lock()
	p.tamper = fn
	p.mu.Unlock()
}

// SetDelay holds every answer for d.
func (p *Provider) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// SetGroupsAtUserinfoOnly leaves the groups claim out of ID tokens; the
// userinfo endpoint still has it (as Okta's org server and some Keycloak
// mappers do).
func (p *Provider) SetGroupsAtUserinfoOnly(on bool) {
	p.mu.Lock()
	p.groupsElsewise = on
	p.mu.Unlock()
}

// SetUserinfoTamper changes the userinfo answers from now on; nil stops.
func (p *Provider) SetUserinfoTamper(fn func(claims map[string]any)) {
	p.mu.Lock()
	p.infoTamper = fn
	p.mu.Unlock()
}

// LastNonce is the nonce of the last ID token issued: a replay's nonce.
func (p *Provider) LastNonce() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastNonce
}

func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	d := p.delay
	p.mu.Unlock()
	if d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	p.mux.ServeHTTP(w, r)
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.issuer,
		"authorization_endpoint":                p.issuer + "/authorize",
		"token_endpoint":                        p.issuer + "/token",
		"jwks_uri":                              p.issuer + "/keys",
		"userinfo_endpoint":                     p.issuer + "/userinfo",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
	})
}

func (p *Provider) keys(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
}

// authRequest is an authorization request's parameters, carried through the
// login form in hidden fields.
var authParams = []string{"client_id", "response_type", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method"}

// checkAuthRequest refuses a request a real provider would: another
// client, no PKCE (S256), no state or nonce, no openid scope.
func checkAuthRequest(v url.Values) error {
	switch {
	case v.Get("client_id") != ClientID:
		return fmt.Errorf("unknown client_id %q", v.Get("client_id"))
	case v.Get("response_type") != "code":
		return fmt.Errorf("response_type must be code")
	case v.Get("code_challenge_method") != "S256" || v.Get("code_challenge") == "":
		return fmt.Errorf("PKCE with S256 is required")
	case v.Get("state") == "" || v.Get("nonce") == "":
		return fmt.Errorf("state and nonce are required")
	}
	if u, err := url.Parse(v.Get("redirect_uri")); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("bad redirect_uri")
	}
	return nil
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Test IdP: sign in</title><link rel="icon" href="data:,"></head>
<body><h1>Test IdP</h1>{{if .Error}}<p id="error">{{.Error}}</p>{{end}}
<form method="post" action="/authorize">
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<label>Username <input name="login" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form></body></html>`))

// authorize serves GET /authorize: the login form, or at once a code for
// the user the test signed in.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkAuthRequest(q); err != nil {
		http.Error(w, "bad authorization request: "+err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	direct := p.direct
	p.mu.Unlock()
	if direct != nil {
		p.redirectWithCode(w, r, q, *direct)
		return
	}
	p.showLogin(w, http.StatusOK, q, "")
}

func (p *Provider) showLogin(w http.ResponseWriter, status int, q url.Values, msg string) {
	hidden := map[string]string{}
	for _, k := range authParams {
		hidden[k] = q.Get(k)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	loginPage.Execute(w, struct {
		Hidden map[string]string
		Error  string
	}{hidden, msg})
}

// login serves POST /authorize: the login form's answer.
func (p *Provider) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	q := url.Values{}
	for _, k := range authParams {
		q.Set(k, r.PostForm.Get(k))
	}
	if err := checkAuthRequest(q); err != nil {
		http.Error(w, "bad authorization request: "+err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	a, found := p.accounts[r.PostForm.Get("login")]
	p.mu.Unlock()
	if !found || subtle.ConstantTimeCompare([]byte(a.Password), []byte(r.PostForm.Get("password"))) != 1 {
		p.showLogin(w, http.StatusUnauthorized, q, "Wrong username or password.")
		return
	}
	p.redirectWithCode(w, r, q, a.User)
}

func (p *Provider) redirectWithCode(w http.ResponseWriter, r *http.Request, q url.Values, u User) {
	code := rand.Text()
	p.mu.Lock()
	p.codes[code] = authCode{redirect: q.Get("redirect_uri"), challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), user: u}
	p.mu.Unlock()
	back, _ := url.Parse(q.Get("redirect_uri"))
	back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// token serves POST /token: the code exchange.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	oauthErr := func(status int, code string) { writeJSON(w, status, map[string]string{"error": code}) }
	if id != ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(ClientSecret)) != 1 {
		oauthErr(http.StatusUnauthorized, "invalid_client")
		return
	}
	p.mu.Lock()
	c, found := p.codes[r.PostFormValue("code")]
	delete(p.codes, r.PostFormValue("code")) // codes are single use
	tamper, groupsElsewise := p.tamper, p.groupsElsewise
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	if !found || r.PostFormValue("grant_type") != "authorization_code" || r.PostFormValue("redirect_uri") != c.redirect ||
		base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
		oauthErr(http.StatusBadRequest, "invalid_grant")
		return
	}
	now := time.Now()
	claims := map[string]any{
		"iss": p.issuer, "sub": c.user.Subject, "aud": ClientID, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"nonce": c.nonce, "email": c.user.Email, "email_verified": c.user.Verified, "preferred_username": c.user.Name, "groups": c.user.Groups,
	}
	if groupsElsewise {
		delete(claims, "groups")
	}
	if tamper != nil {
		tamper(claims)
	}
	payload, _ := json.Marshal(claims)
	jws, err := p.signer.Sign(payload)
	if err != nil {
		oauthErr(http.StatusInternalServerError, "server_error")
		return
	}
	idToken, _ := jws.CompactSerialize()
	access := rand.Text()
	p.mu.Lock()
	p.lastNonce = c.nonce
	p.access[access] = c.user
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": idToken})
}

// userinfo serves GET /userinfo for an access token the provider issued.
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	access, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	u, known := p.access[access]
	tamper := p.infoTamper
	p.mu.Unlock()
	if !ok || !known {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	claims := map[string]any{"sub": u.Subject, "email": u.Email, "email_verified": u.Verified, "preferred_username": u.Name, "groups": u.Groups}
	if tamper != nil {
		tamper(claims)
	}
	writeJSON(w, http.StatusOK, claims)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
