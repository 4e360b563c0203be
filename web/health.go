package web

import "net/http"

// SetReady marks the server as serving (or not yet): /readyz answers
// 503 "starting" until it is.
func (s *Server) SetReady(ok bool) { s.ready.Store(ok) }

// Drain marks the server as draining, for good: /readyz answers 503
// "draining" from then on, so that load balancers stop sending it new
// requests, while every route, pages included, goes on being served until
// the listener is shut down.
func (s *Server) Drain() { s.draining.Store(true) }

// healthz is liveness: the process answers requests. It says nothing of
// whether it should get them (readyz).
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz is readiness: 200 while the server wants new requests; 503 with
// the reason while it is starting, while it is draining, and, with
// RequireRedis, while Redis's breaker is open.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	reason := ""
	switch {
	case s.draining.Load():
		reason = "draining"
	case !s.ready.Load():
		reason = "starting"
	case s.opts.RequireRedis && s.opts.Redis != nil && s.opts.Redis.State() == "open":
		reason = "redis unavailable"
	}
	if reason != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(reason + "\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}
