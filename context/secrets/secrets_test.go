package secrets

import (
	"sort"
	"strings"
	"testing"
)

// Fake credentials in the real shapes; none of them is live.
var planted = map[string]string{
	"aws key id":     "AKIAIOSFODNN7EXAMPLE",
	"github classic": "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
	"github fine":    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU",
	"gitlab":         "glpat-x8Kd9s7aQ2mZ4vB6nL1p",
	"slack bot":      "xoxb-2402948120-3048203948-AbCdEfGhIjKlMnOp",
	"slack webhook":  "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
	"npm":            "npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
	"pypi":           "pypi-AgEIcHlwaS5vcmcCJGQ4ZjA3ZWE1LTQ3ZWQtNDBlNi1hMzFlLWIxZjk0NzA1MWQ0MAACJXsicGVybWlzc2lvbnMiOiAidXNlciJ9",
	"google api":     "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
	"stripe":         "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
	"openai":         "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
	"jwt":            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}

func TestRedactsTokenShapes(t *testing.T) {
	for name, secret := range planted {
		for _, text := range []string{
			secret,
			"const client = new Client(\"" + secret + "\")\n",
			"export X=" + secret + " # deploy",
			"{\"value\": \"" + secret + "\"}",
		} {
			out, found := Redact(text)
			if !found || strings.Contains(out, secret) {
				t.Errorf("%s: Redact(%q) = %q, %v", name, text, out, found)
			}
		}
	}
}

func TestRedactsPrivateKeys(t *testing.T) {
	body := strings.Repeat("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n", 4)
	for _, kind := range []string{"RSA PRIVATE KEY", "OPENSSH PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "PGP PRIVATE KEY BLOCK"} {
		block := "-----BEGIN " + kind + "-----\n" + body + "-----END " + kind + "-----\n"
		for name, text := range map[string]string{
			"whole":      "key = `" + block + "`\nnext()\n",
			"no END":     "key = `" + block[:len(block)/2],
			"no BEGIN":   block[len(block)/2:] + "`\nnext()\n",
			"body lines": body,
		} {
			out, found := Redact(text)
			if !found || strings.Contains(out, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj") {
				t.Errorf("%s, %s: not redacted:\n%s", kind, name, out)
			}
			if name == "whole" && !strings.Contains(out, "next()") {
				t.Errorf("%s: code after the key was lost:\n%s", kind, out)
			}
		}
	}
}

