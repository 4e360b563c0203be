package harness

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// TTL is a fragment's fresh and stale time in a patched configuration.
type TTL struct{ Fresh, Stale time.Duration }

// PatchTTLs returns site (a site.yaml) with the fresh and stale times of
// ttls set, keeping everything else (budgets, timeouts, fallbacks, pages,
// comments) as it is.
func PatchTTLs(site []byte, ttls map[string]TTL) ([]byte, error) {
	return PatchFragments(site, func(name string) map[string]string {
		t, ok := ttls[name]
		if !ok {
			return nil
		}
		return map[string]string{"fresh": t.Fresh.String(), "stale": t.Stale.String()}
	}, slices.Sorted(maps.Keys(ttls)))
}

// PatchFragments sets, for each fragment in names, the settings set(name)
// returns (setting → YAML scalar) under fragments: in site.
func PatchFragments(site []byte, set func(name string) map[string]string, names []string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(site, &doc); err != nil {
		return nil, fmt.Errorf("harness: site config: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("harness: site config: not a mapping")
	}
	root := doc.Content[0]
	frags := mapGet(root, "fragments")
	if frags == nil {
		frags = &yaml.Node{Kind: yaml.MappingNode}
		mapSet(root, "fragments", frags)
	}
	for _, name := range names {
		f := mapGet(frags, name)
		if f == nil || f.Kind != yaml.MappingNode {
			f = &yaml.Node{Kind: yaml.MappingNode}
			mapSet(frags, name, f)
		}
		kv := set(name)
		for _, k := range slices.Sorted(maps.Keys(kv)) {
			mapSet(f, k, scalar(kv[k]))
		}
	}
	return yaml.Marshal(&doc)
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }

func mapGet(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func mapSet(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, scalar(key), v)
}
