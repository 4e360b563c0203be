package main

import (
	"bufio"
	"encoding/json"
	"os"
	"time"
)

// breakerEvent is a change of state of a remote host's circuit breaker,
// as the composer logs it ("remote: breaker", from, to).
type breakerEvent struct {
	// AtS is when it was logged, in seconds from the start of the load.
	AtS  float64 `json:"at_s"`
	From string  `json:"from"`
	To   string  `json:"to"`
}

// breakerEvents reads the breaker changes from a composer's log written
// with -log-format json, times from start. Lines that are not JSON
// records are skipped.
func breakerEvents(path string, start time.Time) ([]breakerEvent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []breakerEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rec struct {
			Time     time.Time
			Msg      string
			From, To string
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Msg != "remote: breaker" {
			continue
		}
		out = append(out, breakerEvent{AtS: rec.Time.Sub(start).Seconds(), From: rec.From, To: rec.To})
	}
	return out, sc.Err()
}

// firstBreakerEvent returns how long after t the first event at or
// after t changed the breaker to state to, and whether there is one.
func firstBreakerEvent(events []breakerEvent, start, t time.Time, to string) (time.Duration, bool) {
	at := t.Sub(start).Seconds()
	for _, e := range events {
		if e.AtS >= at && e.To == to {
			return time.Duration((e.AtS - at) * float64(time.Second)), true
		}
	}
	return 0, false
}

// breakerStateAt is the breaker's state at t: the last event before it
// says, closed without one.
func breakerStateAt(events []breakerEvent, start, t time.Time) string {
	at, state := t.Sub(start).Seconds(), "closed"
	for _, e := range events {
		if e.AtS < at {
			state = e.To
		}
	}
	return state
}
