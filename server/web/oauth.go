package web

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/servalhq/serval/server/api"
	"github.com/servalhq/serval/server/internal/httpx"
	"github.com/servalhq/serval/server/store"
)

// The OAuth side of editor sign-in (RFC 8628): the agent asks for a device
// code at POST /oauth/device/code, shows the user code, and polls POST
// /oauth/token until the user approved it on the /device page (device.go).
// The editor ends what it started at POST /oauth/revoke (RFC 7009): a
// sign-in it cancelled (the device code) or, on sign-out, its token.
// No route needs a token or a session: the code or token sent is the secret.

var (
	deviceCodeForm = map[string]int{"client_id": maxNameField, "device_name": maxNameField}
	tokenGrantForm = map[string]int{"grant_type": maxCodeField, "device_code": maxCodeField, "client_id": maxNameField}
	revokeForm     = map[string]int{"token": maxCodeField, "token_type_hint": maxNameField, "client_id": maxNameField}
)

// deviceClients are the client_ids that may sign in: public clients
// (nothing to authenticate them with), named so that a mistyped id is
// refused instead of making codes nobody polls for.
var deviceClients = map[string]bool{api.AgentClientID: true}

// writeOAuth writes an OAuth JSON answer; tokens and codes are never cached.
func writeOAuth(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	httpx.WriteJSON(w, status, v)
}

// oauthError writes RFC 6749 §5.2's error answer: 400, or 401 for a client
// that is not known.
func oauthError(w http.ResponseWriter, code, description string) {
	status := http.StatusBadRequest
	if code == "invalid_client" {
		status = http.StatusUnauthorized
	}
	writeOAuth(w, status, api.OAuthError{Code: code, Description: description})
}

// decodeOAuthForm reads an OAuth form; a refused one has been answered
// with invalid_request.
func decodeOAuthForm(w http.ResponseWriter, r *http.Request, spec map[string]int) (map[string]string, bool) {
	if r.Header.Get("Content-Type") == "" {
		oauthError(w, "invalid_request", "send the fields as application/x-www-form-urlencoded")
		return nil, false
	}
	f, ferr := decodeForm(w, r, spec)
	if ferr != nil {
		oauthError(w, "invalid_request", ferr.msg)
		return nil, false
	}
	return f, true
}

// handleDeviceCode serves POST /oauth/device/code (client_id, device_name).
func (s *Server) handleDeviceCode(w http.ResponseWriter, r *http.Request) {
	f, ok := decodeOAuthForm(w, r, deviceCodeForm)
	if !ok {
		return
	}
	if !deviceClients[f["client_id"]] {
		oauthError(w, "invalid_client", "unknown client_id; serval-agent signs in as "+api.AgentClientID)
		return
	}
	device := strings.TrimSpace(f["device_name"])
	if device == "" {
		device = "editor"
	}
	// Each address pays for its codes first (throttle.go), so that one
	// client cannot take every live code the store allows.
	if wait := s.codeThrottle.chargeAddr(r.Context(), s.clientAddr(r)); wait > 0 {
		secs := retrySeconds(wait)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeOAuth(w, http.StatusTooManyRequests, api.OAuthError{Code: api.OAuthSlowDown,
			Description: fmt.Sprintf("too many editor sign-ins started from this address; try again in %d seconds", secs)})
		return
	}
	d, err := s.store.CreateDeviceAuth(r.Context(), f["client_id"], device)
	if errors.Is(err, store.ErrTooManyDeviceCodes) {
		w.Header().Set("Retry-After", "60")
		writeOAuth(w, http.StatusServiceUnavailable, api.OAuthError{Code: "temporarily_unavailable", Description: err.Error()})
		return
	}
	if err != nil {
		s.log.Error("device code", "err", err)
		writeOAuth(w, http.StatusInternalServerError, api.OAuthError{Code: "server_error", Description: "the server could not store the code; its log says why"})
		return
	}
	user := formatUserCode(d.UserCode)
	verify := s.baseURL(r) + "/device"
	writeOAuth(w, http.StatusOK, api.DeviceCodeResponse{
		DeviceCode:              d.DeviceCode,
		UserCode:                user,
		VerificationURI:         verify,
		VerificationURIComplete: verify + "?user_code=" + user,
		ExpiresIn:               int(store.DeviceCodeTTL.Seconds()),
		Interval:                int(d.Interval.Seconds()),
	})
}

