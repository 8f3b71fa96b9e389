package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/servalhq/serval/server/api"
)

// Oracle is a Tabby-compatible completion server with a perfect model: it
// knows the files the traces were cut from, finds where a request's prefix
// ends in one of them, and answers with the text that really follows (the
// rest of the line, or the next line at a line's end), after Delay.
//
// With the model out of the way, a run against the Oracle measures the
// agents themselves: how soon after a keystroke they ask and answer, how
// many requests they make, how often their typed-ahead cache answers, and
// how much of a correct completion their post-processing keeps (exact
// match). It is what --oracle runs.
//
// With Upstream set, the Oracle is timed by a real server instead of Delay:
// each completion request goes to Upstream as it came (cancelled when the
// agent gives up), and only when Upstream answers 200 does the Oracle answer,
// with its own text; any other answer (503, 429, ...) passes through as it
// is. That measures keystroke to ghost text at a real model's latency, queue
// and cancellations where the model's own text is meaningless (the shaped
// models' random weights write " dyw dyw dyw", which every agent's filters
// drop, so nothing is ever shown). It is what --oracle-text runs.
type Oracle struct {
	Token string        // required as "Bearer <Token>"; "" accepts any request
	Delay time.Duration // simulated model time per completion (without Upstream)
	// Upstream, when set, times each completion (see above), asked with
	// UpstreamToken.
	Upstream      *url.URL
	UpstreamToken string

	files    []string
	requests atomic.Int64
}

// NewOracle makes an Oracle for the original files of traces.
func NewOracle(traces []Trace, token string, delay time.Duration) *Oracle {
	o := &Oracle{Token: token, Delay: delay}
	for _, t := range traces {
		o.files = append(o.files, t.Text[:t.Offset]+t.Typed+t.Text[t.Offset:])
	}
	return o
}

// Requests is how many completions the Oracle was asked for.
func (o *Oracle) Requests() int64 { return o.requests.Load() }

func (o *Oracle) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if o.Token != "" && r.Header.Get("Authorization") != "Bearer "+o.Token {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
		return
	}
	switch {
	case r.URL.Path == "/v1/health":
		writeJSON(w, http.StatusOK, api.HealthState{Model: "oracle", Device: "cpu", Arch: "x86_64", CPUCount: 1,
			CUDADevices: []string{}, Version: api.Version{GitDescribe: "oracle"}})
	case r.URL.Path == "/v1beta/server_setting":
		writeJSON(w, http.StatusOK, map[string]any{"disable_client_side_telemetry": true})
	case r.URL.Path == "/v1/events":
		w.WriteHeader(http.StatusOK)
	case r.URL.Path == "/v1/completions" && r.Method == http.MethodPost:
		o.complete(w, r)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	}
}

func (o *Oracle) complete(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 8<<20))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad request: " + err.Error()})
		return
	}
	var req api.CompletionRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad request: " + err.Error()})
		return
	}
	n := o.requests.Add(1)
	if o.Upstream != nil {
		if !o.timedByUpstream(w, r, body) {
			return // the agent gave up, or Upstream's refusal was passed on
		}
	} else if err := sleepCtx(r.Context(), o.Delay); err != nil {
		return // the agent gave up
	}
	text := ""
	if req.Segments != nil {
		text = o.Continuation(req.Segments.Prefix, req.Segments.Suffix)
	}
	writeJSON(w, http.StatusOK, api.CompletionResponse{
		ID:      fmt.Sprintf("cmpl-oracle-%d", n),
		Choices: []api.Choice{{Index: 0, Text: text}},
	})
}

// timedByUpstream sends the completion request body to Upstream and waits
// for its answer. It reports true when Upstream answered 200 (the Oracle
// then answers with its own text); otherwise it has passed Upstream's
// answer on, or the agent went away, and reports false.
func (o *Oracle) timedByUpstream(w http.ResponseWriter, r *http.Request, body []byte) bool {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, o.Upstream.JoinPath("/v1/completions").String(), bytes.NewReader(body))
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+o.UpstreamToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if r.Context().Err() == nil {
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": "upstream: " + err.Error()})
		}
		return false
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return false // cut off: the agent went away, or Upstream did
	}
	if resp.StatusCode == http.StatusOK {
		return true
	}
	for _, h := range []string{"Content-Type", "Retry-After"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(answer)
	return false
}

// Continuation is what follows prefix in the oracle's files, up to the end
// of the line (the next line when prefix ends a line), never past the
// start of suffix. "" when prefix is found in no file.
func (o *Oracle) Continuation(prefix, suffix string) string {
	const tailLen, headLen = 256, 64
	tail := prefix[max(0, len(prefix)-tailLen):]
	head := suffix[:min(len(suffix), headLen)]
	if tail == "" {
		return ""
	}
	for _, f := range o.files {
		i := strings.Index(f, tail)
		if i < 0 {
			continue
		}
		pos := i + len(tail)
		end := len(f)
		if head != "" {
			j := strings.Index(f[pos:], head)
			if j < 0 {
				continue
			}
			end = pos + j
		}
		hole := f[pos:end]
		nl := strings.IndexByte(hole, '\n')
		if nl == 0 {
			// At a line's end: the newline and the next line.
			if next := strings.IndexByte(hole[1:], '\n'); next >= 0 {
				return hole[:next+1]
			}
			return hole
		}
		if nl > 0 {
			return hole[:nl]
		}
		return hole
	}
	return ""
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
