package store

import (
	"context"
	"fmt"
	"time"
)

// Event is one view/select/dismiss report of a completion.
type Event struct {
	Time         time.Time
	TokenName    string
	Type         string
	CompletionID string
	ChoiceIndex  int
	ViewID       string
	Elapsed      *time.Duration
	SelectKind   string
	Language     string
	// Latency is how long the server took to produce the completion a view
	// event reports (nil when unknown).
	Latency *time.Duration
}

const insertEventSQL = `INSERT INTO events(created_at, token_name, type, completion_id, choice_index, view_id, elapsed_ms, select_kind, language, latency_ms)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// AddEvent stores one event (triggers count it in the usage summaries, see
// usagesummary.go).
func (s *Store) AddEvent(ctx context.Context, e Event) error {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	var elapsed any
	if e.Elapsed != nil {
		elapsed = e.Elapsed.Milliseconds()
	}
	var latency any
	if e.Latency != nil {
		latency = e.Latency.Milliseconds()
	}
	_, err := s.insertEvent.ExecContext(ctx,
		e.Time.UnixMilli(), e.TokenName, e.Type, e.CompletionID, e.ChoiceIndex, e.ViewID, elapsed, e.SelectKind, e.Language, latency)
	if err != nil {
		return fmt.Errorf("store event: %w", err)
	}
	return nil
}

// Events returns the stored events, oldest first, at most limit of them.
func (s *Store) Events(ctx context.Context, limit int) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT created_at, token_name, type, completion_id, choice_index, view_id, elapsed_ms, select_kind, language, latency_ms
		 FROM events ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var events []Event
	for rows.Next() {
		var e Event
		var created int64
		var elapsed, latency *int64
		if err := rows.Scan(&created, &e.TokenName, &e.Type, &e.CompletionID, &e.ChoiceIndex, &e.ViewID, &elapsed, &e.SelectKind, &e.Language, &latency); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		e.Time = time.UnixMilli(created)
		if elapsed != nil {
			d := time.Duration(*elapsed) * time.Millisecond
			e.Elapsed = &d
		}
		if latency != nil {
			d := time.Duration(*latency) * time.Millisecond
			e.Latency = &d
		}
		events = append(events, e)
	}
	return events, rows.Err()
}

// LanguageStats counts what clients reported for one language.
type LanguageStats struct {
	Language  string
	Shown     int // completions shown (distinct completion ids with a view event)
	Accepted  int // completions accepted (distinct completion ids with a select event)
	Dismissed int
}

// AcceptanceRate is Accepted/Shown, 0 when nothing was shown.
func (l LanguageStats) AcceptanceRate() float64 {
	if l.Shown == 0 {
		return 0
	}
	return float64(l.Accepted) / float64(l.Shown)
}

// Stats returns per-language counts, languages in alphabetical order; events
// without a language are counted under "unknown".
func (s *Store) Stats(ctx context.Context) ([]LanguageStats, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT CASE WHEN language = '' THEN 'unknown' ELSE language END AS lang,
		       count(DISTINCT CASE WHEN type = 'view'    THEN completion_id || '/' || choice_index END),
		       count(DISTINCT CASE WHEN type = 'select'  THEN completion_id || '/' || choice_index END),
		       count(DISTINCT CASE WHEN type = 'dismiss' THEN completion_id || '/' || choice_index END)
		FROM events GROUP BY lang ORDER BY lang`)
	if err != nil {
		return nil, fmt.Errorf("read stats: %w", err)
	}
	defer rows.Close()
	var stats []LanguageStats
	for rows.Next() {
		var l LanguageStats
		if err := rows.Scan(&l.Language, &l.Shown, &l.Accepted, &l.Dismissed); err != nil {
			return nil, fmt.Errorf("read stats: %w", err)
		}
		stats = append(stats, l)
	}
	return stats, rows.Err()
}
