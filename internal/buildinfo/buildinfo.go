// Package buildinfo says which build of Broadsheet is running: the module
// version, the VCS revision and the Go version the binary was built with,
// as the Go toolchain stamped them into it (runtime/debug.ReadBuildInfo).
// The binaries print it for -version and export it as the
// broadsheet_build_info metric.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Info describes a build. Fields the toolchain did not stamp are
// "unknown" (go run and go test stamp no VCS revision).
type Info struct {
	// Version is the main module's version: a tag (v1.2.3), a
	// pseudo-version the go command derived from the commit, or "(devel)".
	Version string
	// Revision is the VCS commit, with "+dirty" when the working tree had
	// changes.
	Revision string
	// Go is the Go version that built the binary.
	Go string
}

// Read returns the running binary's Info.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown", Revision: "unknown", Go: "unknown"}
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) Info {
	in := Info{Version: bi.Main.Version, Revision: "unknown", Go: bi.GoVersion}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && in.Revision != "unknown" {
		in.Revision += "+dirty"
	}
	if in.Version == "" {
		in.Version = "unknown"
	}
	if in.Go == "" {
		in.Go = "unknown"
	}
	return in
}

// String is the one line -version prints: "NAME VERSION (revision REV, GO)".
func (in Info) String() string {
	return fmt.Sprintf("%s (revision %s, %s)", in.Version, in.Revision, in.Go)
}

// Line is what a binary called name prints for -version.
func (in Info) Line(name string) string { return name + " " + in.String() }

// Collector returns a collector of the gauge broadsheet_build_info, always
// 1, whose labels version, revision and go carry in. Dashboards join on it
// to tell which build served what.
func (in Info) Collector() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "broadsheet_build_info",
		Help: "The running build: always 1, with the module version, the VCS revision and the Go version as labels.",
		ConstLabels: prometheus.Labels{
			"version":  in.Version,
			"revision": in.Revision,
			"go":       strings.TrimSpace(in.Go),
		},
	})
	g.Set(1)
	return g
}
