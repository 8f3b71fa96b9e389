package server_test

import (
	"net"
	"strings"
	"testing"

	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// An upstream URL's password is never shown: not in the startup output,
// not in /v1/health, not in the 503 a request gets while it is down.
func TestUpstreamPasswordNeverShown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there: the upstream is down
	const password = "S3CRETPASS"
	s := servaltest.Start(t, servaltest.Options{Model: "openai:http://user:" + password + "@" + addr + "/v1#m"})
	status, _, health := do(t, "GET", s.URL+"/v1/health", s.Token, "")
	if status != 200 || !strings.Contains(health, addr) {
		t.Fatalf("health %d: %s", status, health)
	}
	status, _, body := do(t, "POST", s.URL+"/v1/completions", s.Token, `{"segments":{"prefix":"x"}}`)
	if status != 503 {
		t.Errorf("completion with the upstream down: %d %s", status, body)
	}
	status, _, oa := do(t, "POST", s.URL+"/openai/v1/completions", s.Token, `{"model":"m","prompt":"x"}`)
	for what, text := range map[string]string{"startup output": s.Logs(), "/v1/health": health, "503 body": body, "/openai/v1 answer": oa} {
		if strings.Contains(text, password) {
			t.Errorf("%s shows the upstream password:\n%s", what, text)
		}
	}
	if !strings.Contains(s.Logs(), "user:xxxxx@"+addr) {
		t.Errorf("startup output should name the upstream with its password masked:\n%s", s.Logs())
	}
	_ = status
}
