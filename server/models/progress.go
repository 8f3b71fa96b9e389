package models

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progressBar draws a download's progress: redrawn in place on a terminal
// (at most every 200 ms), one line per 10% otherwise (logs, pipes).
type progressBar struct {
	w        io.Writer // nil: draw nothing
	name     string
	terminal bool

	total, done int64 // bytes; total < 0 when unknown
	resumedAt   int64 // bytes already there when this transfer began
	began       time.Time
	lastDraw    time.Time
	lastTenth   int64
	drawn       bool
}

func newProgressBar(w io.Writer, name string) *progressBar {
	b := &progressBar{w: w, name: name}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			b.terminal = true
		}
	}
	return b
}

func (b *progressBar) start(have, total int64) {
	b.done, b.total, b.resumedAt = have, total, have
	b.began, b.lastTenth = time.Now(), -1
	if have > 0 && b.w != nil {
		fmt.Fprintf(b.w, "resuming %s at %s\n", b.name, mib(have))
	}
	b.draw(true)
}

func (b *progressBar) add(n int64) {
	b.done += n
	b.draw(false)
}

func (b *progressBar) draw(force bool) {
	if b.w == nil {
		return
	}
	now := time.Now()
	if b.terminal {
		if !force && now.Sub(b.lastDraw) < 200*time.Millisecond {
			return
		}
		fmt.Fprintf(b.w, "\r%s", b.line(now))
	} else {
		tenth := int64(0)
		if b.total > 0 {
			tenth = b.done * 10 / b.total
		}
		if !force && tenth == b.lastTenth {
			return
		}
		b.lastTenth = tenth
		fmt.Fprintln(b.w, b.line(now))
	}
	b.lastDraw, b.drawn = now, true
}

func (b *progressBar) line(now time.Time) string {
	rate := ""
	if secs := now.Sub(b.began).Seconds(); secs > 0.1 {
		rate = fmt.Sprintf("  %s/s", mib(int64(float64(b.done-b.resumedAt)/secs)))
	}
	if b.total > 0 {
		pct := float64(b.done) * 100 / float64(b.total)
		const width = 30
		filled := int(pct / 100 * width)
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = ' '
			if i < filled {
				bar[i] = '='
			}
		}
		return fmt.Sprintf("downloading %s [%s] %5.1f%%  %s / %s%s", b.name, bar, pct, mib(b.done), mib(b.total), rate)
	}
	return fmt.Sprintf("downloading %s  %s%s", b.name, mib(b.done), rate)
}

// finish ends the bar's line.
func (b *progressBar) finish() {
	if b.w == nil || !b.drawn {
		return
	}
	if b.terminal {
		fmt.Fprintf(b.w, "\r%s\n", b.line(time.Now()))
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