// handleToken serves POST /oauth/token for the device grant (grant_type,
// device_code, client_id).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	f, ok := decodeOAuthForm(w, r, tokenGrantForm)
	if !ok {
		return
	}
	switch {
	case f["grant_type"] != api.GrantTypeDeviceCode:
		oauthError(w, "unsupported_grant_type", "only "+api.GrantTypeDeviceCode+" is served")
		return
	case !deviceClients[f["client_id"]]:
		oauthError(w, "invalid_client", "unknown client_id")
		return
	case f["device_code"] == "":
		oauthError(w, "invalid_request", "device_code is missing")
		return
	}
	p, err := s.store.PollDeviceAuth(r.Context(), f["device_code"], f["client_id"], s.cfg.MaxTokensPerUser)
	if errors.Is(err, store.ErrTooManyTokens) {
		oauthError(w, "invalid_grant", "the account holds the most tokens this server allows ("+
			strconv.Itoa(cmp.Or(s.cfg.MaxTokensPerUser, store.DefaultMaxUserTokens))+"): revoke one on the web app's Tokens page, then sign in again")
		return
	}
	if err != nil {
		s.log.Error("device token", "err", err)
		writeOAuth(w, http.StatusInternalServerError, api.OAuthError{Code: "server_error", Description: "the server could not read the code; its log says why"})
		return
	}
	switch p.Outcome {
	case "":
		s.log.Info("editor signed in", "user", p.User, "token", p.TokenName)
		s.auditSignIn(r, p.User, "device code", true, "")
		action := store.AuditTokenCreate
		if p.Replaced { // the device's token from an earlier sign-in, with a new secret
			action = store.AuditTokenRotate
		}
		s.audit(r, p.User, action, p.TokenName, "", "editor sign-in (device code)")
		writeOAuth(w, http.StatusOK, api.TokenResponse{AccessToken: p.Token, TokenType: "Bearer", TokenName: p.TokenName, User: p.User})
	case store.PollPending:
		oauthError(w, api.OAuthPending, "the user has not approved the code yet")
	case store.PollSlowDown:
		oauthError(w, api.OAuthSlowDown, "polling faster than the interval; wait "+p.Interval.String()+" between polls")
	case store.PollAccessDenied:
		oauthError(w, api.OAuthAccessDenied, "the user denied the sign-in")
	case store.PollExpired:
		oauthError(w, api.OAuthExpired, "the code expired; start the sign-in again")
	default:
		oauthError(w, "invalid_grant", "unknown, used or another client's device_code")
	}
}

// handleRevoke serves POST /oauth/revoke (RFC 7009: token, token_type_hint,
// client_id). token_type_hint api.HintDeviceCode cancels a sign-in the
// editor stopped waiting for; otherwise the token is an account's token,
// deleted (signing out). As §2.2 says, a token the server does not know is
// answered 200 like a revoked one: it no longer works either way. A server
// token is refused: an editor does not revoke an admin's token.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	f, ok := decodeOAuthForm(w, r, revokeForm)
	if !ok {
		return
	}
	switch {
	case !deviceClients[f["client_id"]]:
		oauthError(w, "invalid_client", "unknown client_id")
		return
	case f["token"] == "":
		oauthError(w, "invalid_request", "token is missing")
		return
	}
	if f["token_type_hint"] == api.HintDeviceCode {
		err := s.store.CancelDeviceAuth(r.Context(), f["token"], f["client_id"])
		if err != nil && !errors.Is(err, store.ErrCodeInvalid) {
			s.log.Error("cancel device code", "err", err)
			writeOAuth(w, http.StatusServiceUnavailable, api.OAuthError{Code: "temporarily_unavailable", Description: "the server could not cancel the code; its log says why"})
			return
		}
		if err == nil {
			s.log.Info("editor sign-in cancelled by the editor")
		}
		writeOAuth(w, http.StatusOK, struct{}{})
		return
	}
	t, err := s.store.RevokeOwnToken(r.Context(), f["token"])
	switch {
	case errors.Is(err, store.ErrServerToken):
		oauthError(w, "unsupported_token_type", "a server token is revoked with `serval token revoke`, not by an editor")
		return
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		s.log.Error("revoke token", "err", err)
		writeOAuth(w, http.StatusServiceUnavailable, api.OAuthError{Code: "temporarily_unavailable", Description: "the server could not revoke the token; its log says why"})
		return
	default:
		s.log.Info("editor signed out", "user", t.Owner, "token", t.Name)
		s.audit(r, t.Owner, store.AuditTokenRevoke, t.Name, "", "editor sign-out")
	}
	writeOAuth(w, http.StatusOK, struct{}{})
}
