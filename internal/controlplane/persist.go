package controlplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"lbd/internal/octavia"
)

// stateFile is the file under the state directory holding the state.
const stateFile = "state.json"

// stateVersion is the format of state.json; bump it on incompatible changes.
const stateVersion = 1

type stateDoc struct {
	Version int `json:"version"`
	*state
}

// loadState reads the stored state; a missing file is an empty state.
// Provisioning statuses left PENDING_* by a crash are ACTIVE: only committed
// graphs are ever written.
func loadState(dir string) (*state, error) {
	st := newState()
	if dir == "" {
		return st, nil
	}
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	doc := stateDoc{state: st}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decode state %s: %w", filepath.Join(dir, stateFile), err)
	}
	if doc.Version != stateVersion {
		return nil, fmt.Errorf("state %s: format version %d, this lbd reads %d", filepath.Join(dir, stateFile), doc.Version, stateVersion)
	}
	for _, m := range st.Meta {
		if strings.HasPrefix(string(m.Status), "PENDING_") {
			m.Status = octavia.ProvisioningActive
		}
	}
	for _, lb := range st.LoadBalancers {
		if st.Owners[lb.ID] == nil {
			st.Owners[lb.ID] = &owner{API: true}
		}
	}
	return st, nil
}

// saveState replaces the state file atomically and durably: write a
// temporary file, fsync it, rename it over the old one, fsync the
// directory. When it returns nil the new state survives a crash or power
// loss; on error the old file is intact.
func saveState(dir string, st *state) error {
	if dir == "" {
		return nil
	}
	data, err := json.MarshalIndent(stateDoc{Version: stateVersion, state: st}, "", " ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp, err := os.CreateTemp(dir, stateFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("replace state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync state directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync state directory: %w", err)
	}
	return nil
}
