package composer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
)

func cityScore() *Spec {
	return &Spec{Name: "w", Render: func(context.Context, Params) (templ.Component, error) { return nil, nil },
		Params: []ParamSpec{
			{Name: "city", Required: true, Pattern: `[a-z-]+`, MaxLen: 20},
			{Name: "units", Values: []string{"c", "f"}, Default: "c"},
			{Name: "days"},
		}}
}

func TestKeyIsCanonical(t *testing.T) {
	s := cityScore()
	for _, tc := range []struct {
		name string
		raw  map[string]string
		key  string
	}{
		{"defaults applied", map[string]string{"city": "london"}, "w?city=london&units=c"},
		{"order does not matter", map[string]string{"units": "f", "city": "paris", "days": "3"}, "w?city=paris&days=3&units=f"},
		{"undeclared dropped", map[string]string{"city": "paris", "utm_source": "x", "evil": "<script>"}, "w?city=paris&units=c"},
		{"values escaped", map[string]string{"city": "a-b", "days": "1&units=f"}, "w?city=a-b&days=1%26units%3Df&units=c"},
		{"empty means absent", map[string]string{"city": "oslo", "days": ""}, "w?city=oslo&units=c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewParams(s, tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := Key(s.Name, p); got != tc.key {
				t.Fatalf("key = %q, want %q", got, tc.key)
			}
		})
	}
}

func TestParamValidation(t *testing.T) {
	s := cityScore()
	for _, tc := range []struct {
		name   string
		raw    map[string]string
		reason string
	}{
		{"missing required", map[string]string{}, "is required"},
		{"pattern", map[string]string{"city": "London"}, "does not match"},
		{"pattern is anchored", map[string]string{"city": "ok<script>"}, "does not match"},
		{"too long", map[string]string{"city": strings.Repeat("a", 21)}, "longer than 20"},
		{"not allowed", map[string]string{"city": "x", "units": "k"}, "allowed values"},
		{"crlf", map[string]string{"city": "x", "days": "1\r\nSet-Cookie: a=b"}, "control character"},
		{"invalid utf-8", map[string]string{"city": "x", "days": "\xff"}, "UTF-8"},
		{"default length cap", map[string]string{"city": "x", "days": strings.Repeat("9", DefaultMaxParamLen+1)}, "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewParams(s, tc.raw)
			var pe *ParamError
			if !errors.As(err, &pe) || !strings.Contains(pe.Reason, tc.reason) {
				t.Fatalf("err = %v, want a ParamError saying %q", err, tc.reason)
			}
			for _, v := range tc.raw {
				if len(v) > 3 && strings.Contains(err.Error(), v) {
					t.Fatalf("error repeats the value: %v", err)
				}
			}
		})
	}
}

func TestValidateSpec(t *testing.T) {
	ok := func() *Spec {
		s := cityScore()
		s.Defaults.Timeout = 1
		return s
	}
	for _, tc := range []struct {
		name string
		mod  func(*Spec)
	}{
		{"bad name", func(s *Spec) { s.Name = "Bad Name" }},
		{"no render", func(s *Spec) { s.Render = nil }},
		{"bad pattern", func(s *Spec) { s.Params[0].Pattern = "(" }},
		{"duplicate param", func(s *Spec) { s.Params = append(s.Params, ParamSpec{Name: "city"}) }},
		{"no timeout", func(s *Spec) { s.Defaults.Timeout = 0 }},
		{"bad example", func(s *Spec) { s.Example = map[string]string{"city": "NOPE"} }},
	} {
		s := ok()
		if err := ValidateSpec(s); err != nil {
			t.Fatalf("valid spec refused: %v", err)
		}
		tc.mod(s)
		if err := ValidateSpec(s); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// FuzzKey checks the key property: only declared params change a key, and
// every accepted value is reflected in it exactly (escaped).
func FuzzKey(f *testing.F) {
	f.Add("london", "3", "x", "y")
	f.Add("a-b", "", "city", "paris")
	f.Add("z", "1&units=f", "units", "f")
	s := cityScore()
	f.Fuzz(func(t *testing.T, city, days, extraName, extraValue string) {
		base := map[string]string{"city": city, "days": days}
		p1, err1 := NewParams(s, base)
		withExtra := map[string]string{"city": city, "days": days}
		if s.Param(extraName) == nil {
			withExtra[extraName] = extraValue
		}
		p2, err2 := NewParams(s, withExtra)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("an undeclared param changed validity: %v vs %v", err1, err2)
		}
		if err1 != nil {
			return
		}
		if Key("w", p1) != Key("w", p2) {
			t.Fatalf("an undeclared param changed the key: %q vs %q", Key("w", p1), Key("w", p2))
		}
		if p1.Get("city") != city {
			t.Fatalf("city = %q, want %q", p1.Get("city"), city)
		}
	})
}

// TestIntParamsAreCanonical: an int param has one spelling per number, so
// one key per value ("041", "0041" and "41" were three keys for one
// scoreboard); out of range it is refused, or clamped when it says so.
func TestIntParamsAreCanonical(t *testing.T) {
	s := &Spec{Name: "board", Render: func(context.Context, Params) (templ.Component, error) { return nil, nil },
		Params: []ParamSpec{
			{Name: "size", Int: true, Min: 1, Max: 20000, Clamp: true, Default: "2000"},
			{Name: "page", Int: true, Max: 9},
		}, Defaults: Settings{Timeout: time.Second}}
	if err := ValidateSpec(s); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		size, page string
		key        string
		reason     string
	}{
		{size: "41", key: "board?size=41"},
		{size: "041", key: "board?size=41"},
		{size: "00041", key: "board?size=41"},
		{size: "", key: "board?size=2000"},
		{size: "0", key: "board?size=1"},
		{size: "20001", key: "board?size=20000"},
		{size: "99999999999999999999999", key: "board?size=20000"},
		{size: "7", page: "00", key: "board?page=0&size=7"},
		{size: "+41", reason: "not a whole number"},
		{size: "4 1", reason: "not a whole number"},
		{size: "٤١", reason: "not a whole number"},
		{size: "1", page: "10", reason: "from 0 to 9"},
		{size: "1", page: "-1", reason: "not a whole number"},
	} {
		p, err := NewParams(s, map[string]string{"size": tc.size, "page": tc.page})
		if tc.reason != "" {
			if err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("size %q page %q: err %v, want %q", tc.size, tc.page, err, tc.reason)
			}
			continue
		}
		if err != nil {
			t.Errorf("size %q page %q: %v", tc.size, tc.page, err)
			continue
		}
		if got := Key(s.Name, p); got != tc.key {
			t.Errorf("size %q page %q: key %q, want %q", tc.size, tc.page, got, tc.key)
		}
	}
	for _, bad := range []ParamSpec{
		{Name: "n", Int: true, Max: 5, Pattern: "[0-9]"},
		{Name: "n", Int: true, Min: 6, Max: 5},
		{Name: "n", Int: true, Max: 5, Default: "6"},
	} {
		s := &Spec{Name: "x", Render: s.Render, Params: []ParamSpec{bad}, Defaults: Settings{Timeout: time.Second}}
		if err := ValidateSpec(s); err == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
}
