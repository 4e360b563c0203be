package composer

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/a-h/templ"
)

func TestCheckLayout(t *testing.T) {
	// ab places slot a always and slot b when it has includes.
	ab := func(v *View) templ.Component {
		return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
			if err := v.Slot("a").Render(ctx, w); err != nil {
				return err
			}
			if v.HasSlot("b") {
				return v.Slot("b").Render(ctx, w)
			}
			return nil
		})
	}
	for _, tt := range []struct {
		name  string
		slots []string
		want  []string // in the error; none: no error
	}{
		{"exact", []string{"a", "b"}, nil},
		{"listed but not placed", []string{"a", "b", "c"}, []string{`does not place listed slot "c"`}},
		{"placed but not listed", []string{"a"}, []string{`places slot "b", which is not listed`}},
		{"both", []string{"b", "mian"}, []string{`does not place listed slot "mian"`, `places slot "a", which is not listed`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckLayout(ab, tt.slots)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("CheckLayout: %v", err)
				}
				return
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("CheckLayout(%q) = %v, want an error with %q", tt.slots, err, w)
				}
			}
		})
	}
}
