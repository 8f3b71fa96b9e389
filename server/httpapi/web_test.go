package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/servalhq/serval/server/completion/completiontest"
)

// TestWebAppMountedOutsideTheAPI: paths outside the API go to the web app;
// the API's own paths (known or not) keep their JSON answers.
func TestWebAppMountedOutsideTheAPI(t *testing.T) {
	for _, noAuth := range []bool{false, true} {
		web := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("web " + r.Method + " " + r.URL.Path))
		})
		f := newFixture(t, &completiontest.Engine{Deltas: []string{"a"}}, fixtureOptions{noAuth: noAuth, web: web})
		for path, want := range map[string]string{
			"/":               "web GET /",
			"/login":          "web GET /login",
			"/static/app.css": "web GET /static/app.css",
		} {
			resp, err := http.Get(f.srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			buf := make([]byte, 512)
			n, _ := resp.Body.Read(buf)
			b.Write(buf[:n])
			resp.Body.Close()
			if resp.StatusCode != 200 || b.String() != want {
				t.Errorf("noAuth=%v GET %s: %d %q", noAuth, path, resp.StatusCode, b.String())
			}
		}
		// A web form (not JSON) is not refused by the no-auth JSON guard.
		resp, err := http.Post(f.srv.URL+"/login", "application/x-www-form-urlencoded", strings.NewReader("username=a"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("noAuth=%v form POST /login: %d", noAuth, resp.StatusCode)
		}
		for _, path := range []string{"/v1/nope", "/v1beta/nope", "/openai/v1/nope"} {
			resp, err := http.Get(f.srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode == 200 || !strings.HasPrefix(ct, "application/json") {
				t.Errorf("noAuth=%v GET %s: %d %s, want a JSON error", noAuth, path, resp.StatusCode, ct)
			}
		}
	}
}
