// Package safefile replaces a file whole: what a node keeps on its own disk
// outside a database (the dev issuer's key and users, dev mode's keys, the
// end users a node keeps across a restart) is written to a temporary file
// beside it, synced and renamed over it, so that a crash leaves either the
// old file or the new one, never a part.
package safefile

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
)

// Write replaces the file at path, mode 0600 (each of these files holds a
// secret or end users' data), with what write writes, through a buffer.
// On an error the temporary file is removed and path is left as it was.
func Write(path string, write func(io.Writer) error) (err error) {
	// os.CreateTemp creates the file with mode 0600.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriter(f)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	// The rename itself reaches the disk with the directory.
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	return errors.Join(dir.Sync(), dir.Close())
}

// WriteBytes replaces the file at path with data, as Write does.
func WriteBytes(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
