package composer

import "context"

// Invalidator is an optional capability of a Store: fragment generations
// shared by every instance. Purging a fragment bumps its generation, which
// is part of its entries' version, so every entry of the old generation is
// unreachable at once on every instance that has heard of the purge.
type Invalidator interface {
	// Purge bumps the fragment's generation, tells every instance, and
	// returns the new generation.
	Purge(ctx context.Context, fragment string) (int64, error)
	// Generation returns the fragment's current generation.
	Generation(ctx context.Context, fragment string) (int64, error)
}

// version returns the version that keys f's entries: the Spec's version,
// and its generation once it has been purged.
func (c *Composer) version(f *Fragment) string {
	return c.gens.Version(f.Spec.Name, f.Spec.Version)
}

// ApplyGeneration makes gen the generation of fragment on this instance
// (an older one is ignored) and drops its in-process entries. Instances call
// it when they hear of a purge; it is safe for concurrent use.
func (c *Composer) ApplyGeneration(fragment string, gen int64) {
	f := c.site.Load().Fragments[fragment]
	if f == nil {
		return
	}
	if !c.gens.Apply(fragment, f.Spec.Version, gen) {
		return
	}
	c.Purge(fragment)
	c.purgeFragment(fragment)
}

// SyncGenerations reads every fragment's generation from the Invalidator,
// as an instance must when it starts or reconnects (purges announced while
// it was not listening were missed).
func (c *Composer) SyncGenerations(ctx context.Context) error {
	inv, ok := c.store.(Invalidator)
	if !ok {
		return nil
	}
	for _, name := range c.site.Load().FragmentNames() {
		gen, err := inv.Generation(ctx, name)
		if err != nil {
			return err
		}
		if gen > 0 {
			c.ApplyGeneration(name, gen)
		}
	}
	return nil
}

// PurgeFragment invalidates every entry of fragment: on every instance
// through the Store's Invalidator when there is one, else on this one.
func (c *Composer) PurgeFragment(ctx context.Context, fragment string) (int64, error) {
	if inv, ok := c.store.(Invalidator); ok {
		gen, err := inv.Purge(ctx, fragment)
		if err != nil {
			return 0, err
		}
		c.ApplyGeneration(fragment, gen)
		return gen, nil
	}
	gen := c.gens.Gen(fragment) + 1
	c.ApplyGeneration(fragment, gen)
	return gen, nil
}
