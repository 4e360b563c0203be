package config

import (
	"context"
	"testing"
	"time"

	"github.com/a-h/templ"
	"go.uber.org/goleak"

	"github.com/broadsheet/broadsheet/composer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func render(context.Context, composer.Params) (templ.Component, error) {
	return templ.NopComponent, nil
}

func layout(*composer.View) templ.Component { return templ.NopComponent }

// spec returns a small Spec with test defaults.
func spec(name string, params []composer.ParamSpec, includes ...string) *composer.Spec {
	return &composer.Spec{
		Name:     name,
		Params:   params,
		Render:   render,
		Defaults: composer.Settings{Timeout: 100 * time.Millisecond, Fresh: 10 * time.Second, Stale: time.Minute},
		Includes: includes,
	}
}

// testRegistry is the registry the tests validate against. Nothing in it
// comes from the demo fragments.
func testRegistry(extra ...*composer.Spec) Registry {
	specs := []*composer.Spec{
		spec("story", []composer.ParamSpec{
			{Name: "id", Required: true, Pattern: `s[0-9]{3}`},
			{Name: "city"},
			{Name: "size", Values: []string{"small", "large"}, Default: "small"},
		}, "score"),
		spec("score", []composer.ParamSpec{{Name: "match", Required: true, MaxLen: 8}}),
		spec("nav", nil),
	}
	return Registry{
		Specs:   append(specs, extra...),
		Layouts: map[string]composer.Layout{"front": layout, "article": layout},
		Slots:   map[string][]string{"front": {"a", "b", "header", "main", "top", "x"}, "article": {"main"}},
	}
}
