// Package secrets finds credentials in text taken from workspace files and
// redacts them, so that context gathered from other files (snippets,
// declarations, diffs) never carries a key or token to a model. It
// recognises private-key blocks, the fixed shapes of well-known tokens
// (cloud keys, GitHub/GitLab/Slack/npm/PyPI tokens, JWTs, passwords in
// URLs) and high-entropy values assigned to names like password, secret,
// token or key. It is pure: no I/O, no state, safe for concurrent use.
package secrets

import (
	"math"
	"regexp"
	"strings"
	"sync"
)

// Marker replaces each secret.
const Marker = "[REDACTED]"

// rule is one kind of token with a fixed shape. hints are literals one of
// which every match contains: most text holds none, and a substring search
// is far cheaper than running the expression.
type rule struct {
	hints []string
	re    *lazyRegexp
}

// lazyRegexp compiles its expression on first use. Compiling them all at
// package init cost the agent ~10 ms of start-up (GODEBUG=inittrace=1),
// before any text needs redacting.
type lazyRegexp struct {
	expr string
	once sync.Once
	re   *regexp.Regexp
}

func lazy(expr string) *lazyRegexp { return &lazyRegexp{expr: expr} }

func (l *lazyRegexp) get() *regexp.Regexp {
	l.once.Do(func() { l.re = regexp.MustCompile(l.expr) })
	return l.re
}

func hints(h ...string) []string { return h }

