package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Editor sign-in (Serval's addition): the OAuth 2.0 device authorization
// grant of RFC 8628, served by `serval serve` at /oauth/device/code and
// /oauth/token. See docs/web.md.

// Device sign-in constants.
const (
	// GrantTypeDeviceCode is RFC 8628's grant_type for polling.
	GrantTypeDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
	// AgentClientID is the client_id serval-agent signs in with.
	AgentClientID = "serval-agent"
	// DeviceCodePath and TokenPath are the two endpoints.
	DeviceCodePath = "/oauth/device/code"
	TokenPath      = "/oauth/token"
	// RevokePath ends a sign-in or a token (RFC 7009).
	RevokePath = "/oauth/revoke"
	// HintDeviceCode is the token_type_hint that names a device code at
	// RevokePath: the editor cancelled that sign-in.
	HintDeviceCode = "device_code"
)

// DeviceCodeResponse is the answer of POST /oauth/device/code (RFC 8628 §3.2).
type DeviceCodeResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"` // seconds
	Interval                int    `json:"interval"`   // seconds between polls
}

// TokenResponse is the successful answer of POST /oauth/token (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"` // "Bearer"
	// TokenName is the new token's name on the user's token page (Serval's addition).
	TokenName string `json:"token_name,omitempty"`
	// User is the account that approved (Serval's addition).
	User string `json:"user,omitempty"`
}

// OAuthError is an OAuth error answer (RFC 6749 §5.2, RFC 8628 §3.5).
type OAuthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (e *OAuthError) Error() string {
	if e.Description == "" {
		return "sign-in: " + e.Code
	}
	return "sign-in: " + e.Code + ": " + e.Description
}

// RFC 8628 §3.5's polling errors.
const (
	OAuthPending      = "authorization_pending"
	OAuthSlowDown     = "slow_down"
	OAuthAccessDenied = "access_denied"
	OAuthExpired      = "expired_token"
)

// StartDeviceAuth asks the server for a device code for clientID on the
// device called deviceName.
func (c *Client) StartDeviceAuth(ctx context.Context, clientID, deviceName string) (*DeviceCodeResponse, error) {
	form := url.Values{"client_id": {clientID}}
	if deviceName != "" {
		form.Set("device_name", deviceName)
	}
	var out DeviceCodeResponse
	if err := c.postForm(ctx, DeviceCodePath, form, &out); err != nil {
		return nil, err
	}
	if out.DeviceCode == "" || out.UserCode == "" || out.VerificationURI == "" {
		return nil, fmt.Errorf("api: %s: the answer lacks device_code, user_code or verification_uri", DeviceCodePath)
	}
	return &out, nil
}

// PollDeviceToken asks once whether the user approved deviceCode. Until
// then it returns an *OAuthError with Code OAuthPending or OAuthSlowDown;
// OAuthAccessDenied and OAuthExpired end the sign-in.
func (c *Client) PollDeviceToken(ctx context.Context, clientID, deviceCode string) (*TokenResponse, error) {
	form := url.Values{"grant_type": {GrantTypeDeviceCode}, "device_code": {deviceCode}, "client_id": {clientID}}
	var out TokenResponse
	if err := c.postForm(ctx, TokenPath, form, &out); err != nil {
		return nil, err
	}
	if out.AccessToken == "" {
		return nil, fmt.Errorf("api: %s: the answer has no access_token", TokenPath)
	}
	return &out, nil
}

// CancelDeviceAuth tells the server that clientID stopped waiting for the
// sign-in of deviceCode: no token is issued for it, and the browser page
// says the editor cancelled it.
func (c *Client) CancelDeviceAuth(ctx context.Context, clientID, deviceCode string) error {
	form := url.Values{"token": {deviceCode}, "token_type_hint": {HintDeviceCode}, "client_id": {clientID}}
	return c.postForm(ctx, RevokePath, form, &struct{}{})
}

// RevokeToken revokes the token itself (signing out): it stops working
// on the server. A token the server no longer knows is no error.
func (c *Client) RevokeToken(ctx context.Context, clientID, token string) error {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}, "client_id": {clientID}}
	return c.postForm(ctx, RevokePath, form, &struct{}{})
}

// postForm posts an OAuth form (no Authorization header: the device is not
// signed in yet) and decodes a JSON answer; an OAuth error answer becomes an
// *OAuthError, any other failure a *StatusError.
func (c *Client) postForm(ctx context.Context, path string, form url.Values, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.String()+path, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	for k, vs := range c.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("api: POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("api: POST %s: %w", path, err)
	}
	if resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("api: POST %s: decode answer: %w", path, err)
		}
		return nil
	}
	var oe OAuthError
	if (resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized) &&
		json.Unmarshal(body, &oe) == nil && oe.Code != "" {
		return &oe
	}
	return statusErrorOf(resp, body)
}

// OAuthCode returns the OAuth error code of an *OAuthError in err's chain, or "".
func OAuthCode(err error) string {
	var oe *OAuthError
	if errors.As(err, &oe) {
		return oe.Code
	}
	return ""
}