func TestRedactsAssignedSecrets(t *testing.T) {
	tests := []struct {
		text   string
		secret string
	}{
		{`password = "s3cr3tP@ssw0rd!"`, "s3cr3tP@ssw0rd!"},
		{`DB_PASSWORD=Xk29vLq0Zr81`, "Xk29vLq0Zr81"},
		{`//registry.npmjs.org/:_authToken=9f3a1c2e-7b4d-4e8a-9c6f-2d1e0b3a4c5f`, "9f3a1c2e-7b4d-4e8a-9c6f-2d1e0b3a4c5f"},
		{`"apiKey": "q8Zr2Lm4Nx7Tb1Vc"`, "q8Zr2Lm4Nx7Tb1Vc"},
		{`aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
		{`client_secret: 'Zq1x-Vb2n_Mk3l'`, "Zq1x-Vb2n_Mk3l"},
		{`const token := "a81f3c9d02e74b6f"`, "a81f3c9d02e74b6f"},
		{`secret => 'correct horse battery staple 42'`, "correct horse battery staple 42"},
		{`DefaultEndpointsProtocol=https;AccountName=x;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;`, "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq"},
		{`db = "postgres://app:Hunter2Hunter2@db.internal:5432/app"`, "Hunter2Hunter2"},
		{`git clone https://oauth2:tok3nValue@gitlab.example.com/x.git`, "tok3nValue"},
	}
	for _, tt := range tests {
		out, found := Redact(tt.text)
		if !found || strings.Contains(out, tt.secret) {
			t.Errorf("Redact(%q) = %q, %v", tt.text, out, found)
		}
	}
}

// Code that merely talks about secrets must reach the model unchanged.
func TestKeepsOrdinaryCode(t *testing.T) {
	for _, text := range []string{
		`token := os.Getenv("SERVAL_TOKEN")`,
		`password = getPassword(user)`,
		`apiKey: config.apiKey,`,
		`secretManager: SecretManagerClient`,
		`const token = process.env.GITHUB_TOKEN`,
		`password: string;`,
		`PASSWORD=${DB_PASSWORD}`,
		`if err := validateToken(token); err != nil {`,
		`sort_key = "created_at_desc"`,
		`password = "changeme"`,
		`resp, err := http.Get("https://example.com/path?q=1")`,
		`func (a *Authenticator) Authenticate(ctx context.Context, secret string) (string, error) {`,
		`// The token's name is "anonymous" when auth is off.`,
		`var skipList = []string{"sk-", "ghp_"}`,
		"author = \"Jane Doe\"",
	} {
		if out, found := Redact(text); found || out != text {
			t.Errorf("Redact(%q) = %q, %v; want it unchanged", text, out, found)
		}
	}
}

func TestLooksRandom(t *testing.T) {
	for s, want := range map[string]bool{
		"changeme":            false,
		"aaaaaaaaaaaaaaaa":    false,
		"Xk29vLq0Zr81":        true,
		"created_at_desc":     false,
		"q8Zr2Lm4Nx7Tb1Vc":    true,
		"short1A":             false,
		"correcthorsebattery": false,
	} {
		if got := LooksRandom(s); got != want {
			t.Errorf("LooksRandom(%q) = %v, want %v", s, got, want)
		}
	}
}

func BenchmarkRedact(b *testing.B) {
	// A context's worth of ordinary code (about 4 KB), no secrets in it.
	code := strings.Repeat("func (s *Server) handle(w http.ResponseWriter, r *http.Request) {\n\ttoken := r.Header.Get(\"Authorization\")\n\tif err := s.check(token); err != nil {\n\t\treturn\n\t}\n}\n", 25)
	b.SetBytes(int64(len(code)))
	for b.Loop() {
		Redact(code)
	}
}

func FuzzRedact(f *testing.F) {
	f.Add("password = \"s3cr3tP@ssw0rd!\"", "x", 0)
	f.Add("-----BEGIN RSA PRIVATE KEY-----\nMIIE", "-----END RSA PRIVATE KEY-----", 3)
	f.Add("url = \"https://u:p4ssW0rd99@h/\"", "", 5)
	f.Add("", "token: ", 11)
	names := []string{}
	for name := range planted {
		names = append(names, name)
	}
	sort.Strings(names)
	f.Fuzz(func(t *testing.T, before, after string, which int) {
		out, _ := Redact(before + after)
		again, found := Redact(out)
		if again != out {
			t.Fatalf("not idempotent: %q then %q (found %v)", out, again, found)
		}
		// A planted token on its own line never survives, whatever surrounds it.
		if which < 0 {
			which = -which
		}
		secret := planted[names[which%len(names)]]
		text := before + "\n" + secret + "\n" + after
		if out, _ := Redact(text); strings.Contains(out, secret) {
			t.Fatalf("planted %q survived in %q", secret, out)
		}
	})
}

// The expressions compile lazily; a bad one must still fail a test, not
// the first snippet that happens to need it.
func TestEveryExpressionCompiles(t *testing.T) {
	all := []*lazyRegexp{urlPassword, privateKeyBlock, privateKeyEnd, base64Line, assignedValue, identifierPath}
	for _, r := range tokenRules {
		all = append(all, r.re)
	}
	for _, l := range all {
		if l.get() == nil {
			t.Errorf("%q did not compile", l.expr)
		}
	}
}