var tokenRules = []rule{
	// AWS access key ids.
	{hints("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "APKA", "AROA", "ASCA"),
		lazy(`\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}\b`)},
	// GitHub personal, OAuth, user-to-server, server-to-server and refresh tokens.
	{hints("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), lazy(`\bgh[pousr]_[A-Za-z0-9]{30,255}`)},
	{hints("github_pat_"), lazy(`\bgithub_pat_[A-Za-z0-9_]{22,255}`)},
	// GitLab tokens (personal, deploy, runner, trigger, feed, ...).
	{hints("glpat-", "gldt-", "glrt-", "glptt-", "glft-", "glsoat-", "glcbt-", "glimt-", "glagent-", "gloas-", "glffct-"),
		lazy(`\bgl(?:pat|dt|rt|ptt|ft|soat|cbt|imt|agent|oas|ffct)-[A-Za-z0-9_\-]{20,}`)},
	// Slack tokens and incoming webhooks.
	{hints("xox"), lazy(`\bxox[abposre]-[A-Za-z0-9\-]{10,}`)},
	{hints("hooks.slack.com"), lazy(`https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+`)},
	// npm and PyPI tokens.
	{hints("npm_"), lazy(`\bnpm_[A-Za-z0-9]{36}`)},
	{hints("pypi-"), lazy(`\bpypi-[A-Za-z0-9_\-]{50,}`)},
	// Google API keys and OAuth access tokens.
	{hints("AIza"), lazy(`\bAIza[0-9A-Za-z_\-]{35}`)},
	{hints("ya29."), lazy(`\bya29\.[0-9A-Za-z_\-]{20,}`)},
	// Stripe secret and restricted keys.
	{hints("k_live_", "k_test_"), lazy(`\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}`)},
	// OpenAI, Anthropic and similar "sk-" keys.
	{hints("sk-"), lazy(`\bsk-[A-Za-z0-9_\-]{20,}`)},
	// SendGrid.
	{hints("SG."), lazy(`\bSG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}`)},
	// JSON Web Tokens (header and payload are base64url JSON objects).
	{hints("eyJ"), lazy(`\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*`)},
}

// urlPassword is the password of a URL's userinfo (scheme://user:PASS@host).
var urlPassword = lazy(`[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@'"]*:([^/\s@'"]+)@`)

// privateKeyBlock is a PEM/OpenSSH/PGP private key up to its END line, or
// to the end of the text when the END line is not part of it.
var (
	privateKeyBlock = lazy(`(?s)-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|\z)`)
	privateKeyEnd   = lazy(`-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----`)
	// base64Line is a line of nothing but base64, as in the body of a key
	// whose BEGIN line fell outside the text.
	base64Line = lazy(`(?m)^[ \t]*[A-Za-z0-9+/]{60,}={0,2}[ \t]*\r?$`)
)

// secretNames are the lowercase words that make an identifier name a
// secret: password, api_key, clientSecret, _authToken, AccountKey...
var secretNames = []string{
	"password", "passwd", "pwd", "secret", "token", "credential", "_auth",
	"apikey", "api_key", "api-key", "accesskey", "access_key", "access-key",
	"privatekey", "private_key", "private-key", "signingkey", "signing_key",
	"clientkey", "client_key", "authkey", "auth_key", "accountkey",
}

// assignedValue is what follows such a name when it is given a value in
// code (token := "..."), configuration (password: ..., TOKEN=...) or JSON
// ("apiKey": "..."): the value in quotes (group 1, spaces allowed) or bare
// up to a separator (group 2).
var assignedValue = lazy("^[\"']?[ \t]*(?::=|=>|=|:)[ \t]*(?:[\"'`]([^\"'`\n]{8,})[\"'`]|([^\\s\"'`,;]{8,}))")

// identifierPath is a reference to another value (config.apiKey,
// process.env.TOKEN), not a value.
var identifierPath = lazy(`^[A-Za-z_$][A-Za-z_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*$`)

// Redact returns text with every secret it finds replaced by Marker, and
// whether it found any. Names stay (password = "[REDACTED]") so the code
// around them still reads naturally.
func Redact(text string) (string, bool) {
	found := false
	apply := func(out string) {
		if out != text {
			text, found = out, true
		}
	}
	if strings.Contains(text, "PRIVATE KEY") {
		apply(privateKeyBlock.get().ReplaceAllString(text, Marker))
		if loc := privateKeyEnd.get().FindStringIndex(text); loc != nil {
			// An END line without its BEGIN: the key's start lies before the text.
			apply(Marker + text[loc[1]:])
		}
	}
	if hasBase64Line(text) {
		apply(base64Line.get().ReplaceAllString(text, Marker))
	}
	for _, r := range tokenRules {
		for _, h := range r.hints {
			if strings.Contains(text, h) {
				apply(r.re.get().ReplaceAllString(text, Marker))
				break
			}
		}
	}
	if strings.Contains(text, "://") && strings.Contains(text, "@") {
		apply(replaceGroup(text, urlPassword.get(), nil))
	}
	apply(redactAssignments(text))
	return text, found
}

// redactAssignments redacts secret-looking values assigned to secret-sounding
// names. Only identifiers that contain a hint are looked at closely.
func redactAssignments(text string) string {
	lower := asciiLower(text)
	if !containsAny(lower, secretNames) {
		return text
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(text); {
		if !isNameByte(text[i]) {
			i++
			continue
		}
		j := i
		for j < len(text) && isNameByte(text[j]) {
			j++
		}
		name := text[i:j]
		i = j
		if j == len(text) || !strings.ContainsRune("\"' \t:=", rune(text[j])) || !containsAny(lower[j-len(name):j], secretNames) {
			continue
		}
		m := assignedValue.get().FindStringSubmatchIndex(text[j:])
		if m == nil {
			continue
		}
		quoted := m[2] >= 0
		vs, ve := m[4], m[5]
		if quoted {
			vs, ve = m[2], m[3]
		}
		if !assignedSecret(text[j+vs:j+ve], quoted) {
			continue
		}
		b.WriteString(text[last : j+vs])
		b.WriteString(Marker)
		last = j + ve
		i = last
	}
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
}

// hasBase64Line reports whether some line is a long run of base64 alone,
// before the expression that finds them is run.
func hasBase64Line(text string) bool {
	run := 0
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
			run++
			if run >= 60 {
				return true
			}
		default:
			run = 0
		}
	}
	return false
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// asciiLower lowercases ASCII letters only, so byte offsets stay valid.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// replaceGroup replaces submatch 1 of every match of re for which
// isSecret (nil: always) says its text is a secret.
func replaceGroup(text string, re *regexp.Regexp, isSecret func(string) bool) string {
	var b strings.Builder
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(text, -1) {
		start, end := m[2], m[3]
		if start < 0 || (isSecret != nil && !isSecret(text[start:end])) {
			continue
		}
		b.WriteString(text[last:start])
		b.WriteString(Marker)
		last = end
	}
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

// assignedSecret decides whether an assigned value looks like a real
// secret rather than code, a placeholder or a reference.
func assignedSecret(value string, quoted bool) bool {
	switch {
	case strings.Contains(value, Marker):
		return false
	case strings.ContainsAny(value, "(){}<>"), strings.HasPrefix(value, "$"), strings.HasPrefix(value, "%"):
		return false // a call, a template or an environment reference
	case !quoted && identifierPath.get().MatchString(value):
		return false // a reference to another variable or field
	}
	return LooksRandom(value)
}

// LooksRandom reports whether s has the length, character mix and entropy
// of a generated credential rather than a word or an identifier.
func LooksRandom(s string) bool {
	if len(s) < 8 {
		return false
	}
	var lower, upper, digit, other bool
	for _, c := range s {
		switch {
		case 'a' <= c && c <= 'z':
			lower = true
		case 'A' <= c && c <= 'Z':
			upper = true
		case '0' <= c && c <= '9':
			digit = true
		default:
			other = true
		}
	}
	classes := 0
	for _, b := range []bool{lower, upper, digit, other} {
		if b {
			classes++
		}
	}
	e := entropy(s)
	switch {
	case e < 3.0:
		return false
	case digit && (lower || upper):
		return true
	case classes >= 3:
		return true
	default:
		return len(s) >= 24 && e >= 3.5
	}
}

// entropy is the Shannon entropy of s in bits per byte.
func entropy(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	h := 0.0
	n := float64(len(s))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}
