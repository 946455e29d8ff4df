//go:build unix

package sqlite

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mtdconnect/mtdconnect"
)

// TestFilesPrivate: the database holds sealed tokens, password hashes and
// landlords' identifiers; it, its -wal and -shm, and a directory Open
// creates for it are the owner's alone, whatever the umask.
func TestFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "mtdconnect.db")
	s := mustOpen(t, path)
	if err := s.CreateUser(t.Context(), &mtdconnect.User{Email: "ada@example.com"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600}
	for name, mode := range want {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s has mode %v, want %v", filepath.Base(name), fi.Mode(), mode)
		}
	}
}
