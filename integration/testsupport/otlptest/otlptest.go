// Package otlptest is an OTLP/HTTP trace receiver for tests: an HTTP server
// on a free loopback port that decodes the protobuf export requests that
// serval and serval-agent send (go.opentelemetry.io/proto/otlp) and keeps
// their spans, flattened, for assertions on span trees.
package otlptest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

// Span is one received span with its service's name.
type Span struct {
	Service  string
	Name     string
	Kind     string // "server", "client", "internal", ...
	TraceID  string // hex
	SpanID   string
	ParentID string // "" for a root
	Start    time.Time
	End      time.Time
	Attrs    map[string]string // values as text
	Error    bool              // status code ERROR
}

// Receiver collects spans posted to /v1/traces.
type Receiver struct {
	URL string // http://127.0.0.1:PORT, the OTEL_EXPORTER_OTLP_ENDPOINT

	srv     *httptest.Server
	mu      sync.Mutex
	spans   []Span
	exports int
	changed chan struct{} // closed and replaced on every export
	// hold, when set, is called before answering each export (a collector
	// that hangs: it returns when the test lets it).
	hold func(*http.Request)
}

// Start starts a receiver, stopped when the test ends.
func Start(t testing.TB) *Receiver {
	return start(t, nil)
}

// StartHanging starts a receiver that takes each export request and answers
// only when release is closed or the request's context ends: a collector that
// hangs. Spans of held requests are recorded when they arrive.
func StartHanging(t testing.TB, release <-chan struct{}) *Receiver {
	return start(t, func(r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
}

func start(t testing.TB, hold func(*http.Request)) *Receiver {
	r := &Receiver{changed: make(chan struct{}), hold: hold}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.srv.URL
	t.Cleanup(r.srv.Close)
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
		http.Error(w, "want POST /v1/traces", http.StatusNotFound)
		return
	}
	var body io.Reader = http.MaxBytesReader(w, req.Body, 64<<20)
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msg coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &msg); err != nil {
		http.Error(w, "not an ExportTraceServiceRequest: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.record(&msg)
	if r.hold != nil {
		r.hold(req)
	}
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func (r *Receiver) record(msg *coltrace.ExportTraceServiceRequest) {
	var got []Span
	for _, rs := range msg.GetResourceSpans() {
		service := attrsOf(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				kind := strings.ToLower(strings.TrimPrefix(s.GetKind().String(), "SPAN_KIND_"))
				got = append(got, Span{
					Service: service, Name: s.GetName(), Kind: kind,
					TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					ParentID: hex.EncodeToString(s.GetParentSpanId()),
					Start:    time.Unix(0, int64(s.GetStartTimeUnixNano())), End: time.Unix(0, int64(s.GetEndTimeUnixNano())),
					Attrs: attrsOf(s.GetAttributes()),
					Error: s.GetStatus().GetCode().String() == "STATUS_CODE_ERROR",
				})
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	r.exports++
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

func attrsOf(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = x.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = fmt.Sprint(x.IntValue)
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = fmt.Sprint(x.BoolValue)
		case *commonpb.AnyValue_DoubleValue:
			m[kv.GetKey()] = fmt.Sprint(x.DoubleValue)
		default:
			m[kv.GetKey()] = v.String()
		}
	}
	return m
}

// Spans returns the spans received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Exports is the number of export requests received.
func (r *Receiver) Exports() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.exports
}

// WaitFor waits until done, called with all spans received, returns true,
// or ctx ends (then it returns ctx's error).
func (r *Receiver) WaitFor(ctx context.Context, done func([]Span) bool) error {
	for {
		r.mu.Lock()
		spans, changed := append([]Span(nil), r.spans...), r.changed
		r.mu.Unlock()
		if done(spans) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for spans: %w; received:\n%s", ctx.Err(), Tree(spans))
		}
	}
}

// Trace returns the spans of one trace.
func Trace(spans []Span, traceID string) []Span {
	var out []Span
	for _, s := range spans {
		if s.TraceID == traceID {
			out = append(out, s)
		}
	}
	return out
}

// Find returns the first span named name of service, and whether there is one.
func Find(spans []Span, service, name string) (Span, bool) {
	for _, s := range spans {
		if s.Service == service && s.Name == name {
			return s, true
		}
	}
	return Span{}, false
}

// Tree renders spans as indented trees per trace, for failure messages.
func Tree(spans []Span) string {
	byParent := map[string][]Span{}
	ids := map[string]bool{}
	for _, s := range spans {
		ids[s.SpanID] = true
	}
	var roots []Span
	for _, s := range spans {
		if s.ParentID == "" || !ids[s.ParentID] {
			roots = append(roots, s)
			continue
		}
		byParent[s.ParentID] = append(byParent[s.ParentID], s)
	}
	sort.Slice(roots, func(i, j int) bool { return roots[i].Start.Before(roots[j].Start) })
	var b bytes.Buffer
	var walk func(s Span, depth int)
	walk = func(s Span, depth int) {
		fmt.Fprintf(&b, "%s%s/%s [%s] trace=%s parent=%s %v\n", strings.Repeat("  ", depth), s.Service, s.Name, s.Kind, s.TraceID, s.ParentID, s.Attrs)
		kids := byParent[s.SpanID]
		sort.Slice(kids, func(i, j int) bool { return kids[i].Start.Before(kids[j].Start) })
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return b.String()
}
