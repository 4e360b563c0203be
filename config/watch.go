package config

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/knadh/koanf/providers/file"

	"github.com/broadsheet/broadsheet/composer"
)

const (
	// debounce is how long the file must stay quiet before it is read:
	// editors save in several steps (truncate, write, rename, chmod).
	debounce = 100 * time.Millisecond
	// rewatch is how often Watch tries to watch the file again after the
	// watch was lost, typically because the file was removed.
	rewatch = 500 * time.Millisecond
)

// Watch reloads the file at path whenever it changes and calls onChange with
// each new valid Site. A change that does not parse leaves the last good Site
// in place: onError receives the error (a List naming file, line and field)
// and onChange is not called. Changes are debounced, and a change that
// leaves the bytes as they were last read is ignored.
//
// Watch does not read the file before it changes: call Load first for the
// Site to start with. onChange and onError are called from one goroutine,
// one call at a time, never after stop returns; they must not call stop.
//
// If the file is removed (or the watch fails), onError is told and Watch
// watches again as soon as the file is back, then reloads it.
//
// stop ends the watch and waits for Watch's own goroutine. It is safe to call
// more than once and from any goroutine.
func Watch(path string, reg Registry, onChange func(*composer.Site), onError func(error)) (stop func(), err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	w := &watcher{
		path:     path,
		abs:      abs,
		reg:      reg,
		onChange: onChange,
		onError:  onError,
		changed:  make(chan struct{}, 1),
		lost:     make(chan lost, 1),
		done:     make(chan struct{}),
	}
	p, err := w.watch()
	if err != nil {
		return nil, fmt.Errorf("config: watching %s: %w", path, err)
	}
	w.wg.Add(1)
	go w.run(p)
	var once sync.Once
	return func() {
		once.Do(func() {
			close(w.done)
			w.wg.Wait()
		})
	}, nil
}

type watcher struct {
	path, abs string
	reg       Registry
	onChange  func(*composer.Site)
	onError   func(error)

	changed chan struct{} // a change event, coalesced
	lost    chan lost     // the provider's watch ended with an error
	done    chan struct{} // closed by stop
	wg      sync.WaitGroup

	gen  int    // generation of the current provider; only run touches it
	last []byte // the bytes last read
}

type lost struct {
	gen int
	err error
}

// watch starts a new provider's watch. Its callback only signals run, never
// blocks, and is harmless once run has returned: the provider's goroutine can
// call it after Unwatch.
func (w *watcher) watch() (*file.File, error) {
	w.gen++
	gen := w.gen
	// The provider watches the parent directory of the path it is given, so
	// it must be given one: "site.yaml" alone has none.
	p := file.Provider(w.abs)
	err := p.Watch(func(_ any, err error) {
		if err != nil {
			select {
			case w.lost <- lost{gen, err}:
			default:
			}
			return
		}
		select {
		case w.changed <- struct{}{}:
		default:
		}
	})
	if err != nil {
		// koanf v1.2.1 may leave a failed provider locked: drop it
		// without calling Unwatch.
		return nil, err
	}
	return p, nil
}

// run owns the provider, the timers and the calls to onChange and onError.
func (w *watcher) run(p *file.File) {
	defer w.wg.Done()
	quiet := time.NewTimer(debounce)
	quiet.Stop()
	defer quiet.Stop()
	var retry <-chan time.Time
	for {
		select {
		case <-w.done:
			if p != nil {
				// Unwatch closes the fsnotify watcher; koanf's goroutine
				// then exits on its own.
				_ = p.Unwatch()
			}
			return
		case <-w.changed:
			quiet.Reset(debounce)
		case <-quiet.C:
			w.reload()
		case l := <-w.lost:
			if l.gen != w.gen || p == nil {
				continue
			}
			// The provider's goroutine has ended after reporting l.err.
			p = nil
			w.onError(fmt.Errorf("config: watching %s: %w", w.path, l.err))
			retry = time.After(rewatch)
		case <-retry:
			var err error
			if p, err = w.watch(); err != nil {
				retry = time.After(rewatch)
				continue
			}
			retry = nil
			// The file may have changed while nobody watched it.
			quiet.Reset(debounce)
		}
	}
}

// reload reads and parses the file, and reports the outcome.
func (w *watcher) reload() {
	data, err := file.Provider(w.abs).ReadBytes()
	if err != nil {
		w.last = nil
		w.onError(fmt.Errorf("config: %w", err))
		return
	}
	if w.last != nil && bytes.Equal(data, w.last) {
		return
	}
	w.last = data
	site, err := Parse(w.path, data, w.reg)
	if err != nil {
		w.onError(err)
		return
	}
	w.onChange(site)
}
