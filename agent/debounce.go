package agent

import (
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Debounce bounds and constants. Tabby's formula is
// clamp(100, 1000, (3 - 1.5*score)*base - avgLatency) with base the average
// keystroke gap (start 200 ms, clamped 100-400); before the first response
// its average latency is NaN and the delay collapses to ~0. Ours keeps the
// idea (wait longer mid-word, less where a completion is likely wanted,
// start earlier when the server is slow) with a shorter scale, because a
// superseded request here really stops the server's work, and no NaN: an
// unknown latency counts as zero.
const (
	maxGapSample     = 400 * time.Millisecond // longer gaps are pauses, not rhythm
	minBase          = 50 * time.Millisecond
	maxBase          = 400 * time.Millisecond
	minDebounce      = 15 * time.Millisecond
	maxDebounce      = 600 * time.Millisecond
	rhythmSamples    = 8
	latencySamples   = 10
	latencyDiscount  = 0.25 // share of the average server latency started early
	scoreMultiplier0 = 1.6  // delay = base * (scoreMultiplier0 - score)
)

// cursorSpot describes the cursor's position for the debounce decision.
type cursorSpot struct {
	lastChar      rune // the character before the cursor; 0 at document start
	atLineEnd     bool // only whitespace after the cursor on its line
	atLineStart   bool // only whitespace before the cursor on its line (a new line)
	atDocumentEnd bool
}

// spotAt computes the cursorSpot at offset in text.
func spotAt(text []byte, offset int) cursorSpot {
	var s cursorSpot
	if offset > 0 {
		s.lastChar, _ = utf8.DecodeLastRune(text[:offset])
	}
	s.atLineEnd = true
	for i := offset; i < len(text) && text[i] != '\n' && text[i] != '\r'; i++ {
		if text[i] != ' ' && text[i] != '\t' {
			s.atLineEnd = false
			break
		}
	}
	s.atLineStart = true
	for i := offset - 1; i >= 0 && text[i] != '\n' && text[i] != '\r'; i-- {
		if text[i] != ' ' && text[i] != '\t' {
			s.atLineStart = false
			break
		}
	}
	rest := text[offset:]
	s.atDocumentEnd = len(rest) == 0 || isBlankBytes(rest)
	return s
}

func isBlankBytes(b []byte) bool {
	if len(b) > 4096 {
		return false // a long tail is not "the end"; don't scan it
	}
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// score is how likely a completion is wanted right now, in [0, 1].
func (s cursorSpot) score() float64 {
	sc := 0.0
	if s.lastChar != 0 && !isWordRune(s.lastChar) {
		sc += 0.5
	}
	if s.atLineEnd {
		sc += 0.3
	}
	if s.atLineStart && s.lastChar != 0 {
		sc += 0.5 // just pressed Enter (plus indentation)
	}
	if s.atDocumentEnd {
		sc += 0.1
	}
	if sc > 1 {
		sc = 1
	}
	return sc
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// debouncer learns the user's typing rhythm and the server's latency.
type debouncer struct {
	mu         sync.Mutex
	lastStroke time.Time
	gaps       [rhythmSamples]time.Duration
	nGaps      int
	latencies  [latencySamples]time.Duration
	nLatencies int
}

// keystroke records one small edit at now.
func (d *debouncer) keystroke(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.lastStroke.IsZero() {
		gap := now.Sub(d.lastStroke)
		if gap > 0 && gap <= maxGapSample {
			d.gaps[d.nGaps%rhythmSamples] = gap
			d.nGaps++
		}
	}
	d.lastStroke = now
}

// latency records one server round trip.
func (d *debouncer) latency(l time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.latencies[d.nLatencies%latencySamples] = l
	d.nLatencies++
}

func average(samples []time.Duration, n int) (time.Duration, bool) {
	if n == 0 {
		return 0, false
	}
	if n > len(samples) {
		n = len(samples)
	}
	var sum time.Duration
	for _, s := range samples[:n] {
		sum += s
	}
	return sum / time.Duration(n), true
}

// delay is how long to wait before asking the server for an automatic
// completion at spot. cfg.Mode "fixed" always waits cfg.IntervalMS.
func (d *debouncer) delay(cfg DebounceConfig, spot cursorSpot) time.Duration {
	start := time.Duration(cfg.IntervalMS) * time.Millisecond
	if cfg.Mode == "fixed" {
		return start
	}
	d.mu.Lock()
	base, ok := average(d.gaps[:], d.nGaps)
	lat, _ := average(d.latencies[:], d.nLatencies)
	d.mu.Unlock()
	if !ok {
		base = start
	}
	base = clampDuration(base, minBase, maxBase)
	delay := time.Duration(float64(base)*(scoreMultiplier0-spot.score())) - time.Duration(latencyDiscount*float64(lat))
	return clampDuration(delay, minDebounce, maxDebounce)
}

func clampDuration(d, lo, hi time.Duration) time.Duration {
	if d < lo {
		return lo
	}
	if d > hi {
		return hi
	}
	return d
}
