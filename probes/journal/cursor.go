package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// cursorFile is the name of the cursor state under the agent's state dir.
const cursorFile = "journal.cursor"

// cursorState is what journal.cursor holds: the cursor of the last entry
// handed to the sink, per journal directory (host path). Both
// /var/log/journal and /run/log/journal can be read at once, and a cursor
// only positions the handle it came from.
type cursorState struct {
	Cursors map[string]string `json:"cursors"`
}

// loadCursors reads the state file. A missing file is an empty state; a
// corrupt one is an error (the caller starts from the look-back window).
func loadCursors(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return map[string]string{}, fmt.Errorf("read journal cursor: %w", err)
	}
	var st cursorState
	if err := json.Unmarshal(b, &st); err != nil {
		return map[string]string{}, fmt.Errorf("journal cursor file %s is corrupt: %w", path, err)
	}
	if st.Cursors == nil {
		st.Cursors = map[string]string{}
	}
	return st.Cursors, nil
}

// saveCursors replaces the state file atomically: a crash leaves either the
// old or the new cursor, never a torn one.
func saveCursors(path string, cursors map[string]string) error {
	b, err := json.Marshal(cursorState{Cursors: cursors})
	if err != nil {
		return fmt.Errorf("encode journal cursor: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, cursorFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("write journal cursor: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write journal cursor %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync journal cursor %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write journal cursor %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write journal cursor: %w", err)
	}
	return nil
}
