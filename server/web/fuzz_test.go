package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/servalhq/serval/server/store"
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
		for _, spec := range []map[string]int{setupForm, deviceCodeForm, tokenGrantForm, deviceForm} {
			req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
			req.Header.Set("Content-Type", contentType)
			got, ferr := decodeForm(httptest.NewRecorder(), req, spec)
			if ferr != nil {
				if ferr.status < 400 || ferr.status > 499 || ferr.msg == "" {
					t.Fatalf("refusal %d %q", ferr.status, ferr.msg)
				}
				continue
			}
			if len(got) != len(spec) {
				t.Fatalf("fields %v", got)
			}
			for k, v := range got {
				if len(v) > spec[k] || !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
					t.Fatalf("field %s = %q passed", k, v)
				}
			}
		}
	})
}

// FuzzNormalizeUserCode: whatever is typed, a code comes out only as
// UserCodeLen characters of the alphabet, and reading it back in its shown
// form gives the same code.
func FuzzNormalizeUserCode(f *testing.F) {
	for _, seed := range []string{"BCDF-GHJK", "bcdf ghjk", "BCDF-GHJ", "ABCD-EFGH", "ＢＣＤＦ-ＧＨＪＫ", "bcdf\tghjk", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, typed string) {
		code, ok := normalizeUserCode(typed)
		if !ok {
			if code != "" {
				t.Fatalf("refused %q but returned %q", typed, code)
			}
			return
		}
		if len(code) != store.UserCodeLen || strings.Trim(code, store.UserCodeAlphabet) != "" {
			t.Fatalf("%q gave %q", typed, code)
		}
		if again, ok := normalizeUserCode(formatUserCode(code)); !ok || again != code {
			t.Fatalf("%q: shown as %q, read back as %q", code, formatUserCode(code), again)
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

// FuzzOpenFlash: a flash cookie is the browser's to send: any value opens
// only if it was sealed for the session (never for another), and what is
// sealed opens to itself.
func FuzzOpenFlash(f *testing.F) {
	sealed, err := sealFlash("session-a", flash{Notice: "n", Secret: "srv_x", SecretFor: "laptop", UserID: 7, Expires: 1 << 40})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{sealed, "", "AAAA", strings.Repeat("A", 200), "%%%", sealed[:len(sealed)-1]} {
		f.Add("session-a", seed, "secret")
	}
	f.Fuzz(func(t *testing.T, session, value, secret string) {
		if fl, ok := openFlash(session+"-other", value); ok && value == sealed {
			t.Fatalf("another session opened the flash: %+v", fl)
		}
		openFlash(session, value) // must not panic
		if !utf8.ValidString(secret) {
			return // JSON would replace the invalid bytes
		}
		in := flash{Secret: secret, UserID: 1, Expires: 2}
		v, err := sealFlash(session, in)
		if err != nil {
			t.Fatal(err)
		}
		if out, ok := openFlash(session, v); !ok || out != in {
			t.Fatalf("sealed %+v, opened %+v %v", in, out, ok)
		}
	})
}
