package httpapi

import (
	"io"
	"net/http"
	"testing"

	"github.com/servalhq/serval/server/completion/completiontest"
)

// TestLivenessIsOpenAndSaysNothing: the probe needs no token, with or without
// a wrong one, and its answer holds nothing but "ok".
func TestLivenessIsOpenAndSaysNothing(t *testing.T) {
	f := newFixture(t, &completiontest.Engine{}, fixtureOptions{})
	for _, header := range []string{"", "Bearer srv_wrong"} {
		req, _ := http.NewRequest("GET", f.srv.URL+LivenessPath, nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "ok\n" {
			t.Errorf("GET %s with %q: %d %q, want 200 \"ok\\n\"", LivenessPath, header, resp.StatusCode, b)
		}
		for _, h := range []string{"Server", "X-Serval-Version"} {
			if v := resp.Header.Get(h); v != "" {
				t.Errorf("header %s: %q reveals the server", h, v)
			}
		}
	}
	// Only GET (and HEAD) are served: a POST is not a probe.
	resp, err := http.Post(f.srv.URL+LivenessPath, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Errorf("POST %s: 200", LivenessPath)
	}
}
