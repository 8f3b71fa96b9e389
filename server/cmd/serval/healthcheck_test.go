package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	if out, _, err := runCmd(t, t.TempDir(), "healthcheck", "--url", srv.URL+"/healthz"); err != nil || out != "ok\n" {
		t.Fatalf("healthy: %q %v", out, err)
	}
	status = http.StatusServiceUnavailable
	if _, _, err := runCmd(t, t.TempDir(), "healthcheck", "--url", srv.URL+"/healthz"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("unhealthy: %v", err)
	}
	srv.Close()
	if _, _, err := runCmd(t, t.TempDir(), "healthcheck", "--url", srv.URL+"/healthz"); err == nil {
		t.Fatal("unreachable: no error")
	}
}
