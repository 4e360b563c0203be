package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want Info
	}{
		{"stamped", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "false"}}},
			Info{"v1.2.3", "abc123", "go1.26.8"}},
		{"dirty tree", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261206-abc123+dirty"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}},
			Info{"v0.0.0-20261206-abc123+dirty", "abc123+dirty", "go1.26.8"}},
		{"go run", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			Info{"(devel)", "unknown", "go1.26.8"}},
		{"nothing", debug.BuildInfo{}, Info{"unknown", "unknown", "unknown"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromBuildInfo(&tc.bi); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCollector(t *testing.T) {
	in := Info{Version: "v1.2.3", Revision: "abc123", Go: "go1.26.8"}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(in.Collector())
	want := `# HELP broadsheet_build_info The running build: always 1, with the module version, the VCS revision and the Go version as labels.
# TYPE broadsheet_build_info gauge
broadsheet_build_info{go="go1.26.8",revision="abc123",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if got := in.Line("composer"); got != "composer v1.2.3 (revision abc123, go1.26.8)" {
		t.Errorf("Line = %q", got)
	}
	if Read().Go == "unknown" {
		t.Error("Read: the test binary has build info with a Go version")
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
