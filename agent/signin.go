package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/servalhq/serval/server/api"
)

// Editor sign-in without copying a token: the agent runs the OAuth device
// authorization grant (RFC 8628) against the configured server. The editor
// shows the user code and opens the verification page; once the user
// approved, the agent hands the new token to the editor, which keeps it in
// its secret storage and passes it back as server.token (initializationOptions
// or workspace/didChangeConfiguration), the one way tokens reach the agent.

// SignInPrompt is what the editor shows while the user approves.
type SignInPrompt struct {
	UserCode                string `json:"userCode"`
	VerificationURI         string `json:"verificationUri"`
	VerificationURIComplete string `json:"verificationUriComplete"`
	ExpiresIn               int    `json:"expiresIn"` // seconds
}

// SignInResult is a finished sign-in.
type SignInResult struct {
	Token     string `json:"token"`
	TokenName string `json:"tokenName"` // as the user sees it on the server's token page
	User      string `json:"user"`
	Endpoint  string `json:"endpoint"` // the server the token belongs to
}

// signInSlowDownStep is what a slow_down adds to the interval (RFC 8628 §3.5).
const signInSlowDownStep = 5 * time.Second

// signInCancelTimeout bounds telling the server about a cancelled sign-in
// or a sign-out: the editor is waiting.
const signInCancelTimeout = 5 * time.Second

// ErrSignInDenied and ErrSignInExpired end a sign-in the user did not finish.
var (
	ErrSignInDenied  = errors.New("sign-in denied in the browser")
	ErrSignInExpired = errors.New("the sign-in code expired before it was approved; sign in again")
)

// SignIn asks the configured server for a device code, calls prompt with
// the code to show, and polls at the server's interval until the user
// approves or denies it, the code expires, or ctx ends. A sign-in started
// while another runs replaces it. One that ends with ctx (cancelled in the
// editor, or replaced) is cancelled on the server too.
func (a *Agent) SignIn(ctx context.Context, deviceName string, prompt func(SignInPrompt)) (_ SignInResult, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.signInMu.Lock()
	if a.cancelSignIn != nil {
		a.cancelSignIn()
	}
	a.cancelSignIn = cancel
	a.signInMu.Unlock()

	c := a.client.Load()
	d, err := c.StartDeviceAuth(ctx, api.AgentClientID, deviceName)
	if err != nil {
		if api.StatusCode(err) == 404 || api.StatusCode(err) == 405 {
			return SignInResult{}, fmt.Errorf("the server at %s does not offer editor sign-in (a Tabby server, or a serval before it): set a token instead: %w", c.BaseURL(), err)
		}
		return SignInResult{}, fmt.Errorf("start sign-in at %s: %w", c.BaseURL(), err)
	}
	a.log.Info("sign-in started", "endpoint", c.BaseURL(), "expires in", d.ExpiresIn)
	// Cancelled in the editor, or replaced by a newer sign-in: tell the
	// server, so that the browser page says so and no token is issued.
	defer func() {
		if err == nil || ctx.Err() == nil {
			return
		}
		cctx, done := context.WithTimeout(context.WithoutCancel(ctx), signInCancelTimeout)
		defer done()
		if cerr := c.CancelDeviceAuth(cctx, api.AgentClientID, d.DeviceCode); cerr != nil {
			a.log.Warn("could not cancel the sign-in on the server", "err", cerr)
		}
	}()
	prompt(SignInPrompt{UserCode: d.UserCode, VerificationURI: d.VerificationURI, VerificationURIComplete: d.VerificationURIComplete, ExpiresIn: d.ExpiresIn})

	interval := time.Duration(max(d.Interval, 1)) * time.Second
	expires := time.NewTimer(time.Duration(max(d.ExpiresIn, 1)) * time.Second)
	defer expires.Stop()
	wait := time.NewTimer(interval)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return SignInResult{}, ctx.Err()
		case <-expires.C:
			return SignInResult{}, ErrSignInExpired
		case <-wait.C:
		}
		tok, err := c.PollDeviceToken(ctx, api.AgentClientID, d.DeviceCode)
		switch code := api.OAuthCode(err); {
		case err == nil:
			a.log.Info("signed in", "endpoint", c.BaseURL(), "user", tok.User, "token name", tok.TokenName)
			return SignInResult{Token: tok.AccessToken, TokenName: tok.TokenName, User: tok.User, Endpoint: c.BaseURL()}, nil
		case code == api.OAuthPending:
		case code == api.OAuthSlowDown:
			interval += signInSlowDownStep
		case code == api.OAuthAccessDenied:
			return SignInResult{}, ErrSignInDenied
		case code == api.OAuthExpired:
			return SignInResult{}, ErrSignInExpired
		case ctx.Err() != nil:
			return SignInResult{}, ctx.Err()
		case code != "":
			return SignInResult{}, fmt.Errorf("sign-in at %s: %w", c.BaseURL(), err)
		default:
			// The server or the network failed this poll: the code is still
			// good until it expires, so try again at the next interval.
			a.log.Warn("sign-in poll failed; trying again", "err", err)
		}
		wait.Reset(interval)
	}
}

// SignOut revokes the token the agent uses on the server (the editor
// forgets it next), so that a signed-out device's token stops working.
// revoked is false when there was no token; a server token (an admin's,
// not an account's) is refused by the server and left alone.
func (a *Agent) SignOut(ctx context.Context) (revoked bool, err error) {
	token := a.Config().Server.Token
	if token == "" {
		return false, nil
	}
	c := a.client.Load()
	ctx, cancel := context.WithTimeout(ctx, signInCancelTimeout)
	defer cancel()
	if err := c.RevokeToken(ctx, api.AgentClientID, token); err != nil {
		return false, fmt.Errorf("revoke the token at %s: %w", c.BaseURL(), err)
	}
	a.log.Info("signed out: the token is revoked", "endpoint", c.BaseURL())
	return true, nil
}
