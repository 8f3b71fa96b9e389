package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"
)

// setStatus changes the status; losing the server wakes the health checker.
func (a *Agent) setStatus(st Status) {
	a.status.set(st)
	if st.Kind != StatusReady && st.Kind != StatusSlow {
		a.kickHealth()
	}
}

func (a *Agent) kickHealth() {
	select {
	case a.healthKick <- struct{}{}:
	default:
	}
}

// healthLoop checks /v1/health at start, with backoff while the server is
// not usable, and now and then while it is.
func (a *Agent) healthLoop() {
	backoff := healthBackoff0
	select { // New's configuration kick: this first check covers it
	case <-a.healthKick:
	default:
	}
	for {
		ctx, cancel := context.WithTimeout(a.life, 3*time.Second)
		h, err := a.client.Load().Health(ctx)
		cancel()
		if a.life.Err() != nil {
			return
		}
		st := healthStatus(h, err)
		if cur := a.status.get(); st.Kind == StatusReady && (cur.Kind == StatusSlow || cur.Kind == StatusRateLimited && !a.status.canRequest(time.Now())) {
			st = cur // health says nothing about slowness or the rate limit
		}
		a.status.set(st)
		wait := healthReadyPoll
		if st.Kind == StatusReady || st.Kind == StatusSlow {
			backoff = healthBackoff0
		} else {
			wait = backoff
			backoff = min(backoff*2, healthBackoffMax)
		}
		t := time.NewTimer(wait)
		select {
		case <-a.life.Done():
			t.Stop()
			return
		case <-a.healthKick:
			t.Stop()
		case <-t.C:
		}
	}
}

// isDecodeError reports an answer that was not the JSON it should be.
func isDecodeError(err error) bool {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.As(err, &syn) || errors.As(err, &typ) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "decode")
}
