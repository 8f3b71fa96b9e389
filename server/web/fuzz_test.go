package web

import (
	"bufio"
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"net/netip"
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

// FuzzClientAddr: whatever X-Forwarded-For lines arrive, the address is a
// valid one; from a peer that is not a trusted proxy it is the peer; and it
// is never a hop left of an address that no trusted proxy could have
// written (the client's own entries), nor a trusted proxy while an
// untrusted hop stands right of the proxies. The header is left unchanged.
func FuzzClientAddr(f *testing.F) {
	f.Add("198.51.100.1", "203.0.113.9, 10.0.0.2", "127.0.0.1:5")
	f.Add("", ",, ,", "10.0.0.1:80")
	f.Add("garbage", "2001:db8::1", "[::1]:9")
	f.Add("::ffff:1.2.3.4", "10.1.1.1,10.2.2.2", "192.0.2.1:1")
	s := &Server{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}
	f.Fuzz(func(t *testing.T, line1, line2, remote string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		r.Header["X-Forwarded-For"] = []string{line1, line2}
		got := s.clientAddr(r)
		if r.Header["X-Forwarded-For"][0] != line1 || r.Header["X-Forwarded-For"][1] != line2 {
			t.Fatal("clientAddr changed the header")
		}
		peer, ok := remoteAddr(r)
		if !ok {
			if got != remote {
				t.Fatalf("unparseable peer %q gave %q", remote, got)
			}
			return
		}
		a, err := netip.ParseAddr(got)
		if err != nil {
			t.Fatalf("%q is not an address", got)
		}
		if !s.trusted(peer) && a != peer {
			t.Fatalf("untrusted peer %s, address %s", peer, a)
		}
		// Walk the hops as a proxy chain would: right to left while trusted.
		hops := strings.Split(line1+","+line2, ",")
		want := peer
		for i := len(hops) - 1; i >= 0 && s.trusted(want); i-- {
			h := strings.TrimSpace(hops[i])
			if h == "" {
				continue
			}
			p, err := netip.ParseAddr(h)
			if err != nil {
				break
			}
			want = p.Unmap()
		}
		if a != want {
			t.Fatalf("lines %q %q from %s: %s, want %s", line1, line2, peer, a, want)
		}
	})
}

// FuzzUsageCSVRow: any fields give one record that encoding/csv reads back
// field for field (neutralised), and no cell starts a formula when the row
// is read with ';' or tab as the separator either.
func FuzzUsageCSVRow(f *testing.F) {
	f.Add("x;=1+1", "=HYPERLINK(\"a\")", "\u00a0@SUM(1)")
	f.Add("a\"b", "line\n=2", "\t-3")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		if !utf8.ValidString(a + b + c) {
			return // names and languages are checked UTF-8 before they are stored
		}
		var buf strings.Builder
		w := bufio.NewWriter(&buf)
		writeCSVRow(w, a, b, c)
		w.Flush()
		rows, err := csv.NewReader(strings.NewReader(buf.String())).ReadAll()
		if err != nil || len(rows) != 1 || len(rows[0]) != 3 {
			t.Fatalf("%q read back as %q, %v", buf.String(), rows, err)
		}
		for i, v := range []string{a, b, c} {
			// encoding/csv turns \r\n inside a quoted field into \n.
			if want := strings.ReplaceAll(csvSafe(v), "\r\n", "\n"); rows[0][i] != want {
				t.Fatalf("field %d: %q read back as %q", i, want, rows[0][i])
			}
			if cell := strings.TrimLeft(rows[0][i], " \u00a0\u3000"); cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
				t.Fatalf("field %d starts a formula: %q", i, rows[0][i])
			}
		}
		for _, sep := range []rune{';', '\t'} {
			r := csv.NewReader(strings.NewReader(buf.String()))
			r.Comma, r.LazyQuotes, r.FieldsPerRecord = sep, true, -1
			rows, err := r.ReadAll()
			if err != nil {
				continue // not read as cells at all
			}
			for _, row := range rows {
				for _, cell := range row {
					if cell = strings.TrimLeft(cell, " \u00a0\u3000"); cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
						t.Fatalf("separator %q: cell %q starts a formula (%q)", sep, cell, buf.String())
					}
				}
			}
		}
	})
}
