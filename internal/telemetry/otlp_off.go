//go:build nootlp

package telemetry

import (
	"context"
	"errors"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// newExporter refuses: this binary was built with the tag nootlp, without
// the OTLP exporter, whose protobuf and gRPC dependencies are a third of
// the binary and of its link time. `broadsheet dev` builds this way so that
// a saved file is served sooner; a plain `go build` has the exporter.
func newExporter(context.Context, string) (sdktrace.SpanExporter, error) {
	return nil, errors.New("this binary was built with -tags nootlp (as `broadsheet dev` builds), without the OTLP exporter; build without that tag to export traces")
}
