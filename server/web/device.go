package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/servalhq/serval/server/store"
)

// The browser side of editor sign-in: GET /device shows a form for the
// code the editor displays (or, with ?user_code=, the sign-in it names),
// POST /device approves or denies it. Wrong codes are throttled per account
// and per client address like failed logins.

var (
	deviceQuery = map[string]int{"user_code": maxShortField * 2}
	deviceForm  = map[string]int{"user_code": maxShortField * 2, "action": maxShortField}
)

// deviceData is the /device page.
type deviceData struct {
	UserCode string // formatted XXXX-XXXX; empty: ask for it
	Device   string
	Client   string
}

// normalizeUserCode reads what a user typed: any case, with or without
// the dash, with spaces; ok is false unless it is UserCodeLen characters
// of the code alphabet.
func normalizeUserCode(in string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToUpper(in) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		case r > 0x7f || !strings.ContainsRune(store.UserCodeAlphabet, r):
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != store.UserCodeLen {
		return "", false
	}
	return b.String(), true
}

// formatUserCode shows a canonical code as XXXX-XXXX.
func formatUserCode(code string) string {
	if len(code) != store.UserCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// handleDevicePage serves GET /device[?user_code=].
func (s *Server) handleDevicePage(w http.ResponseWriter, r *http.Request, req *request) {
	f, ferr := decodeForm(w, r, deviceQuery)
	if ferr != nil {
		s.renderDevice(w, r, req, ferr.status, ferr.msg, deviceData{})
		return
	}
	if f["user_code"] == "" {
		s.renderDevice(w, r, req, http.StatusOK, "", deviceData{})
		return
	}
	code, d, ok := s.lookUpUserCode(w, r, req, f["user_code"])
	if !ok {
		return
	}
	s.renderDevice(w, r, req, http.StatusOK, "", deviceData{UserCode: formatUserCode(code), Device: d.DeviceName, Client: d.ClientID})
}

// handleDevice serves POST /device (user_code, action=approve|deny).
func (s *Server) handleDevice(w http.ResponseWriter, r *http.Request, req *request) {
	f, ferr := decodeForm(w, r, deviceForm)
	if ferr != nil {
		s.renderDevice(w, r, req, ferr.status, ferr.msg, deviceData{})
		return
	}
	approve := f["action"] == "approve"
	if !approve && f["action"] != "deny" {
		s.renderDevice(w, r, req, http.StatusBadRequest, "Choose Approve or Deny.", deviceData{})
		return
	}
	code, d, ok := s.lookUpUserCode(w, r, req, f["user_code"])
	if !ok {
		return
	}
	err := s.store.DecideDeviceAuth(r.Context(), code, req.user.ID, approve)
	if errors.Is(err, store.ErrDeviceCancelled) { // cancelled in the editor while the page was open
		s.renderDevice(w, r, req, http.StatusGone, cancelledInEditor, deviceData{})
		return
	}
	if errors.Is(err, store.ErrCodeInvalid) { // decided or expired since the lookup
		s.renderDevice(w, r, req, http.StatusGone, "This code is no longer waiting: start the sign-in again in your editor.", deviceData{})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	action := store.AuditDeviceDeny
	if approve {
		action = store.AuditDeviceApprove
	}
	s.audit(r, req.user.Name, action, d.DeviceName, "", "client "+d.ClientID)
	if approve {
		s.message(w, r, http.StatusOK, req, "Editor signed in",
			"“"+d.DeviceName+"” is signed in as "+req.user.Name+": it gets its own token (listed on your tokens page, where you can revoke it). You can close this page.")
		return
	}
	s.message(w, r, http.StatusOK, req, "Sign-in denied", "“"+d.DeviceName+"” was not signed in. You can close this page.")
}

// cancelledInEditor is the page's answer for a sign-in the editor cancelled.
const cancelledInEditor = "This sign-in was cancelled in the editor: nothing was signed in. Start it again there if you still want to."

// lookUpUserCode finds the pending sign-in of a typed code. A wrong code
// counts against the account's and the address's budgets; ok false has
// answered (the form again with the reason, or 429).
func (s *Server) lookUpUserCode(w http.ResponseWriter, r *http.Request, req *request, typed string) (string, store.DeviceAuth, bool) {
	account, addr := "device:"+req.user.Name, s.clientAddr(r)
	if wait := s.deviceThrottle.charge(r.Context(), account, addr); wait > 0 {
		secs := retrySeconds(wait)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.renderDevice(w, r, req, http.StatusTooManyRequests, errorf("Too many wrong codes: try again in %d seconds.", secs), deviceData{})
		return "", store.DeviceAuth{}, false
	}
	code, ok := normalizeUserCode(typed)
	var d store.DeviceAuth
	err := store.ErrCodeInvalid
	if ok {
		d, err = s.store.PendingDeviceAuth(r.Context(), code)
	}
	if errors.Is(err, store.ErrCodeInvalid) {
		s.renderDevice(w, r, req, http.StatusNotFound, "No sign-in is waiting for this code: check it against your editor (codes expire after 10 minutes).", deviceData{})
		return "", store.DeviceAuth{}, false
	}
	s.deviceThrottle.refund(r.Context(), account, addr, false) // not a wrong code
	if errors.Is(err, store.ErrDeviceCancelled) {
		s.renderDevice(w, r, req, http.StatusGone, cancelledInEditor, deviceData{})
		return "", store.DeviceAuth{}, false
	}
	if err != nil {
		s.fail(w, r, err)
		return "", store.DeviceAuth{}, false
	}
	return code, d, true
}

func (s *Server) renderDevice(w http.ResponseWriter, r *http.Request, req *request, status int, errMsg string, d deviceData) {
	s.render(w, r, status, "device", req, page{Title: "Sign in an editor", Error: errMsg, Data: d})
}
