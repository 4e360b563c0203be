package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/a-h/templ"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/broadsheet/broadsheet/composer"
	"github.com/broadsheet/broadsheet/internal/logbuf"
	"github.com/broadsheet/broadsheet/remote"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestTraceReachesRemoteFragment wires a remote fragment as the composer
// and fragmentd do with tracing on: the composer's remote client with
// Transport(true), the fragment service's remote.Handler behind
// Handler(true) logging JSON through NewLogger. A fragment requested under
// a page's span is served under a span of the same trace, a child of the
// client's request span, and the service's log line for it carries that
// trace's trace_id. With tracing off, no traceparent is sent.
func TestTraceReachesRemoteFragment(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	defer func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) }()

	var logs logbuf.Buffer
	log, err := NewLogger(&logs, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var traceparents []string
	spec := &composer.Spec{Name: "echo", Version: "1",
		Params:   []composer.ParamSpec{{Name: "id", Required: true, Pattern: `[a-z]+`, MaxLen: 8}},
		Defaults: composer.Settings{Timeout: composer.DefaultLimits.Budget},
		Render: func(ctx context.Context, p composer.Params) (templ.Component, error) {
			if p.Get("id") == "bad" {
				return nil, errors.New("the feed is down")
			}
			return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
				_, err := io.WriteString(w, "<p>"+p.Get("id")+"</p>")
				return err
			}), nil
		}}
	inner := remote.Handler([]*composer.Spec{spec}, remote.ServerOptions{Logger: log})
	srv := httptest.NewServer(Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		traceparents = append(traceparents, r.Header.Get("Traceparent"))
		mu.Unlock()
		inner.ServeHTTP(w, r)
	}), "fragmentd", true))
	defer srv.Close()

	fetch := func(on bool, id string) {
		t.Helper()
		c := remote.New(remote.Options{WrapTransport: Transport(on)})
		defer c.Close()
		rs, err := c.Spec(remote.Config{Name: "echo", URL: srv.URL + "/fragments/echo?id={id}", Local: spec})
		if err != nil {
			t.Fatal(err)
		}
		p, err := composer.NewParams(rs, map[string]string{"id": id})
		if err != nil {
			t.Fatal(err)
		}
		ctx, page := tp.Tracer("test").Start(context.Background(), "page")
		_, _ = rs.Render(ctx, p)
		page.End()
	}

	fetch(true, "bad")
	spans := exp.GetSpans()
	var pageSpan, client, server *tracetest.SpanStub
	for i := range spans {
		s := &spans[i]
		switch {
		case s.Name == "page":
			pageSpan = s
		case s.SpanKind.String() == "client":
			client = s
		case s.SpanKind.String() == "server":
			server = s
		}
	}
	if pageSpan == nil || client == nil || server == nil {
		t.Fatalf("want a page, a client and a server span; got %d spans", len(spans))
	}
	tid := pageSpan.SpanContext.TraceID()
	if client.Parent.SpanID() != pageSpan.SpanContext.SpanID() || server.SpanContext.TraceID() != tid || server.Parent.SpanID() != client.SpanContext.SpanID() {
		t.Errorf("spans not one trace: page %v, client %v (parent %v), server %v (parent %v)",
			pageSpan.SpanContext.SpanID(), client.SpanContext.SpanID(), client.Parent.SpanID(), server.SpanContext.TraceID(), server.Parent.SpanID())
	}
	var line struct {
		Msg     string `json:"msg"`
		TraceID string `json:"trace_id"`
		SpanID  string `json:"span_id"`
	}
	first, _, _ := strings.Cut(logs.String(), "\n")
	if err := json.Unmarshal([]byte(first), &line); err != nil {
		t.Fatalf("log line %q: %v", first, err)
	}
	if line.Msg != "fragmentd: fragment failed" || line.TraceID != tid.String() || line.SpanID != server.SpanContext.SpanID().String() {
		t.Errorf("log line %s: want the failure with trace_id %s and span_id %s", first, tid, server.SpanContext.SpanID())
	}

	fetch(false, "good")
	mu.Lock()
	defer mu.Unlock()
	if len(traceparents) != 2 || traceparents[0] == "" || traceparents[1] != "" {
		t.Errorf("traceparent headers %q: want one with tracing on, none with it off", traceparents)
	}
}

// TestTraceHandler: a record logged with a span's context gets its ids;
// one without gets none; attributes and groups are kept.
func TestTraceHandler(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(&buf, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	ctx, span := tp.Tracer("test").Start(context.Background(), "x")
	defer span.End()
	log.With("a", 1).InfoContext(ctx, "with")
	log.Info("without")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines: %q", lines)
	}
	want := `"trace_id":"` + span.SpanContext().TraceID().String() + `","span_id":"` + span.SpanContext().SpanID().String() + `"`
	if !strings.Contains(lines[0], want) || !strings.Contains(lines[0], `"a":1`) {
		t.Errorf("with a span: %s, want %s and a=1", lines[0], want)
	}
	if strings.Contains(lines[1], "trace_id") {
		t.Errorf("without a span: %s", lines[1])
	}
	if _, err := NewLogger(&buf, "xml", "info"); err == nil {
		t.Error("format xml accepted")
	}
	if _, err := NewLogger(&buf, "json", "loud"); err == nil {
		t.Error("level loud accepted")
	}
}
