package engine

import (
	"regexp"
	"strings"
)

// urlUserinfo is the userinfo of a URL written inside any text.
var urlUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://)([^/?#\s"']*)@`)

// RedactURLs returns s with the password of every URL in it replaced by
// "xxxxx", as url.URL.Redacted does, for text that holds URLs but is not one
// (an upstream spec such as openai:http://user:PASS@host/v1#model, a flag
// value, an error message). Upstream URLs may carry credentials; they must
// not reach logs, /v1/health or error bodies.
func RedactURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlUserinfo.ReplaceAllStringFunc(s, func(m string) string {
		sub := urlUserinfo.FindStringSubmatch(m)
		user, _, hasPassword := strings.Cut(sub[2], ":")
		if !hasPassword {
			return m
		}
		return sub[1] + user + ":xxxxx@"
	})
}
