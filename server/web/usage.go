package web

import (
	"bufio"
	"cmp"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/servalhq/serval/server/store"
)

// usageDays is how far back the usage page looks.
const usageDays = 30

type usageCount struct {
	Key      string
	Shown    int
	Accepted int
	// AcceptedOther counts the accepted suggestions that were not the
	// first candidate: the user cycled to them.
	AcceptedOther int
}

func (c usageCount) Rate() float64 {
	if c.Shown == 0 {
		return 0
	}
	return float64(c.Accepted) / float64(c.Shown)
}

type usageData struct {
	All       bool // an admin's view of everyone
	Total     usageCount
	Days      []usageCount // oldest first, one per UTC day
	Languages []usageCount
	Users     []usageCount
	P50, P95  string
	Latencies int64
	DayChart  template.HTML
}

// usageOwner is whose usage req sees: an admin everyone's (""), others their own.
func usageOwner(req *request) string {
	if req.user.IsAdmin {
		return ""
	}
	return req.user.Name
}

func (s *Server) usageSince() time.Time {
	return s.now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -(usageDays - 1))
}

// handleUsage serves GET /usage.
func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request, req *request) {
	owner, since := usageOwner(req), s.usageSince()
	totals, err := s.store.Totals(r.Context(), owner, since)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lat, err := s.store.Latencies(r.Context(), owner, since)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := summarize(totals, since, usageDays)
	d.All = owner == ""
	for _, c := range lat {
		d.Latencies += c.Count
	}
	d.P50, d.P95 = percentile(lat, d.Latencies, 0.50), percentile(lat, d.Latencies, 0.95)
	d.DayChart = dayChart(d.Days, since)
	s.render(w, r, http.StatusOK, "usage", req, page{Title: "Usage", Nav: "usage", Data: d})
}

// summarize turns the store's sums into the page's days, languages and users.
func summarize(t store.UsageTotals, since time.Time, days int) usageData {
	var d usageData
	d.Days = make([]usageCount, days)
	for i := range d.Days {
		d.Days[i].Key = since.AddDate(0, 0, i).Format("2006-01-02")
	}
	for _, r := range t.Days {
		if i := int(r.Day.Sub(since) / (24 * time.Hour)); i >= 0 && i < days {
			d.Days[i].Shown += r.Shown
			d.Days[i].Accepted += r.Accepted
		}
	}
	langs, users := map[string]*usageCount{}, map[string]*usageCount{}
	add := func(m map[string]*usageCount, key string, r store.UsageRow) {
		c := m[key]
		if c == nil {
			c = &usageCount{Key: key}
			m[key] = c
		}
		c.Shown += r.Shown
		c.Accepted += r.Accepted
	}
	for _, r := range t.Languages {
		add(langs, r.Language, r)
	}
	for _, r := range t.Tokens {
		d.Total.Shown += r.Shown
		d.Total.Accepted += r.Accepted
		d.Total.AcceptedOther += r.AcceptedOther
		user := r.Owner
		if user == "" {
			user = "server token " + r.Token
		}
		add(users, user, r)
	}
	d.Languages, d.Users = sortedCounts(langs), sortedCounts(users)
	return d
}

func sortedCounts(m map[string]*usageCount) []usageCount {
	out := make([]usageCount, 0, len(m))
	for _, c := range m {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b usageCount) int {
		return cmp.Or(cmp.Compare(b.Shown, a.Shown), strings.Compare(a.Key, b.Key))
	})
	return out
}

// percentile is the latency bucket that holds the nearest-rank percentile p
// of the n latencies counted in hist (ascending buckets): "N ms" where the
// bucket is one millisecond wide, "LO–HI ms" otherwise, "–" without any.
func percentile(hist []store.LatencyCount, n int64, p float64) string {
	if n == 0 {
		return "–"
	}
	rank := int64(p*float64(n)+0.999999) - 1 // 0-based
	rank = max(0, min(rank, n-1))
	for _, c := range hist {
		if rank < c.Count {
			lo, hi := store.LatencyBounds(c.Bucket)
			if lo == hi {
				return strconv.FormatInt(lo, 10) + " ms"
			}
			return strconv.FormatInt(lo, 10) + "–" + strconv.FormatInt(hi, 10) + " ms"
		}
		rank -= c.Count
	}
	return "–"
}

