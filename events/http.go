package events

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// Publisher publishes events: a RedisBus, or a LocalBus without Redis.
type Publisher interface {
	Publish(ctx context.Context, ev Event) (id string, err error)
}

// HTTPHandler accepts events as POSTed JSON — {"topic": "match.updated",
// "params": {"match": "m0042"}} (and "invalidate": true to drop rather than
// refresh) — for authorized requests only. It answers 202 with the event's
// id, 400 on a malformed event, 401 when authorize refuses, 405 on other
// methods.
func HTTPHandler(p Publisher, authorize func(*http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "events are POSTed", http.StatusMethodNotAllowed)
			return
		}
		if authorize == nil || !authorize(r) {
			http.Error(w, "an admin token is required", http.StatusUnauthorized)
			return
		}
		var ev Event
		dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			http.Error(w, "events: malformed JSON: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := ev.Validate(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ev.At = time.Now() // the publish time is ours, never the client's
		ev.ID = ""
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		id, err := p.Publish(ctx, ev)
		if err != nil {
			status := http.StatusServiceUnavailable
			if errors.Is(err, context.Canceled) {
				status = http.StatusRequestTimeout
			}
			http.Error(w, "events: could not publish", status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]string{"id": id, "topic": ev.Topic})
	})
}
