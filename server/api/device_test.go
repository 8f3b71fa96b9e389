package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestDeviceSignInClient(t *testing.T) {
	var polls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.Header.Get("Authorization") != "" || form.Get("client_id") != AgentClientID {
			t.Errorf("request %s %v %v", r.URL.Path, r.Header, form)
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case DeviceCodePath:
			io.WriteString(w, `{"device_code":"dc","user_code":"BCDF-GHJK","verification_uri":"http://x/device","verification_uri_complete":"http://x/device?user_code=BCDF-GHJK","expires_in":600,"interval":5}`)
		case TokenPath:
			polls++
			switch polls {
			case 1:
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"error":"slow_down","error_description":"wait"}`)
			case 2:
				w.WriteHeader(http.StatusInternalServerError)
				io.WriteString(w, `{"error":"boom"}`)
			default:
				io.WriteString(w, `{"access_token":"srv_x","token_type":"Bearer","token_name":"box"}`)
			}
		}
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, "old-token", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := c.StartDeviceAuth(ctx, AgentClientID, "box")
	if err != nil || d.UserCode != "BCDF-GHJK" || d.Interval != 5 || d.ExpiresIn != 600 {
		t.Fatalf("StartDeviceAuth: %+v, %v", d, err)
	}
	_, err = c.PollDeviceToken(ctx, AgentClientID, d.DeviceCode)
	if OAuthCode(err) != OAuthSlowDown {
		t.Fatalf("first poll: %v", err)
	}
	_, err = c.PollDeviceToken(ctx, AgentClientID, d.DeviceCode)
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 500 || se.Message != "boom" || OAuthCode(err) != "" {
		t.Fatalf("second poll: %v", err)
	}
	tok, err := c.PollDeviceToken(ctx, AgentClientID, d.DeviceCode)
	if err != nil || tok.AccessToken != "srv_x" || tok.TokenName != "box" {
		t.Fatalf("third poll: %+v, %v", tok, err)
	}
}