// dayChart draws shown (light) and accepted (dark) bars per day as inline
// SVG. Only numbers and dates go into it, so there is nothing to escape.
func dayChart(days []usageCount, since time.Time) template.HTML {
	const width, height, pad = 720, 180, 24
	peak := 1
	for _, d := range days {
		peak = max(peak, d.Shown, d.Accepted)
	}
	slot := float64(width-2*pad) / float64(len(days))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="completions shown and accepted per day">`, width, height)
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, pad, height-pad, width-pad, height-pad)
	for i, d := range days {
		x := float64(pad) + float64(i)*slot
		for j, v := range []int{d.Shown, d.Accepted} {
			h := float64(height-2*pad) * float64(v) / float64(peak)
			class := [2]string{"shown", "accepted"}[j]
			fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d %s</title></rect>`,
				class, x+float64(j)*slot*0.4+slot*0.1, float64(height-pad)-h, slot*0.4, h, d.Key, v, class)
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`, pad, height-6, since.Format("Jan 2"))
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, width-pad, height-6, since.AddDate(0, 0, len(days)-1).Format("Jan 2"))
	fmt.Fprintf(&b, `<text x="%d" y="14">%d</text>`, pad, peak)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// handleUsageCSV serves GET /usage.csv: the rows behind the usage page.
func (s *Server) handleUsageCSV(w http.ResponseWriter, r *http.Request, req *request) {
	rows, err := s.store.Usage(r.Context(), usageOwner(req), s.usageSince())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="serval-usage.csv"`)
	bw := bufio.NewWriter(w)
	writeCSVRow(bw, "day", "user", "token", "language", "shown", "accepted", "accepted_other_candidate")
	for _, row := range rows {
		writeCSVRow(bw, row.Day.Format("2006-01-02"), row.Owner, row.Token, row.Language,
			strconv.Itoa(row.Shown), strconv.Itoa(row.Accepted), strconv.Itoa(row.AcceptedOther))
	}
	bw.Flush()
}

// writeCSVRow writes one RFC 4180 row in which every field is quoted and
// neutralised (csvSafe). Quoting every field, not only those with a comma
// as encoding/csv does, keeps a field whole in a spreadsheet whose locale
// separates by ';' or tab: "x;=1+1" unquoted would become a cell "=1+1".
func writeCSVRow(w *bufio.Writer, fields ...string) {
	for i, f := range fields {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteByte('"')
		w.WriteString(strings.ReplaceAll(csvSafe(f), `"`, `""`))
		w.WriteByte('"')
	}
	w.WriteString("\r\n")
}

// csvSafe keeps a spreadsheet from reading a client-chosen value as a
// formula (OWASP's CSV injection advice): a value whose first character,
// after the blanks spreadsheets skip, is =, +, -, @, tab or carriage
// return gets a leading apostrophe, which the spreadsheet shows as text.
func csvSafe(v string) string {
	trimmed := strings.TrimLeft(v, " \u00a0\u3000")
	if trimmed != "" && strings.ContainsRune("=+-@\t\r\n＝＋－＠", []rune(trimmed)[0]) {
		return "'" + v
	}
	return v
}

// playgroundLanguages are the playground's language picker.
var playgroundLanguages = []string{"go", "python", "typescript", "javascript", "rust", "java", "c", "cpp", "csharp", "ruby", "php", "lua", "shell"}

type playgroundData struct {
	Languages []string
	Chat      bool
	DemoModel string // the serval-tiny model's name, said to be a demonstration
}

// handlePlayground serves GET /playground: completions streamed from
// /v1/completions (and chat from /v1/chat/completions) with the session.
func (s *Server) handlePlayground(w http.ResponseWriter, r *http.Request, req *request) {
	s.render(w, r, http.StatusOK, "playground", req, page{Title: "Playground", Nav: "playground",
		Data: playgroundData{Languages: playgroundLanguages, Chat: s.cfg.ChatEnabled, DemoModel: s.demoModel()}})
}

// demoModel is the completion model's name when it is serval-tiny, the small
// demonstration model Serval ships; "" otherwise.
func (s *Server) demoModel() string {
	for _, e := range s.cfg.Engines {
		if m := e.Engine.Info().Model; e.Role == "completion" && strings.Contains(strings.ToLower(m), "serval-tiny") {
			return m
		}
	}
	return ""
}
