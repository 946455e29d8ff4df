package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// simulatorStateFile, in the data directory, holds the built-in simulator's
// state (applications, test users, grants and tokens, ITSA and VAT
// submissions), so that a restarted `serve` still recognises the tokens its
// database holds, as HMRC would. Without it every stored connection would
// come back as "authority removed at HMRC".
const simulatorStateFile = "simulator-state.json"

const (
	// simulatorSaveEvery is how often the state is saved when it changed.
	simulatorSaveEvery = 10 * time.Second
	// simulatorDrainTimeout bounds the wait at shutdown for the simulator's
	// requests in flight (a request may hang for a timeout fault's 30 s).
	simulatorDrainTimeout = 10 * time.Second
)

// simulatorState keeps a simulator's state in a file: loaded at start,
// saved every simulatorSaveEvery when it changed, and saved once more on
// shutdown after the requests in flight were answered, so a refresh the
// service has just stored is not lost.
type simulatorState struct {
	sim  *hmrcsim.Server
	path string
	log  *slog.Logger

	// inFlight is held shared by every simulator request and exclusively by
	// the last save, which so waits for the requests being answered.
	inFlight sync.RWMutex

	mu       sync.Mutex // serialises saves and guards the fields below
	written  []byte     // what the file holds, to skip unchanged saves
	disabled bool       // an unreadable file is kept for inspection, never overwritten

	stop chan struct{}
	done chan struct{}
}

// keepSimulatorState loads sim's state from path and saves it every
// simulatorSaveEvery until ctx ends or close is called. A missing file
// means a first start. A file that cannot be loaded (damaged, or written by
// another version) is renamed to path+".unreadable" and the simulator
// starts empty: the simulator is a local stand-in, and refusing to start
// would leave the user with nothing but deleting a file by hand, while
// starting empty only means connecting to it again.
func keepSimulatorState(ctx context.Context, sim *hmrcsim.Server, path string, log *slog.Logger) *simulatorState {
	p := &simulatorState{sim: sim, path: path, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	p.load()
	go p.run(ctx)
	return p
}

func (p *simulatorState) load() {
	b, err := os.ReadFile(p.path)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err == nil {
		if err = p.sim.LoadState(bytes.NewReader(b)); err == nil {
			p.written = b
			p.log.Info("restored the HMRC simulator's state", "file", p.path)
			return
		}
	}
	aside := p.path + ".unreadable"
	if rerr := os.Rename(p.path, aside); rerr != nil {
		p.disabled = true
		p.log.Error("cannot load the HMRC simulator's state nor move the file aside; the simulator starts empty and its state will not be saved",
			"file", p.path, "err", err, "rename_err", rerr)
		return
	}
	p.log.Warn("cannot load the HMRC simulator's state; it starts empty (connections made before need connecting again)",
		"file", p.path, "moved_to", aside, "err", err)
}

// actor runs the periodic saves as one of serve's actors (lifecycle.go):
// its interrupt is close, so it is added after the simulator's server, whose
// requests the last save waits for.
func (p *simulatorState) actor() (execute func() error, interrupt func(error)) {
	return func() error {
			<-p.done
			return nil
		}, func(error) {
			p.close()
		}
}

// handler counts h's requests in flight for the last save.
func (p *simulatorState) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.inFlight.RLock()
		defer p.inFlight.RUnlock()
		h.ServeHTTP(w, r)
	})
}

func (p *simulatorState) run(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(simulatorSaveEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.stop:
			return
		case <-t.C:
			if _, err := p.save(); err != nil {
				p.log.Error("save the HMRC simulator's state", "file", p.path, "err", err)
			}
		}
	}
}

// close stops the periodic saves, waits (at most simulatorDrainTimeout)
// for the simulator's requests in flight, and saves a last time.
func (p *simulatorState) close() {
	close(p.stop)
	<-p.done
	locked, gaveUp := make(chan struct{}), make(chan struct{})
	go func() {
		p.inFlight.Lock()
		select {
		case locked <- struct{}{}:
		case <-gaveUp:
			p.inFlight.Unlock()
		}
	}()
	select {
	case <-locked:
		defer p.inFlight.Unlock()
	case <-time.After(simulatorDrainTimeout):
		close(gaveUp)
		p.log.Warn("HMRC simulator requests still running at shutdown; saving its state without them")
	}
	if _, err := p.save(); err != nil {
		p.log.Error("save the HMRC simulator's state", "file", p.path, "err", err)
	}
}

// save writes the state if it changed since the last write, and says
// whether it wrote.
func (p *simulatorState) save() (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.disabled {
		return false, nil
	}
	var buf bytes.Buffer
	if err := p.sim.SaveState(&buf); err != nil {
		return false, err
	}
	if bytes.Equal(buf.Bytes(), p.written) {
		return false, nil
	}
	if err := writeFileAtomic(p.path, buf.Bytes()); err != nil {
		return false, err
	}
	p.written = buf.Bytes()
	return true, nil
}

// writeFileAtomic replaces path with data through a temporary file in the
// same directory and a rename, so a crash leaves the old file or the new
// one, never half of one. The file is readable by its owner only (0600):
// it holds test users' passwords and live tokens (client secrets only as
// hashes). They are valid only at this local simulator, never at HMRC, but
// a local attacker could still act as the landlord towards it.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp") // created 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
