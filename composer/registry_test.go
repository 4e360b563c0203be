package composer

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
)

// initRegistry is filled from registry_init_test.go's init, through
// registerThrough, as a site's fragments package fills its own.
var initRegistry Registry

func registerThrough(s Spec) { initRegistry.Register(s) }

func minimalSpec(name string) Spec {
	return Spec{Name: name, Defaults: Settings{Timeout: time.Second},
		Render: func(context.Context, Params) (templ.Component, error) { return templ.NopComponent, nil }}
}

func TestRegistry(t *testing.T) {
	var r Registry
	r.Register(minimalSpec("b"))
	r.Register(minimalSpec("a"))
	var names []string
	for _, s := range r.All() {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "a,b" {
		t.Errorf("All = %v, want sorted by name", names)
	}
	if s := r.Lookup("a"); s == nil || s.Version != "1" || filepath.Base(s.Source) != "registry_test.go" {
		t.Errorf("Lookup(a) = %+v, want version 1 and its registering file", s)
	}
	if r.Lookup("c") != nil {
		t.Error("Lookup of an unregistered name")
	}
	for _, tt := range []struct {
		name string
		spec Spec
		want string
	}{
		{"duplicate", minimalSpec("a"), `"a" registered twice`},
		{"invalid", Spec{Name: "Bad"}, "composer:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if v := recover(); v == nil || !strings.Contains(v.(string), tt.want) {
					t.Errorf("panic %v, want one with %q", v, tt.want)
				}
			}()
			r.Register(tt.spec)
		})
	}
	// Registered from another file's init through a helper: the Source is
	// the file of the init.
	if s := initRegistry.Lookup("from-init"); s == nil || filepath.Base(s.Source) != "registry_init_test.go" {
		t.Errorf("from-init's Source = %v, want registry_init_test.go", s)
	}
}
