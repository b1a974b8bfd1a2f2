package outbox

import (
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dream-api/dream"
)

func TestCheckpointsStayOffTheAppendPath(t *testing.T) {
	o, err := Open(filepath.Join(t.TempDir(), "outbox.db"), time.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	var auto int
	if err := o.db.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("the outbox appender checkpoints automatically every %d pages (error %v), "+
			"want 0: checkpoints stay off the append path", auto, err)
	}
	for i := 0; i < 50; i++ {
		if _, _, err := o.Append(context.Background(), dream.Increment{EnvironmentID: 1, UserID: "u", At: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// The checkpointing connection copies the log while the appender
	// keeps its own.
	var busy, logFrames, copied int
	if err := o.checkpoints.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &copied); err != nil {
		t.Fatal(err)
	}
	if busy != 0 || logFrames == 0 || copied != logFrames {
		t.Fatalf("a passive checkpoint of the outbox was busy %d, found %d frames in the log and copied %d; "+
			"want it not busy and every frame, of at least one, copied", busy, logFrames, copied)
	}
}

// TestWALStartsOverUnderSteadyAppends: appends that never pause, with a
// shipper reading them back now and then, still let the WAL start over
// from its beginning instead of growing for as long as they last. SQLite
// counts the times it starts over in the WAL file's header.
func TestWALStartsOverUnderSteadyAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o, err := open(path, time.Now, nil, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	startedOver := func() uint32 {
		header := make([]byte, 16)
		f, err := os.Open(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := io.ReadFull(f, header); err != nil {
			t.Fatal(err)
		}
		return binary.BigEndian.Uint32(header[12:])
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	loop := func(fn func() error) {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := fn(); err != nil {
					t.Errorf("a steady append to or read of the outbox failed with %v, want none to fail", err)
					return
				}
			}
		})
	}
	for range 8 {
		loop(func() error {
			_, _, err := o.Append(context.Background(), dream.Increment{EnvironmentID: 1, UserID: "u", At: 1})
			return err
		})
	}
	loop(func() error {
		time.Sleep(5 * time.Millisecond)
		_, err := o.Units(context.Background(), 0, 100)
		return err
	})
	// 20 checkpoint intervals: the WAL starts over after nearly every
	// one (19 of 20 on the bench machine), and without the appender's
	// own pass never did.
	first := startedOver()
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if n := startedOver() - first; n < 5 {
		var size int64
		if info, err := os.Stat(path + "-wal"); err == nil {
			size = info.Size()
		}
		t.Fatalf("in 20 checkpoint intervals of steady appends the outbox WAL started over %d times "+
			"and grew to %d bytes, want at least 5 times", n, size)
	}
}
