package engine

import (
	"net/url"
	"strings"
	"testing"
)

func TestRedactURLs(t *testing.T) {
	for in, want := range map[string]string{
		"openai:http://user:S3CRET@127.0.0.1:8000/v1#m": "openai:http://user:xxxxx@127.0.0.1:8000/v1#m",
		"http://a:b@h1/ and https://c:d@h2/x":           "http://a:xxxxx@h1/ and https://c:xxxxx@h2/x",
		"http://127.0.0.1:11434":                        "http://127.0.0.1:11434",
		"http://user@host/":                             "http://user@host/",
		"no url here: a:b@c":                            "no url here: a:b@c",
	} {
		if got := RedactURLs(in); got != want {
			t.Errorf("RedactURLs(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzRedactURLs(f *testing.F) {
	f.Add("http://u:p@h/")
	f.Fuzz(func(t *testing.T, s string) {
		out := RedactURLs(s)
		if u, err := url.Parse(strings.TrimSpace(out)); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok && p != "xxxxx" && strings.HasPrefix(s, u.Scheme+"://") {
				t.Fatalf("%q: password %q kept in %q", s, p, out)
			}
		}
	})
}
