package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeForm: any body either is refused with 4xx or gives exactly the
// spec's fields, each within its limit, valid UTF-8 without control characters.
func FuzzDecodeForm(f *testing.F) {
	for _, seed := range []string{
		"username=admin&password=correct+horse",
		"username=a&username=b",
		"username=%ff%fe&password=x",
		"password=" + strings.Repeat("x", 300),
		"code=%00&username=%3Cscript%3E",
		"name='%3B+DROP+TABLE+tokens%3B--",
		"%zz=1",
		"",
	} {
		f.Add(seed, "application/x-www-form-urlencoded")
	}
	f.Add("a=1", "text/plain")
	f.Fuzz(func(t *testing.T, body, contentType string) {
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		got, ferr := decodeForm(httptest.NewRecorder(), req, setupForm)
		if ferr != nil {
			if ferr.status < 400 || ferr.status > 499 || ferr.msg == "" {
				t.Fatalf("refusal %d %q", ferr.status, ferr.msg)
			}
			return
		}
		if len(got) != len(setupForm) {
			t.Fatalf("fields %v", got)
		}
		for k, v := range got {
			if len(v) > setupForm[k] || !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
				t.Fatalf("field %s = %q passed", k, v)
			}
		}
	})
}

// FuzzCheckFields covers the values parsed from queries (GET /setup?code=).
func FuzzCheckFields(f *testing.F) {
	f.Add("code=abc&invite=def")
	f.Add("code=" + strings.Repeat("%C3%A9", 100))
	f.Fuzz(func(t *testing.T, query string) {
		values, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		got, ferr := checkFields(values, codeQuery)
		if ferr != nil {
			return
		}
		for k, v := range got {
			if len(v) > codeQuery[k] || !utf8.ValidString(v) {
				t.Fatalf("field %s = %q passed", k, v)
			}
		}
	})
}
