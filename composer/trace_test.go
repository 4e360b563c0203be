package composer

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/a-h/templ"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestSpansPerLevelAndSlowInclude: under a recording page span, the
// composer adds a span per level and one per slow include, and none for
// fast ones.
func TestSpansPerLevelAndSlowInclude(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	defer otel.SetTracerProvider(prev)
	tracer = otel.Tracer("test") // the package's tracer was bound to the previous provider
	defer func() { tracer = otel.Tracer("github.com/broadsheet/broadsheet/composer") }()

	slow := static("slow", "")
	slow.Render = func(context.Context, Params) (templ.Component, error) {
		time.Sleep(2 * slowInclude)
		return text("<p>slow</p>"), nil
	}
	c := newTestComposer(t, testSite([]*Spec{slow, static("fast", "<p>fast</p>")}, time.Second, "slow", "fast"), Options{})
	ctx, page := tp.Tracer("test").Start(context.Background(), "page")
	req := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	c.Serve(httptest.NewRecorder(), req, Request{Page: c.Site().Pages[0], Start: time.Now()})
	page.End()

	names := map[string]int{}
	for _, s := range rec.Ended() {
		names[s.Name()]++
		if s.Name() != "page" && s.Parent().SpanID() != page.SpanContext().SpanID() {
			t.Errorf("span %s is not under the page's", s.Name())
		}
	}
	if names["composer.level"] != 1 || names["composer.include slow"] != 1 || names["composer.include fast"] != 0 {
		t.Fatalf("spans %v", names)
	}
}
