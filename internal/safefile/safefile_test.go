package safefile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesTheFileWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	if err := WriteBytes(path, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(path, []byte("second")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "second" {
		t.Fatalf("the file holds %q (error %v), want %q", b, err, "second")
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the file is %v (error %v), want mode 0600", info, err)
	}

	// A write that fails leaves the file as it was, and nothing beside it.
	boom := errors.New("boom")
	err = Write(path, func(w io.Writer) error {
		w.Write([]byte("third, cut short"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("a failed write returned %v, want its error", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "second" {
		t.Fatalf("after a failed write the file holds %q, want %q", b, "second")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("the directory holds %d files after a failed write, want the one", len(entries))
	}
}
